"""Many registrations through one client: a bounded pool of workers, one outcome per input.

Workers pull orders from the input one at a time, so memory holds at most ``concurrency``
orders in flight and as many finished outcomes waiting to be read, whatever the input's
size; a generator of a million orders never becomes a million of anything. Every request
goes through the client's one transport, so pacing, the shared 429 cooldown, the
concurrency cap and retries apply exactly as to single calls.

The engine does not know the API version: it is handed a ``register`` callable and the kind
of order that callable takes. ``client.orders`` runs it with :class:`~b2b_async.NewOrder`,
``client.v3.orders`` with :class:`~b2b_async.NewV3Order`. What "already exists" means in a
bulk run, and the V3 10-second window, are the resources' business: their ``register``
returns a result for an order registered before, and raises a
:class:`~b2b_async.B2BError` for an order that is not registered, which becomes the
outcome's error.

One order's problem never sinks a batch: whatever ``register`` raises for one order, other
than cancellation (and ``KeyboardInterrupt``/``SystemExit``, which stop the process), is
that order's outcome. An exception outside the error tree (a ``TypeError`` from a bug, an
``OSError``) becomes a plain :class:`~b2b_async.B2BError` whose ``__cause__`` is the
original: the engine cannot tell whether the request left, so it does not call the order
invalid, and a journal records it as failed, to be tried again.

Some answers are not about one order and will repeat for every order: the run then stops
sending (:class:`SystemicFailure` holds the rule). The orders it did not send still get an
outcome each, marked as not attempted (``attempted=False``, no result, no error), so a
report keeps one outcome per input and a rerun knows exactly what to send.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Sized,
)
from typing import Any, Final, Generic, Protocol, Self, TypeAlias, TypeVar

import attrs

from ._config import (
    MAX_CONCURRENCY,
    NOT_ITEMS,
    UNREACHABLE_STREAK,
    check_callable,
    check_positive_int,
)
from ._exceptions import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    B2BError,
    DeadlineUnreachableError,
    InvalidOrderError,
    NotSentTimeoutError,
    OrderWithdrawnError,
    PermissionDeniedError,
    RegistrationWindowClosedError,
)
from ._hooks import report_outcome
from ._waking import cancel_requests
from ._withdrawal import BulkTickets

__all__ = [
    "BulkReport",
    "OrderOutcome",
    "OutcomeStream",
    "Register",
    "Registered",
    "Source",
    "SystemicFailure",
    "as_outcome_error",
    "could_not_connect",
    "is_systemic",
    "refuses_the_credentials",
    "register_one",
    "run_bulk",
    "server_failure",
]


class Registered(Protocol):
    """What a registration returns: it says whether the order was registered before."""

    @property
    def already_registered(self) -> bool:
        """Whether the order turned out to be registered before this attempt."""
        ...


T = TypeVar("T")
#: The kind of order a run registers (NewOrder, NewV3Order) and what it becomes.
OrderT = TypeVar("OrderT")
ResultT = TypeVar("ResultT", bound=Registered)
# The same, for the outcome and the report, which only hand them out: an outcome of a V2 run
# is one of ``OrderOutcome[NewOrder | NewV3Order, ...]`` too, so that one typed callback or
# summary serves runs of either version.
OrderT_co = TypeVar("OrderT_co", covariant=True)
ResultT_co = TypeVar("ResultT_co", bound=Registered, covariant=True)
#: Registers one order of a run: a resource's bulk registration (``create``'s steps, with
#: "already exists" read as registered) or its ``ensure``.
Register: TypeAlias = Callable[[OrderT], Awaitable[ResultT]]
#: The input of a run: any iterable or async iterable of orders.
Source: TypeAlias = Iterable[T] | AsyncIterable[T]
_DONE: Final = object()
_CLOSED: Final = object()


@attrs.frozen
class OrderOutcome(Generic[OrderT_co, ResultT_co]):
    """What became of one input of a bulk registration.

    Generic in the kind of run: ``OrderOutcome[NewOrder, CreatedOrder]`` from
    ``client.orders``, ``OrderOutcome[NewV3Order, V3Order]`` from ``client.v3.orders``.
    Covariant in both, as :class:`BulkReport` is: a callback taking
    ``OrderOutcome[NewOrder | NewV3Order, CreatedOrder | V3Order]`` serves runs of both.

    Attributes:
        index: the input's position, from 0.
        order: the order as given (or whatever was given in its place): a
            :class:`~b2b_async.NewOrder`, or a :class:`~b2b_async.NewV3Order` in a V3 run.
        result: the confirmed registration, when it succeeded: a
            :class:`~b2b_async.CreatedOrder`, or a :class:`~b2b_async.V3Order` in a V3 run.
        error: why it failed, when it did.
        attempted: ``False`` when the order was never sent because the run had stopped
            sending (see :attr:`BulkReport.stopped_by` and :meth:`OutcomeStream.stop`):
            before it started, or while it waited (for budget, say); ``result`` and ``error`` are
            then both ``None``.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       ``attempted``.
    """

    index: int
    order: OrderT_co
    result: ResultT_co | None = None
    error: B2BError | None = None
    attempted: bool = True

    @property
    def ok(self) -> bool:
        """Whether the order is registered (newly, or already before)."""
        return self.result is not None

    @property
    def already_registered(self) -> bool:
        """Whether the order turned out to be registered before this attempt."""
        return self.result is not None and self.result.already_registered


@attrs.frozen
class BulkReport(Generic[OrderT_co, ResultT_co]):
    """Every outcome of a :meth:`~b2b_async.Orders.create_many` run, in input order.

    Every input has exactly one outcome, in one of :attr:`succeeded`, :attr:`failed` and
    :attr:`not_attempted`.

    Attributes:
        outcomes: one :class:`OrderOutcome` per input, in input order.
        stopped_by: the error that made the run stop sending, when one did (a 401, a 403,
            or the last of :data:`UNREACHABLE_STREAK` calls in a row that could not
            connect); ``None`` when nothing did. A run stopped by its last order's 401 has
            every order attempted and still says what stopped it.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       ``stopped_by`` and :attr:`not_attempted`; :attr:`failed` holds attempted orders only.
    """

    outcomes: tuple[OrderOutcome[OrderT_co, ResultT_co], ...]
    stopped_by: B2BError | None = None

    @property
    def succeeded(self) -> list[OrderOutcome[OrderT_co, ResultT_co]]:
        """The outcomes whose order is registered, in input order."""
        return [outcome for outcome in self.outcomes if outcome.ok]

    @property
    def failed(self) -> list[OrderOutcome[OrderT_co, ResultT_co]]:
        """The outcomes of orders attempted and not registered, in input order."""
        return [outcome for outcome in self.outcomes if outcome.attempted and not outcome.ok]

    @property
    def not_attempted(self) -> list[OrderOutcome[OrderT_co, ResultT_co]]:
        """The outcomes of orders never sent because the run stopped first, in input order.

        .. versionadded:: 0.2.0
        """
        return [outcome for outcome in self.outcomes if not outcome.attempted]

    @property
    def ok(self) -> bool:
        """Whether every order is registered."""
        return all(outcome.ok for outcome in self.outcomes)

    def __len__(self) -> int:
        return len(self.outcomes)


async def register_one(
    register: Register[OrderT, ResultT], index: int, order: object, order_type: type[OrderT]
) -> OrderOutcome[OrderT, ResultT]:
    """Register one input and capture its outcome; only a cancellation of the run escapes.

    Args:
        register: registers one order; what it raises becomes the outcome's error, through
            :func:`as_outcome_error`, unless the task running it is being cancelled.
        index: the input's position, from 0.
        order: the input, checked to be an ``order_type`` before anything is sent.
        order_type: the kind of order ``register`` takes.

    Returns:
        The outcome: a result, or the error (an :class:`~b2b_async.InvalidOrderError` for an
        input of another kind; see :func:`as_outcome_error` for any other exception).
    """
    if not isinstance(order, order_type):
        kind, wanted = type(order).__name__, order_type.__name__
        error = InvalidOrderError(f"input {index} is a {kind}, not a {wanted}")
        return OrderOutcome(index, order, error=error)  # type: ignore[arg-type]
    try:
        result = await register(order)
    except (Exception, asyncio.CancelledError) as exc:  # one order's problem is its outcome
        if cancel_requests():
            # The run itself is cancelled, not merely something the call awaited: whatever
            # the call made of it (a limiter's release failing as the request is cut off,
            # say), the worker ends as cancelled instead of going on to the next order.
            if isinstance(exc, asyncio.CancelledError):
                raise
            raise asyncio.CancelledError from exc
        return OrderOutcome(index, order, error=as_outcome_error(exc))
    return OrderOutcome(index, order, result=result)


def as_outcome_error(exc: BaseException) -> B2BError:
    """The error an outcome records for what ``register`` raised.

    Args:
        exc: the exception.

    Returns:
        ``exc`` itself when it is a :class:`~b2b_async.B2BError`; otherwise a new
        ``B2BError`` naming it, with ``exc`` as its ``__cause__`` (traceback included).
    """
    if isinstance(exc, B2BError):
        return exc
    words = f": {exc}" if str(exc) else ""
    error = B2BError(f"unexpected {type(exc).__name__} while registering{words}")
    error.__cause__ = exc
    return error


def refuses_the_credentials(error: B2BError | None) -> bool:
    """Whether ``error`` is the API refusing the token itself: a 401 or a 403.

    The answer does not depend on the order, so every other order would get it too.
    """
    return isinstance(error, AuthenticationError | PermissionDeniedError)


def could_not_connect(error: B2BError | None) -> bool:
    """Whether ``error`` says no connection could be opened at all.

    That is a connection refused, a host name that does not resolve, a TLS handshake
    refused, a proxy that refuses the tunnel, or a connect timeout: the transport's errors
    whose request certainly never left (``may_have_reached_server`` is ``False``). A reset
    or a read timeout on an open connection is not one of them, nor any error of
    :func:`sent_nothing` (a deadline that passed while the call waited its turn): it tried
    no connection.
    """
    return (
        isinstance(error, APIConnectionError | APITimeoutError)
        and not error.may_have_reached_server
        and not sent_nothing(error)
    )


#: The errors of a call that could not be sent in time, after attempts or before any.
_LATE: Final = (RegistrationWindowClosedError, DeadlineUnreachableError, NotSentTimeoutError)


def sent_nothing(error: B2BError | None) -> bool:
    """Whether ``error`` refused an order before any request: bad input, a deadline or window
    that could not be met."""
    return isinstance(error, (InvalidOrderError, *_LATE))


def is_systemic(error: B2BError | None) -> bool:
    """Whether ``error`` is of a kind that stops a bulk run (at once, or in a streak)."""
    failure = server_failure(error)
    return refuses_the_credentials(failure) or could_not_connect(failure)


def server_failure(error: B2BError | None) -> B2BError | None:
    """What an order's ``error`` says of the server: ``error`` itself, or, for a call whose
    attempts failed until it could no longer be sent in time, the failure they ended on.

    Such an error has that failure as its ``__cause__``: a V3 create's
    :class:`~b2b_async.RegistrationWindowClosedError`, and a retry refused for want of time
    (:class:`~b2b_async.DeadlineUnreachableError`, a deadline that passed before it could
    leave), whose cause may in turn be the error of the last attempt sent. A connection that
    could not be opened counts as one, a 503 as an answer; a window or deadline that passed
    before any request has no cause, and sent nothing.
    """
    while isinstance(error, _LATE) and isinstance(error.__cause__, B2BError):
        error = error.__cause__  # at most a window lost to a refused retry: two links
    return error


class SystemicFailure:
    """Watches a run's outcomes for an answer that will repeat for every order.

    The rule, applied to outcomes in the order they complete:

    - a 401 (:class:`~b2b_async.AuthenticationError`) or a 403
      (:class:`~b2b_async.PermissionDeniedError`) stops the run at once;
    - :data:`UNREACHABLE_STREAK` outcomes in a row whose call could not connect
      (:func:`could_not_connect`) stop it; any other outcome starts the count again. Orders
      that share one call's failure (a fetch they all waited for) count as that one call.

    Once stopped, no new order is sent, and ``on_stop`` is told: the stream withdraws the
    orders still waiting, for their turn in the budget say (see :mod:`b2b_async._withdrawal`).
    The orders whose request has left finish as usual. :meth:`halt` stops the run the same
    way, for the caller's own reason.

    While such a streak is open, a new order waits until the streak ends either way, or
    until no other order is out: a server that is down is then probed by the orders already
    out, or by one order at a time, instead of by a new order for each failure. So a run
    against a server that cannot be reached sends at most ``max(concurrency,
    UNREACHABLE_STREAK)`` orders, each spending the attempts of its retry policy.

    Args:
        on_stop: called as the run stops; again if a failure comes after :meth:`halt`.

    Attributes:
        reason: the error that stopped the run, or ``None`` while it goes on (or when
            :meth:`halt` stopped it, and no failure came after).
    """

    __slots__ = ("_changed", "_counted", "_halted", "_on_stop", "_sending", "_streak", "reason")

    def __init__(self, on_stop: Callable[[], object] = lambda: None) -> None:
        self.reason: B2BError | None = None
        self._on_stop = on_stop
        self._halted = False
        self._streak = 0
        # The failures of the last counts: the orders that share one finish about together.
        self._counted: collections.deque[B2BError] = collections.deque(maxlen=UNREACHABLE_STREAK)
        self._sending = 0
        self._changed = asyncio.Event()  # set, and replaced, at each change

    @property
    def stopped(self) -> bool:
        """Whether the run has stopped sending, for a failure or by :meth:`halt`."""
        return self._halted or self.reason is not None

    def halt(self) -> None:
        """Stop the run without a failure to blame; idempotent."""
        if not self.stopped:
            self._halted = True
            self._stop()

    def _stop(self) -> None:
        """Tell the run it stopped, and have the orders waiting for their turn look again."""
        self._on_stop()
        self._wake_all()

    async def take_turn(self) -> bool:
        """Wait until a new order may be sent, and count it as out.

        Returns:
            ``True`` to send it; ``False`` once the run has stopped sending.
        """
        while not self._may_send():
            await self._changed.wait()
        if self.stopped:
            return False
        self._sending += 1
        return True

    def _may_send(self) -> bool:
        return self.stopped or not self._streak or not self._sending

    def finished(self, outcome: OrderOutcome[Any, Any]) -> None:
        """Take the outcome of an order that was out into account, and wake who waits.

        An order withdrawn before it was sent (``attempted=False``) says nothing of the
        server: the count of calls that could not connect stays as it is. Nor does an order
        that met a failure already counted: orders that waited for one call (a fetch of the
        V3 extra field configurations) share its failure, and it is one call, whatever
        other orders finished between them.
        """
        self._sending -= 1
        if outcome.attempted and not self._counted_already(outcome):
            self.observe(outcome)
        self._wake_all()

    def _counted_already(self, outcome: OrderOutcome[Any, Any]) -> bool:
        """Whether the outcome's failure is one the count has taken in already."""
        error = server_failure(outcome.error)
        return any(error is counted for counted in self._counted)

    def _wake_all(self) -> None:
        """Have every order waiting for its turn look again."""
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def observe(self, outcome: OrderOutcome[Any, Any]) -> None:
        """Apply the rule to one finished outcome (what its error says of the server:
        :func:`server_failure`); the first reason to stop is kept."""
        error = server_failure(outcome.error)
        if error is not None and could_not_connect(error):
            self._streak += 1
            self._counted.append(error)
        elif not sent_nothing(error):  # an order refused before sending says nothing of the server
            self._streak = 0
        if self.reason is not None:
            return
        if refuses_the_credentials(error) or self._streak >= UNREACHABLE_STREAK:
            self.reason = error
            self._stop()


