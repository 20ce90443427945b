"""Many registrations through one client: a bounded pool of workers, one outcome per input.

Workers pull orders from the input one at a time, so memory holds at most ``concurrency``
orders in flight and as many finished outcomes waiting to be read, whatever the input's
size; a generator of a million orders never becomes a million of anything. Every request
goes through the client's one transport, so pacing, the shared 429 cooldown, the
concurrency cap and retries apply exactly as to single calls.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from types import TracebackType
from typing import Final, Self

import attrs

from ._exceptions import B2BError, InvalidOrderError, OrderAlreadyExistsError
from ._models import CreatedOrder, NewOrder

__all__ = ["BulkReport", "OrderOutcome", "OrderSource", "OutcomeStream", "run_bulk"]

Register = Callable[[NewOrder], Awaitable[CreatedOrder]]
OrderSource = Iterable[NewOrder] | AsyncIterable[NewOrder]
_DONE: Final = object()


@attrs.frozen
class OrderOutcome:
    """What became of one input of a bulk registration.

    Attributes:
        index: the input's position, from 0.
        order: the order as given (or whatever was given in its place).
        result: the confirmed registration, when it succeeded.
        error: why it failed, when it did.

    .. versionadded:: 0.1.0
    """

    index: int
    order: NewOrder
    result: CreatedOrder | None = None
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
class BulkReport:
    """Every outcome of a :meth:`~b2b_async.Orders.create_many` run, in input order.

    Attributes:
        outcomes: one :class:`OrderOutcome` per input, in input order.

    .. versionadded:: 0.1.0
    """

    outcomes: tuple[OrderOutcome, ...]

    @property
    def succeeded(self) -> list[OrderOutcome]:
        """The outcomes whose order is registered, in input order."""
        return [outcome for outcome in self.outcomes if outcome.ok]

    @property
    def failed(self) -> list[OrderOutcome]:
        """The outcomes whose order is not registered, in input order."""
        return [outcome for outcome in self.outcomes if not outcome.ok]

    @property
    def ok(self) -> bool:
        """Whether every order is registered."""
        return all(outcome.ok for outcome in self.outcomes)

    def __len__(self) -> int:
        return len(self.outcomes)


async def register_one(register: Register, index: int, order: object) -> OrderOutcome:
    """Register one input and capture its outcome; only cancellation escapes."""
    if not isinstance(order, NewOrder):
        error = InvalidOrderError(f"input {index} is a {type(order).__name__}, not a NewOrder")
        return OrderOutcome(index, order, error=error)  # type: ignore[arg-type]
    try:
        result = await register(order)
    except OrderAlreadyExistsError:
        # A bulk run's job is "make sure these are registered": already done is done.
        result = CreatedOrder(order.order_id, already_registered=True)
    except B2BError as exc:
        return OrderOutcome(index, order, error=exc)
    return OrderOutcome(index, order, result=result)


class _Source:
    """Hands out (index, order) pairs to workers, one at a time, from any kind of input."""

    __slots__ = ("_async", "_counter", "_lock", "_sync")

    def __init__(self, orders: OrderSource) -> None:
        self._counter = itertools.count()
        self._lock = asyncio.Lock()
        self._sync: Iterator[NewOrder] | None = None
        self._async: AsyncIterator[NewOrder] | None = None
        if isinstance(orders, AsyncIterable):
            self._async = aiter(orders)
        else:
            self._sync = iter(orders)

    async def next(self) -> tuple[int, NewOrder] | None:
        if self._sync is not None:
            order = next(self._sync, _DONE)
            return None if order is _DONE else (next(self._counter), order)  # type: ignore[return-value]
        assert self._async is not None
        async with self._lock:  # an async generator may not be advanced concurrently
            try:
                pulled = await anext(self._async)
            except StopAsyncIteration:
                return None
            return next(self._counter), pulled


class OutcomeStream:
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
        "_outcomes",
        "_register",
        "_running",
        "_source",
        "_workers",
    )

    def __init__(self, register: Register, orders: OrderSource, concurrency: int) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError(f"concurrency must be a positive int, got {concurrency!r}")
        self._register = register
        self._source = _Source(orders)
        self._concurrency = concurrency
        self._outcomes: asyncio.Queue[object] = asyncio.Queue(maxsize=concurrency)
        self._workers: list[asyncio.Task[None]] = []
        self._running = 0
        self._closed = False

    def __aiter__(self) -> AsyncIterator[OrderOutcome]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[OrderOutcome]:
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

    async def __anext__(self) -> OrderOutcome:
        if self._closed:
            raise StopAsyncIteration
        if not self._workers:
            self._start()
        while self._running or not self._outcomes.empty():
            item = await self._outcomes.get()
            if isinstance(item, OrderOutcome):
                return item
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
                await self._outcomes.put(await register_one(self._register, *item))
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
    register: Register,
    orders: OrderSource,
    concurrency: int,
    on_progress: Callable[[OrderOutcome], object] | None = None,
) -> BulkReport:
    """Register every order and return the report, in input order.

    Args:
        register: registers one order (the client's).
        orders: the orders, from any iterable or async iterable.
        concurrency: the number of workers.
        on_progress: called with each outcome as it completes.
    """
    outcomes: list[OrderOutcome] = []
    async with OutcomeStream(register, orders, concurrency) as stream:
        async for outcome in stream:
            outcomes.append(outcome)
            if on_progress is not None:
                on_progress(outcome)
    outcomes.sort(key=lambda outcome: outcome.index)
    return BulkReport(tuple(outcomes))
