"""Hooks and statistics: what the transport tells the outside world about each call.

On stamina's model, hooks are set once for the process with :func:`set_hooks` and receive
every event (see ``_events.py``) of every client. By default the one hook is OpenTelemetry's,
when ``opentelemetry-api`` is importable (the ``otel`` extra): spans and metrics then go to
whatever tracer and meter providers the application configures, with no call of ours.

The transport talks to one small collaborator per call, a :class:`CallObserver`. It counts
into the client's :class:`ClientStats` always, and builds events only when a hook listens,
so a process without hooks pays a few attribute updates per request. A hook may sit a call
out (see :func:`listening_hooks`): the OpenTelemetry hook does while no SDK is set, so that
an install with ``opentelemetry-api`` alone costs about as little.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Final, Protocol, runtime_checkable

import attrs

from . import _events
from ._config import NOT_ITEMS, logger
from ._exceptions import B2BError
from ._protocol import read_request_id

#: The call that events would name when no hook listens (and no event is built).
UNOBSERVED: Final = _events.Call("", "", "", "", 0)


@attrs.frozen
class ClientStats:
    """Counters of what one client has done since it was created.

    Attributes:
        requests: HTTP requests sent, retries included.
        retries: attempts that were retries of an earlier failed attempt.
        rate_limited: 429 answers met.
        budget_wait: seconds calls spent waiting for rate-limit budget or a cooldown,
            summed over calls.
        in_flight: requests being sent or awaited right now.

    .. versionadded:: 0.1.0
    """

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    budget_wait: float = 0.0
    in_flight: int = 0


class Tally:
    """The running counts of a client and its views, read as a frozen :class:`ClientStats`."""

    __slots__ = ("_counts",)

    def __init__(self) -> None:
        self._counts: dict[str, Any] = attrs.asdict(ClientStats())

    @property
    def stats(self) -> ClientStats:
        """A snapshot of the counts."""
        return ClientStats(**self._counts)

    def count(self, **increments: float) -> None:
        """Add ``increments`` to the named counters."""
        for name, step in increments.items():
            self._counts[name] += step


def default_hooks() -> tuple[_events.HookFactory, ...]:
    """The hooks in use until :func:`set_hooks` says otherwise: OpenTelemetry's, if importable."""
    return (_events.HookFactory(opentelemetry_hook),)


def opentelemetry_hook() -> _events.Hook | None:
    """The OpenTelemetry hook on the global providers, or ``None`` without opentelemetry-api."""
    try:
        from . import otel  # only now: the import costs, and the package is optional
    except ImportError:
        return None
    return otel.OpenTelemetryHook()


@runtime_checkable
class Selective(Protocol):
    """A hook that can tell, as a call starts, whether it would record anything of it.

    Optional, as :class:`~b2b_async.Hook` documents; the OpenTelemetry hook is one.
    """

    def listening(self) -> bool:
        """Whether a call starting now would leave any record."""
        ...


#: An active hook, and how to ask it whether it records a call starting now (``None``: it
#: records every call).
Gate = tuple[_events.Hook, Callable[[], bool] | None]


def built(item: _events.Hook | _events.HookFactory) -> _events.Hook | None:
    """``item``'s hook: itself, or what its factory builds (``None`` when the build fails).

    A factory that raises, or builds what :func:`set_hooks` would refuse
    (:func:`why_no_hook`), is logged and left out until :func:`set_hooks` is called again: a
    hook must never fail a call, nor its building.
    """
    if not isinstance(item, _events.HookFactory):
        return item
    try:
        hook = item.build()
    except Exception:  # a broken hook must never fail a call
        logger.warning("hook factory %r failed; its hook is left out", item, exc_info=True)
        return None
    problem = None if hook is None else why_no_hook(hook)
    if problem is not None:
        logger.warning(
            "hook factory %r built %r, which is no hook (%s); it is left out", item, hook, problem
        )
        return None
    return hook


class HookSettings:
    """The process's hooks: as configured, and as built on first use."""

    __slots__ = ("active", "configured", "gates", "reported")

    def __init__(self) -> None:
        self.configured: tuple[_events.Hook | _events.HookFactory, ...] | None = None
        self.active: tuple[_events.Hook, ...] | None = None
        self.gates: tuple[Gate, ...] = ()  # empty while every active hook records every call
        # Each hook's error classes whose failure was logged as a warning, by the hook's id
        # (a hook need not be hashable); the hook is kept so that its id is not reused.
        self.reported: dict[int, tuple[_events.Hook, set[type[Exception]]]] = {}

    def configure(self, hooks: tuple[_events.Hook | _events.HookFactory, ...] | None) -> None:
        """Use ``hooks`` (``None``: the default ones), built on first use."""
        self.configured = hooks
        self.active = None
        self.gates = ()
        self.reported = {}

    def build(self) -> tuple[_events.Hook, ...]:
        """Build every factory's hook, leaving out those that cannot work here."""
        given = default_hooks() if self.configured is None else self.configured
        self.active = tuple(hook for hook in map(built, given) if hook is not None)
        # Found out once here: an isinstance check against a protocol takes microseconds.
        questions = tuple(
            hook.listening if isinstance(hook, Selective) else None for hook in self.active
        )
        self.gates = tuple(zip(self.active, questions, strict=True)) if any(questions) else ()
        return self.active