def _check_source(orders: object, order_type: type) -> None:
    """Refuse a source that is no collection of orders: one order, text, a mapping, ``None``.

    Raises:
        TypeError: ``orders`` is not an iterable or async iterable of many inputs (a
            ``str``, bytes of any kind or a mapping would be read item by item as orders).
    """
    wanted = f"orders must be an iterable or async iterable of {order_type.__name__}"
    if isinstance(orders, order_type):
        raise TypeError(f"{wanted}, got one {order_type.__name__}: pass [order]")
    if isinstance(orders, NOT_ITEMS) or not isinstance(orders, Iterable | AsyncIterable):
        raise TypeError(f"{wanted}, got {type(orders).__name__}")


class _Feed:
    """Hands out (index, order) pairs to workers, one at a time, from any kind of input.

    Once iterating the input raises, the feed has ended: no worker reads the input again.
    An iterator that goes on after an error (``map``, a paginated reader) would otherwise
    hand the other workers new orders to send while the error makes its way to the reader,
    orders whose outcomes the run, ending with the error, never gives.
    """

    __slots__ = ("_async", "_counter", "_ended", "_lock", "_sync", "size")

    def __init__(self, orders: Source[Any]) -> None:
        self._counter = itertools.count()
        self._lock = asyncio.Lock()
        self._ended = False
        self._sync: Iterator[Any] | None = None
        self._async: AsyncIterator[Any] | None = None
        #: How many inputs there are, when the input knows (a list, a tuple), else ``None``.
        self.size = len(orders) if isinstance(orders, Sized) else None
        if isinstance(orders, AsyncIterable):
            self._async = aiter(orders)
        else:
            self._sync = iter(orders)

    async def next(self) -> tuple[int, Any] | None:
        """The next input and its index; ``None`` at the end, or once the input raised."""
        if self._sync is not None:
            return self._numbered(self._pull_sync(self._sync))
        assert self._async is not None
        async with self._lock:  # an async generator may not be advanced concurrently
            return self._numbered(await self._pull_async(self._async))

    def _numbered(self, order: object) -> tuple[int, Any] | None:
        return None if order is _DONE else (next(self._counter), order)

    def _pull_sync(self, orders: Iterator[Any]) -> object:
        if self._ended:
            return _DONE
        with self._ending_on_error():
            return next(orders, _DONE)

    async def _pull_async(self, orders: AsyncIterator[Any]) -> object:
        if self._ended:
            return _DONE
        with self._ending_on_error():
            try:
                return await anext(orders)
            except StopAsyncIteration:
                return _DONE

    @contextlib.contextmanager
    def _ending_on_error(self) -> Iterator[None]:
        """End the feed for good when what the block pulls from the input raises."""
        try:
            yield
        except BaseException:
            self._ended = True
            raise


