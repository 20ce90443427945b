"""Many registrations through one client: a bounded pool of workers, one outcome per input.

Workers pull orders from the input one at a time, so memory holds at most ``concurrency``
orders in flight and as many finished outcomes waiting to be read, whatever the input's
size; a generator of a million orders never becomes a million of anything. Every request
goes through the client's one transport, so pacing, the shared 429 cooldown, the
concurrency cap and retries apply exactly as to single calls.

The same engine drives V2 registrations (:class:`~b2b_async.NewOrder`, through
``client.orders``) and V3 ones (:class:`~b2b_async.NewV3Order`, through ``client.v3.orders``).
A V3 registration must reach the API within 10 seconds of the BigCommerce order's creation;
one that is still being attempted later than that (its retries, or waits for budget, took it
past the window) is logged at WARNING on the ``b2b_async`` logger, since the API then answers
"The order already exists." without applying the PO number or extra fields sent.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, Final, Generic, Self, TypeVar, cast

import attrs

from ._config import REGISTRATION_WINDOW, check_positive_int
from ._exceptions import B2BError, InvalidOrderError, OrderAlreadyExistsError
from ._v2_models import CreatedOrder, NewOrder
from ._v3_models import NewV3Order, V3Order

__all__ = [
    "BulkReport",
    "OrderOutcome",
    "OrderSource",
    "OutcomeStream",
    "V3OrderSource",
    "run_bulk",
]

Registration = NewOrder | NewV3Order
Registered = CreatedOrder | V3Order
#: The kind of order a run registers (NewOrder or NewV3Order) and what it becomes.
OrderT = TypeVar("OrderT", NewOrder, NewV3Order)
ResultT = TypeVar("ResultT", CreatedOrder, V3Order)
#: Registers one order: ``Orders.register`` (V2) or ``V3Orders.register`` (V3).
Register = Callable[[OrderT], Awaitable[ResultT]]
OrderSource = Iterable[NewOrder] | AsyncIterable[NewOrder]
V3OrderSource = Iterable[NewV3Order] | AsyncIterable[NewV3Order]
_DONE: Final = object()
_CLOSED: Final = object()

logger: Final = logging.getLogger("b2b_async")
#: The clock that times V3 registrations (monotonic seconds); tests replace it.
clock: Callable[[], float] = time.monotonic


@attrs.frozen
class OrderOutcome(Generic[OrderT, ResultT]):
    """What became of one input of a bulk registration.

    Generic in the kind of run: ``OrderOutcome[NewOrder, CreatedOrder]`` from
    ``client.orders``, ``OrderOutcome[NewV3Order, V3Order]`` from ``client.v3.orders``.

    Attributes:
        index: the input's position, from 0.
        order: the order as given (or whatever was given in its place): a
            :class:`~b2b_async.NewOrder`, or a :class:`~b2b_async.NewV3Order` in a V3 run.
        result: the confirmed registration, when it succeeded: a
            :class:`~b2b_async.CreatedOrder`, or a :class:`~b2b_async.V3Order` in a V3 run.
        error: why it failed, when it did.

    .. versionadded:: 0.1.0
    """

    index: int
    order: OrderT
    result: ResultT | None = None
    error: B2BError | None = None

    @property
    def ok(self) -> bool:
        """Whether the order is registered (newly, or already before)."""
        return self.result is not None

    @property
    def already_registered(self) -> bool:
        """Whether the order turned out to be registered before this attempt."""
        return self.result is not None and self.result.already_registered


@attrs.frozen
class BulkReport(Generic[OrderT, ResultT]):
    """Every outcome of a :meth:`~b2b_async.Orders.create_many` run, in input order.

    Attributes:
        outcomes: one :class:`OrderOutcome` per input, in input order.

    .. versionadded:: 0.1.0
    """

    outcomes: tuple[OrderOutcome[OrderT, ResultT], ...]

    @property
    def succeeded(self) -> list[OrderOutcome[OrderT, ResultT]]:
        """The outcomes whose order is registered, in input order."""
        return [outcome for outcome in self.outcomes if outcome.ok]

    @property
    def failed(self) -> list[OrderOutcome[OrderT, ResultT]]:
        """The outcomes whose order is not registered, in input order."""
        return [outcome for outcome in self.outcomes if not outcome.ok]

    @property
    def ok(self) -> bool:
        """Whether every order is registered."""
        return all(outcome.ok for outcome in self.outcomes)

    def __len__(self) -> int:
        return len(self.outcomes)


def found_registered(order: Registration) -> Registered:
    """The result of a registration answered "already exists": registered, before this run."""
    if isinstance(order, NewV3Order):
        return V3Order.sent(order, already_registered=True)
    return CreatedOrder(order.order_id, already_registered=True)


def warn_if_late(order: Registration, started: float) -> None:
    """Log a V3 registration that ended past the API's 10-second window (see the module)."""
    if not isinstance(order, NewV3Order):
        return
    elapsed = clock() - started
    if elapsed > REGISTRATION_WINDOW:
        logger.warning(
            "V3 registration of order %s took %.1f s, past the API's %.0f-second window: an "
            "attempt after its first may have arrived too late, and then the PO number and "
            "extra fields sent were not applied (check with client.v3.orders.get)",
            order.bc_order_id,
            elapsed,
            REGISTRATION_WINDOW,
        )