SETTINGS: Final = HookSettings()


def set_hooks(hooks: Iterable[_events.Hook | _events.HookFactory] | None) -> None:
    """Set the hooks that receive every event of every client in this process.

    Args:
        hooks: hooks, or factories building one when the first call needs it. ``None``
            restores the default (OpenTelemetry when ``opentelemetry-api`` is importable);
            an empty iterable switches hooks off.

    Raises:
        TypeError: ``hooks`` is text, bytes or a mapping, or holds something neither callable
            nor a :class:`~b2b_async.HookFactory`, or a coroutine function (a hook is
            called, never awaited); the hooks in use stay as they were.

    .. versionadded:: 0.2.0
    """
    SETTINGS.configure(None if hooks is None else callables(hooks))


def callables(hooks: object) -> tuple[_events.Hook | _events.HookFactory, ...]:
    """``hooks`` as a tuple, each checked to be callable.

    Raises:
        TypeError: ``hooks`` is text, not iterable, or holds something neither callable nor
            a :class:`~b2b_async._events.HookFactory`, or a coroutine function.
    """
    if isinstance(hooks, NOT_ITEMS) or not isinstance(hooks, Iterable):
        raise TypeError(f"hooks must be an iterable of hooks, got {type(hooks).__name__}")
    given = tuple(hooks)
    for hook in given:
        problem = None if isinstance(hook, _events.HookFactory) else why_no_hook(hook)
        if problem is not None:
            raise TypeError(problem)
    return given


def why_no_hook(hook: object) -> str | None:
    """Why ``hook`` cannot serve as a hook, or ``None`` when it can: it must be callable,
    and calling it must not make a coroutine, which nobody would await (it would never run).
    """
    if not callable(hook):
        return f"a hook must be callable or a HookFactory, got {type(hook).__name__}"
    if makes_coroutines(hook):
        return f"a hook is called, not awaited: {hook!r} is a coroutine function"
    return None


def makes_coroutines(hook: object) -> bool:
    """Whether calling ``hook`` makes a coroutine: an ``async def`` function (or a partial
    of one), or an object whose ``__call__`` is one."""
    if inspect.iscoroutinefunction(hook):
        return True
    return callable(hook) and inspect.iscoroutinefunction(type(hook).__call__)


def get_hooks() -> tuple[_events.Hook, ...]:
    """Return the hooks in use, building any factory's on the first call.

    .. versionadded:: 0.2.0
    """
    active = SETTINGS.active
    return SETTINGS.build() if active is None else active


def listening_hooks() -> tuple[_events.Hook, ...]:
    """Return the hooks that will record a call starting now: those in use, less any that won't.

    Asked once per call, whose observer then tells only these: a call that no hook records
    builds no event, and all of a call's events reach the same hooks.
    """
    hooks = get_hooks()
    if not SETTINGS.gates:
        return hooks
    return tuple(hook for hook, listening in SETTINGS.gates if listens(hook, listening))


def listens(hook: _events.Hook, listening: Callable[[], bool] | None) -> bool:
    """Whether ``hook`` records a call starting now; a hook that fails to say is told anyway."""
    if listening is None:
        return True
    try:
        return listening()
    except Exception as exc:  # a broken hook must never fail a call
        report_failure(hook, exc, "to say whether it listens")
        return True


def emit(event: _events.Event, hooks: tuple[_events.Hook, ...] | None = None) -> None:
    """Hand ``event`` to each hook (the active ones by default); a hook's failure is logged."""
    for hook in get_hooks() if hooks is None else hooks:
        try:
            hook(event)
        except Exception as exc:  # a broken hook must never fail a call
            report_failure(hook, exc, f"on {type(event).__name__}")


def report_failure(hook: _events.Hook, error: Exception, what: str) -> None:
    """Log that ``hook`` failed with ``error``, with its traceback.

    The first failure of each hook with each class of error, since hooks were last set, is a
    warning; its repeats are logged at debug level, so that a hook broken for good does not
    log a warning at every event of every call.
    """
    _, kinds = SETTINGS.reported.setdefault(id(hook), (hook, set()))
    if type(error) in kinds:
        logger.debug("hook %r failed %s again", hook, what, exc_info=error)
        return
    kinds.add(type(error))
    logger.warning(
        "hook %r failed %s (its repeats of this error are logged at DEBUG)",
        hook,
        what,
        exc_info=error,
    )