class OutcomeStream(Generic[OrderT, ResultT]):
    """An async iterator of outcomes, in the order they complete.

    Workers start on the first iteration. Leaving the loop early, an exception or a
    cancellation stops them (the event loop finalizes the loop's iterator soon after); use
    ``async with`` (or call :meth:`aclose`) to have them stopped at once::

        async with client.orders.create_stream(orders) as stream:
            async for outcome in stream:
                ...

    Some failures will repeat for every order (a 401, a 403, a server that cannot be
    reached; see :class:`SystemicFailure`): the stream then stops sending, the orders whose
    request has left finish, and every input not sent yet still comes out, as an outcome
    with ``attempted=False``: those never started, and those withdrawn while they waited
    (for their turn in the budget, say). :attr:`stopped_by` says why. :meth:`stop` stops
    it the same way, for the caller's own reason.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       Stops sending on a failure that will repeat for every order, withdrawing the orders
       not sent yet; :meth:`stop`.
    """

    __slots__ = (
        "_closed",
        "_concurrency",
        "_lost_after",
        "_lost_worker",
        "_order_type",
        "_outcomes",
        "_register",
        "_running",
        "_source",
        "_systemic",
        "_tickets",
        "_unread",
        "_workers",
    )

    def __init__(
        self,
        register: Register[OrderT, ResultT],
        orders: Source[OrderT],
        concurrency: int,
        *,
        order_type: type[OrderT],
    ) -> None:
        check_positive_int(concurrency, "concurrency")
        _check_source(orders, order_type)
        self._register: Register[OrderT, ResultT] = register
        self._order_type: type[OrderT] = order_type
        self._source = _Feed(orders)
        self._concurrency = concurrency
        self._outcomes: asyncio.Queue[object] = asyncio.Queue(maxsize=concurrency)
        self._workers: list[asyncio.Task[None]] = []
        self._running = 0
        self._closed = False
        # Why a worker cancelled from outside the stream ended the run, for the reader.
        self._lost_worker: B2BError | None = None
        # The outcomes queued before it, which the reader still gets first.
        self._lost_after = 0
        self._tickets = BulkTickets()
        # Outcomes of finished orders that closing took from the queue before the reader did.
        self._unread: list[OrderOutcome[OrderT, ResultT]] = []
        self._systemic = SystemicFailure(on_stop=self._tickets.withdraw_unsent)

    @property
    def stopped_by(self) -> B2BError | None:
        """The error that made the stream stop sending, or ``None`` while it sends.

        .. versionadded:: 0.2.0
        """
        return self._systemic.reason

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
            if self._lost_worker is not None and not self._lost_after:
                item: object = self._lost_worker
            else:
                item = await self._outcomes.get()
                self._lost_after = max(0, self._lost_after - 1)
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
        # An input of known length needs no more workers than it has orders, and no run
        # more than MAX_CONCURRENCY: each is a task held to the run's end, and far fewer
        # keep any store's budget busy.
        size = self._source.size
        most = MAX_CONCURRENCY if size is None else max(min(size, MAX_CONCURRENCY), 1)
        self._running = min(self._concurrency, most)
        self._workers = [
            asyncio.create_task(self._work(), name=f"b2b-async bulk worker {number}")
            for number in range(self._running)
        ]
        for worker in self._workers:
            worker.add_done_callback(self._worker_ended)

    def _worker_ended(self, worker: asyncio.Task[None]) -> None:
        """End the run when a worker was cancelled from outside it before it began: it never
        ran the handler of :meth:`_work` that tells the reader otherwise."""
        if worker.cancelled() and not self._closed:
            self._lose_worker(_worker_cancelled(asyncio.CancelledError(), asked=True))

    async def _work(self) -> None:
        try:
            # What ends the worker is handed over inside the try: a worker cancelled while it
            # waits for the reader to take it would otherwise leave the reader waiting.
            await self._outcomes.put(await self._work_through())
        except asyncio.CancelledError as exc:
            if self._closed:
                raise  # the stream is closing, and accounts for every worker
            # Cancelled from outside the stream: it ends at once, waiting for nothing; left
            # unsaid, the reader would wait for this worker for ever.
            self._lose_worker(_worker_cancelled(exc, asked=True))
            raise

    async def _work_through(self) -> object:
        """Register inputs until there are none; what ends the worker: ``_DONE``, or the
        error that ends the run."""
        try:
            while (item := await self._source.next()) is not None:
                await self._hand_over(await self._outcome_of(*item))
        except asyncio.CancelledError as exc:
            if cancel_requests():
                raise  # the worker's task was cancelled: _work tells who did
            # Something the input awaited was cancelled: raised as it is, it would read as a
            # cancellation of the reader's task, which nobody asked for.
            return self._ending(_worker_cancelled(exc, asked=False))
        except BaseException as exc:
            # Anything else ends the run, the reader raising it; a worker that went quietly
            # would leave the reader waiting for it forever.
            return self._ending(exc)
        return _DONE

    async def _hand_over(self, outcome: OrderOutcome[OrderT, ResultT]) -> None:
        """Queue a finished order's outcome for the reader; closing keeps it unread."""
        try:
            await self._outcomes.put(outcome)
        except asyncio.CancelledError:
            self._unread.append(outcome)  # the order is done: run_bulk still reports it
            raise

    def _ending(self, error: BaseException) -> BaseException:
        """Stop sending, as the run ends with ``error``: the orders waiting for their turn
        are withdrawn, instead of sent until the reader comes to the error and closes."""
        self._systemic.halt()
        return error

    def _lose_worker(self, error: B2BError) -> None:
        """End the run with ``error`` without waiting: the reader raises it once it has
        taken the outcomes queued before it (orders that finished), and takes no other."""
        if self._lost_worker is not None:
            return  # another worker lost already ends the run
        self._lost_worker = error
        if self._outcomes.full():
            self._lost_after = self._outcomes.qsize()  # the reader takes these first
        else:
            self._lost_after = self._outcomes.qsize() + 1  # the error itself among them
            self._outcomes.put_nowait(error)

    async def _outcome_of(self, index: int, order: Any) -> OrderOutcome[OrderT, ResultT]:
        """Register one input, unless the stream has stopped sending; watch what it became."""
        if await self._systemic.take_turn():
            outcome = await self._register_under_ticket(index, order)
            self._systemic.finished(outcome)
        else:
            outcome = OrderOutcome(index, order, attempted=False)
        report_outcome(outcome)
        return outcome

    async def _register_under_ticket(self, index: int, order: Any) -> OrderOutcome[OrderT, ResultT]:
        """Register one input; not attempted when the stream withdrew it before it was sent."""
        # A worker is cancelled when the stream is closed, or from outside, which ends the
        # run with an error that says so (see _work): an order cut off here needs no
        # accounting of its own.
        with self._tickets.issue():
            outcome = await register_one(self._register, index, order, self._order_type)
        if isinstance(outcome.error, OrderWithdrawnError):
            return OrderOutcome(index, order, attempted=False)
        return outcome

    def stop(self) -> None:
        """Stop sending, as a failure that repeats for every order would; idempotent.

        No order starts after this. The orders whose request has left finish, retries
        included, since their answers say whether they were registered; those still waiting
        for their turn in the rate limiter's budget, for the store's extra field
        configurations or for a V3 window to settle are withdrawn (a wait for a place in
        flight is not cut short). Every input still comes out: each one withdrawn or never
        sent as an outcome with ``attempted=False``. So the stream reads its input to the
        end: end an endless source too. :attr:`stopped_by` stays ``None``
        unless an order finishing then fails in a way that stops a run (a 401, say).

        It does not wait: iterate on to collect the outcomes. It is what ``orders register``
        does on Ctrl-C.

        .. versionadded:: 0.2.0
        """
        self._systemic.halt()

    async def aclose(self) -> None:
        """Stop the workers and wait until they are gone; idempotent."""
        self._closed = True
        workers, self._workers = self._workers, []
        self._running = 0
        for worker in workers:
            worker.cancel()
        try:
            if workers:
                await asyncio.gather(*workers, return_exceptions=True)
        finally:  # also when cancelled meanwhile: a later aclose() has no workers to stop
            # A reader waiting in another task would wait forever for the stopped workers:
            # wake it.
            queued: list[OrderOutcome[OrderT, ResultT]] = []
            while not self._outcomes.empty():
                if isinstance(item := self._outcomes.get_nowait(), OrderOutcome):
                    queued.append(item)
            # They finished before those whose hand-over closing cut off: they come first.
            self._unread[:0] = queued
            self._outcomes.put_nowait(_CLOSED)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