async def register_one(
    register: Register[OrderT, ResultT], index: int, order: object, order_type: type[OrderT]
) -> OrderOutcome[OrderT, ResultT]:
    """Register one input and capture its outcome; only cancellation escapes."""
    if not isinstance(order, order_type):
        kind, wanted = type(order).__name__, order_type.__name__
        error = InvalidOrderError(f"input {index} is a {kind}, not a {wanted}")
        return OrderOutcome(index, order, error=error)  # type: ignore[arg-type]
    started = clock()
    try:
        result = await register(order)
    except OrderAlreadyExistsError:
        # A bulk run's job is "make sure these are registered": already done is done.
        result = cast(ResultT, found_registered(order))
    except B2BError as exc:
        warn_if_late(order, started)
        return OrderOutcome(index, order, error=exc)
    warn_if_late(order, started)
    return OrderOutcome(index, order, result=result)


class _Source:
    """Hands out (index, order) pairs to workers, one at a time, from any kind of input."""

    __slots__ = ("_async", "_counter", "_lock", "_sync")

    def __init__(self, orders: Iterable[Any] | AsyncIterable[Any]) -> None:
        self._counter = itertools.count()
        self._lock = asyncio.Lock()
        self._sync: Iterator[Any] | None = None
        self._async: AsyncIterator[Any] | None = None
        if isinstance(orders, AsyncIterable):
            self._async = aiter(orders)
        else:
            self._sync = iter(orders)

    async def next(self) -> tuple[int, Any] | None:
        if self._sync is not None:
            order = next(self._sync, _DONE)
            return None if order is _DONE else (next(self._counter), order)
        assert self._async is not None
        async with self._lock:  # an async generator may not be advanced concurrently
            try:
                pulled = await anext(self._async)
            except StopAsyncIteration:
                return None
            return next(self._counter), pulled


class OutcomeStream(Generic[OrderT, ResultT]):
    """An async iterator of outcomes, in the order they complete.

    Workers start on the first iteration. Leaving the loop early, an exception or a
    cancellation stops them (the event loop finalizes the loop's iterator soon after); use
    ``async with`` (or call :meth:`aclose`) to have them stopped at once::

        async with client.orders.create_stream(orders) as stream:
            async for outcome in stream:
                ...

    .. versionadded:: 0.1.0
    """

    __slots__ = (
        "_closed",
        "_concurrency",
        "_order_type",
        "_outcomes",
        "_register",
        "_running",
        "_source",
        "_workers",
    )

    def __init__(
        self,
        register: Register[OrderT, ResultT],
        orders: Iterable[OrderT] | AsyncIterable[OrderT],
        concurrency: int,
        *,
        order_type: type[OrderT],
    ) -> None:
        check_positive_int(concurrency, "concurrency")
        self._register: Register[OrderT, ResultT] = register
        self._order_type: type[OrderT] = order_type
        self._source = _Source(orders)
        self._concurrency = concurrency
        self._outcomes: asyncio.Queue[object] = asyncio.Queue(maxsize=concurrency)
        self._workers: list[asyncio.Task[None]] = []
        self._running = 0
        self._closed = False

    def __aiter__(self) -> AsyncIterator[OrderOutcome[OrderT, ResultT]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[OrderOutcome[OrderT, ResultT]]:
        # An async generator: when a loop over it is left early, even without `async with`,
        # the event loop finalizes it and the workers are stopped.
        try:
            while True:
                try:
                    outcome = await self.__anext__()
                except StopAsyncIteration:
                    return
                yield outcome
        finally:
            await self.aclose()

    async def __anext__(self) -> OrderOutcome[OrderT, ResultT]:
        if self._closed:
            raise StopAsyncIteration
        if not self._workers:
            self._start()
        while self._running or not self._outcomes.empty():
            item = await self._outcomes.get()
            if isinstance(item, OrderOutcome):
                return item
            if item is _CLOSED:
                raise StopAsyncIteration
            if isinstance(item, BaseException):
                await self.aclose()
                raise item
            self._running -= 1
        await self.aclose()
        raise StopAsyncIteration

    def _start(self) -> None:
        self._running = self._concurrency
        self._workers = [
            asyncio.create_task(self._work(), name=f"b2b-async bulk worker {number}")
            for number in range(self._concurrency)
        ]

    async def _work(self) -> None:
        try:
            while (item := await self._source.next()) is not None:
                outcome = await register_one(self._register, *item, self._order_type)
                await self._outcomes.put(outcome)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            await self._outcomes.put(exc)
            return
        await self._outcomes.put(_DONE)

    async def aclose(self) -> None:
        """Stop the workers and wait until they are gone; idempotent."""
        self._closed = True
        workers, self._workers = self._workers, []
        self._running = 0
        for worker in workers:
            worker.cancel()
        if workers:
            await asyncio.gather(*workers, return_exceptions=True)
        # A reader waiting in another task would wait forever for the stopped workers: wake it.
        while not self._outcomes.empty():
            self._outcomes.get_nowait()
        self._outcomes.put_nowait(_CLOSED)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


async def run_bulk(
    register: Register[OrderT, ResultT],
    orders: Iterable[OrderT] | AsyncIterable[OrderT],
    concurrency: int,
    on_progress: Callable[[OrderOutcome[OrderT, ResultT]], object] | None = None,
    *,
    order_type: type[OrderT],
) -> BulkReport[OrderT, ResultT]:
    """Register every order and return the report, in input order.

    Args:
        register: registers one order (the client's).
        orders: the orders, from any iterable or async iterable.
        concurrency: the number of workers.
        on_progress: called with each outcome as it completes.
        order_type: the kind of input ``register`` takes; any other input is an
            :class:`~b2b_async.InvalidOrderError` outcome.
    """
    outcomes: list[OrderOutcome[OrderT, ResultT]] = []
    async with OutcomeStream(register, orders, concurrency, order_type=order_type) as stream:
        async for outcome in stream:
            outcomes.append(outcome)
            if on_progress is not None:
                on_progress(outcome)
    outcomes.sort(key=lambda outcome: outcome.index)
    return BulkReport(tuple(outcomes))
