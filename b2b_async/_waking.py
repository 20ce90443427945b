"""Ending a task's wait from outside, and telling that end from any other cancellation.

Two things end a call's wait before it is over: closing a client or one of its views (the
waits of the calls made on it) and a stopped bulk run (the waits of its orders no request
has left for). Both cancel the waiting task, then turn that cancellation into an error of
their own. A cancellation asked of the task besides theirs, by its caller or a timeout,
must stay a cancellation. :class:`WakeableWait` holds the one rule that tells them apart:
the task's count of pending cancellations, taken as the wait begins, is what remains once
the wake's own cancellation is taken back; anything above it was asked by someone else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["WakeableWait", "cancel_requests"]

T = TypeVar("T")


def cancel_requests() -> int:
    """How many cancellations of the current task are pending (:meth:`asyncio.Task.cancelling`).

    Zero in a callback that runs outside any task. A waiter compares the count before and
    after an await to tell a cancellation of its own from one that something it waited on
    absorbed or suffered.
    """
    task = asyncio.current_task()
    return 0 if task is None else task.cancelling()


class WakeableWait:
    """One wait of the current task, which :meth:`wake` may end while it lasts.

    Create it in the task that waits, just before the wait begins, and :meth:`run` one
    wait with it. A wake before the wait begins ends it as it begins; a wake after it has
    ended does nothing.
    """

    __slots__ = ("_pending", "_task", "_woken")

    def __init__(self) -> None:
        self._task = asyncio.current_task()
        # One cancellation the task swallowed earlier may still count as pending.
        self._pending = 0 if self._task is None else self._task.cancelling()
        self._woken = False

    def wake(self) -> None:
        """End the wait by cancelling its task, once. Outside a task, or once the wait has
        ended, there is nothing to end."""
        if self._task is not None and not self._woken:
            self._woken = True
            self._task.cancel()

    async def run(self, wait: Callable[[], Awaitable[T]], error: Callable[[], Exception]) -> T:
        """Await what ``wait`` starts.

        Raises:
            Exception: ``error()``, when :meth:`wake` ended the wait and nothing else asked
                for the task's cancellation.
            asyncio.CancelledError: the task was cancelled otherwise, with or without a wake.
        """
        try:
            return await wait()
        except asyncio.CancelledError:
            if self._ended_by_wake():
                raise error() from None
            raise
        finally:
            self._task = None  # a later wake would cancel whatever the task does next

    def _ended_by_wake(self) -> bool:
        """Take the wake's cancellation back; say whether it was the only one asked."""
        if not self._woken:
            return False
        assert self._task is not None, "only a task's wait can be woken"
        return self._task.uncancel() <= self._pending