def _worker_cancelled(exc: asyncio.CancelledError, *, asked: bool) -> B2BError:
    """The error that ends a run whose worker met ``exc`` while the stream was not closing.

    ``asked``: the worker's task was cancelled, by someone other than the stream (a sweep
    of the loop's tasks at shutdown, say): the order it was registering, if any, has no
    outcome, and its request may have left. Otherwise the input raised the cancellation of
    something it awaited.
    """
    error = B2BError(
        "a worker of the run was cancelled from outside the run; the order it was"
        " registering, if any, may or may not be registered"
        if asked
        else "the input raised CancelledError, though the run was not cancelled"
    )
    error.__cause__ = exc
    return error


async def run_bulk(
    register: Register[OrderT, ResultT],
    orders: Source[OrderT],
    concurrency: int,
    on_progress: Callable[[OrderOutcome[OrderT, ResultT]], object] | None = None,
    *,
    order_type: type[OrderT],
) -> BulkReport[OrderT, ResultT]:
    """Register every order and return the report, in input order.

    Args:
        register: registers one order (the client's).
        orders: the orders, from any iterable or async iterable.
        concurrency: the number of workers (no more than the orders, nor MAX_CONCURRENCY).
        on_progress: called with each outcome as it completes.
        order_type: the kind of input ``register`` takes; any other input is an
            :class:`~b2b_async.InvalidOrderError` outcome.

    Returns:
        One outcome per input, in input order; when the run stopped sending (see
        :class:`SystemicFailure`), the report's ``stopped_by`` says why, and the inputs not
        sent are outcomes with ``attempted=False``.

    Raises:
        TypeError: ``on_progress`` is neither callable nor ``None``; nothing was sent.
    """
    check_callable(on_progress, "on_progress", optional=True)
    outcomes: list[OrderOutcome[OrderT, ResultT]] = []
    stream = OutcomeStream(register, orders, concurrency, order_type=order_type)
    try:
        async with stream:
            async for outcome in stream:
                outcomes.append(outcome)
                if on_progress is not None:
                    on_progress(outcome)
    except asyncio.CancelledError:
        # Orders that finished as the run was cancelled, their outcomes not yet read: they
        # are done, so on_progress hears of them, as of every order finished before.
        if on_progress is not None:
            for outcome in stream._unread:
                on_progress(outcome)
        raise
    outcomes.sort(key=lambda outcome: outcome.index)
    return BulkReport(tuple(outcomes), stream.stopped_by)
