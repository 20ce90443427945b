"""Which priority a call carries, and the in-flight cap that serves waiting calls by it.

A call's priority is decided here, by one rule (:func:`choose_priority`): the call's own
``priority=`` argument; else the priority of the client view it was made through
(``client.with_options(priority=...)``); else the innermost ``with client.priority(...)``
around it (a context variable, so tasks created inside inherit it); else the operation's
default: ``normal`` for single calls, ``bulk`` for the bulk helpers.

The rate limiter serves its waiting calls by priority (:class:`~b2b_async._ratelimit.Lanes`);
:class:`Places` does the same for the places among the requests in flight, so that a
backfill holding every place cannot keep an urgent call from reaching the limiter.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Final

from ._config import Priority, check_priority
from ._exceptions import InvalidOrderError
from ._ratelimit import Lanes, Waiter

__all__ = [
    "LEFT_BY_BULK",
    "Places",
    "call_priority",
    "cap_for_bulk",
    "choose_priority",
    "prioritised",
]

#: The priorities set by ``with client.priority(...)`` blocks around the running code, by
#: the client (its pool, shared with its views) they were set for.
_CONTEXT: Final[ContextVar[Mapping[object, Priority] | None]] = ContextVar(
    "b2b_async_priority", default=None
)


def call_priority(value: Priority | str | None) -> Priority | None:
    """Check an API call's ``priority=`` argument before anything is sent.

    Args:
        value: ``"urgent"``, ``"normal"``, ``"bulk"`` (or a :class:`~b2b_async.Priority`),
            or ``None`` for the priority the call would have anyway.

    Raises:
        InvalidOrderError: ``value`` names no priority.
    """
    return None if value is None else check_priority(value, error=InvalidOrderError)


def choose_priority(
    explicit: Priority | None, view: Priority | None, owner: object, default: Priority
) -> Priority:
    """The priority a call carries: the one rule, from the most specific choice to the least.

    Args:
        explicit: the call's own ``priority=`` argument.
        view: the priority of the client view the call was made through.
        owner: the client the call belongs to (what :func:`prioritised` was given).
        default: the operation's own default.
    """
    if explicit is not None:
        return explicit
    if view is not None:
        return view
    chosen = _CONTEXT.get()
    return default if chosen is None else chosen.get(owner, default)


def prioritised(
    owner: object, level: Priority | str
) -> contextlib.AbstractContextManager[Priority]:
    """Within the block, calls of ``owner`` without a priority of their own carry ``level``.

    Tasks created inside the block keep it, as they keep every context variable.

    Args:
        owner: the client the block is about.
        level: the priority.

    Returns:
        The block; ``with ... as chosen`` gives the :class:`Priority`.

    Raises:
        ValueError: ``level`` names no priority, raised by this call (not only as the block
            is entered), so a level read from the configuration fails where it is read.
    """
    return _block(owner, check_priority(level))


@contextlib.contextmanager
def _block(owner: object, chosen: Priority) -> Iterator[Priority]:
    """The block of :func:`prioritised`, for a checked priority."""
    token = _CONTEXT.set({**(_CONTEXT.get() or {}), owner: chosen})
    try:
        yield chosen
    finally:
        _CONTEXT.reset(token)


#: The places bulk calls leave to the others under an in-flight cap of two or more.
LEFT_BY_BULK: Final = 1


def cap_for_bulk(places: int) -> int:
    """The in-flight cap under which bulk calls may have ``places`` requests in flight at
    once: one more than ``places``, for the place they leave to the others."""
    return places + LEFT_BY_BULK


class Places:
    """The in-flight cap: at most ``size`` requests at once, waiting calls served by priority.

    A call waiting for a place of a higher priority gets the next free one before any
    waiting call of a lower priority; calls of one priority get theirs in order of arrival.
    Bulk calls leave one place to the others (with a cap of two or more), so that a
    backfill holding every place it may take cannot keep an urgent call waiting for one of
    its answers. A call cancelled while it waits gives up its turn and holds up no one.
    Every :meth:`take` is followed by one :meth:`give_back`.

    Args:
        size: the most requests in flight at once, or ``None`` for no cap.
    """

    __slots__ = ("_free", "_lanes", "_reserved")

    def __init__(self, size: int | None) -> None:
        self._free = math.inf if size is None else size
        self._reserved = LEFT_BY_BULK if size is not None and size > LEFT_BY_BULK else 0
        self._lanes = Lanes()

    @property
    def free(self) -> float:
        """Places not taken now (``inf`` without a cap)."""
        return self._free

    @property
    def waiting(self) -> int:
        """Calls waiting for a place."""
        return len(self._lanes)

    def take_free(self, priority: Priority) -> bool:
        """Take a place free now, if a call of ``priority`` may and none waits before it:
        whether it took one."""
        if self._may_take(priority) and not self._lanes:
            self._free -= 1
            return True
        return False

    async def take(self, priority: Priority) -> None:
        """Take one place, waiting for it in the lane of ``priority`` when none is free."""
        if self.take_free(priority):
            return
        waiter = Waiter(asyncio.get_running_loop().create_future(), priority)
        self._lanes.join(waiter)
        self._hand_out()
        try:
            await waiter.future
        except asyncio.CancelledError:
            if waiter.future.cancelled():
                self._lanes.leave(waiter)
            else:  # given a place in the instant it was cancelled: pass it on
                self.give_back()
            raise

    def give_back(self) -> None:
        """Return a place taken earlier; the head of the lanes gets it."""
        self._free += 1
        self._hand_out()

    def _may_take(self, priority: Priority) -> bool:
        """Whether a call of ``priority`` may take one of the places free now."""
        return self._free > (self._reserved if priority is Priority.BULK else 0)

    def _hand_out(self) -> None:
        """Give free places to the heads of the lanes, while the head may take one."""
        while (head := self._lanes.peek()) is not None and self._may_take(head.priority):
            self._lanes.pop()
            self._free -= 1
            head.future.set_result(0)