class Settled(Protocol):
    """What :func:`report_outcome` reads of a bulk outcome."""

    @property
    def index(self) -> int:
        """The input's position."""
        ...

    @property
    def ok(self) -> bool:
        """Whether the order is registered."""
        ...

    @property
    def already_registered(self) -> bool:
        """Whether it was registered before."""
        ...

    @property
    def error(self) -> B2BError | None:
        """Why it is not registered."""
        ...

    @property
    def attempted(self) -> bool:
        """Whether it was sent."""
        ...


def report_outcome(outcome: Settled) -> None:
    """Tell the hooks how one input of a bulk run ended."""
    if hooks := listening_hooks():
        emit(
            _events.BulkOutcome(
                outcome.index,
                outcome.ok,
                outcome.already_registered,
                outcome.error,
                outcome.attempted,
            ),
            hooks,
        )


class CallObserver:
    """Follows one call: counts into the statistics, and tells the hooks when any listen.

    A context manager around the whole call: :class:`CallStarted` on entry,
    :class:`CallFinished` on exit, with the error if the call raised.

    Args:
        tally: the client's statistics.
        hooks: the hooks to tell (:func:`listening_hooks`); empty for none.
        call: the call the events name (:data:`UNOBSERVED` when no hook listens).
        secrets: texts never to repeat (redacted from request ids).
    """

    __slots__ = (
        "_call",
        "_hooks",
        "_secrets",
        "_tally",
        "attempt",
        "budget_wait",
        "request_id",
        "retries",
        "status",
    )

    def __init__(
        self,
        tally: Tally,
        hooks: tuple[_events.Hook, ...],
        call: _events.Call,
        secrets: tuple[str, ...],
    ) -> None:
        self._tally = tally
        self._hooks = hooks
        self._call = call
        self._secrets = secrets
        self.attempt = 0
        self.retries = 0
        self.budget_wait = 0.0
        self.status: int | None = None
        self.request_id: str | None = None

    def __enter__(self) -> CallObserver:
        if self._hooks:
            emit(_events.CallStarted(self._call), self._hooks)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._hooks:
            # Last started, first finished, as nested context managers unwind: a hook that
            # makes something current at the start (the OpenTelemetry hook's span) restores
            # what it found only when the hooks after it have restored theirs.
            emit(self._finished(exc), self._hooks[::-1])

    def _finished(self, error: BaseException | None) -> _events.CallFinished:
        return _events.CallFinished(
            self._call,
            self.attempt,
            self.retries,
            self.budget_wait,
            self.status,
            self.request_id,
            error,
        )

    def budget_waited(self, seconds: float) -> None:
        """The next attempt got its budget after ``seconds``."""
        self.budget_wait += seconds
        self._tally.count(budget_wait=seconds)
        if self._hooks:  # the attempt about to be sent
            emit(_events.BudgetWaited(self._call, self.attempt + 1, seconds), self._hooks)

    def sent(self) -> None:
        """An attempt's request is going out: a retry when an earlier request went out.

        A retry counts as its request leaves, not as it is scheduled: one that never leaves
        (the call's deadline, a closed client or a cancellation ends it first) repeated
        nothing.
        """
        self.attempt += 1
        retried = int(self.attempt > 1)
        self.retries += retried
        self._tally.count(requests=1, in_flight=1, retries=retried)
        if self._hooks:
            emit(_events.RequestSent(self._call, self.attempt), self._hooks)

    def received(self, status: int, headers: Mapping[str, str]) -> None:
        """The attempt's answer arrived, with ``status`` and ``headers``."""
        self._tally.count(in_flight=-1)
        self.status = status
        if self._hooks:
            self.request_id = read_request_id(headers, self._secrets)
            emit(
                _events.ResponseReceived(self._call, self.attempt, status, self.request_id),
                self._hooks,
            )

    def failed(self, error: BaseException) -> None:
        """The attempt got no usable answer."""
        self._tally.count(in_flight=-1)
        if self._hooks:
            emit(_events.RequestFailed(self._call, self.attempt, error), self._hooks)

    def rate_limited(self, cooldown: float | None) -> None:
        """The answer was a 429; the limiter holds every call for ``cooldown`` seconds."""
        self._tally.count(rate_limited=1)
        if self._hooks:
            emit(_events.RateLimited(self._call, self.attempt, cooldown), self._hooks)

    def retry_scheduled(self, wait: float, error: B2BError) -> None:
        """The attempt failed with ``error``; the next follows in ``wait`` seconds."""
        if self._hooks:
            emit(_events.RetryScheduled(self._call, self.attempt, wait, error), self._hooks)
