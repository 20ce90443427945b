"""Withdrawing the orders of a bulk run that no request has left for yet.

A run that stops sending (a refused token, an API that cannot be reached, or
:meth:`~b2b_async.OutcomeStream.stop`) lets its orders whose request has left finish, since
their answers say whether they were registered. The others may still be waiting: for their
turn in the store's budget, a share of it that every integration of the store needs and at
times a cooldown of minutes away; for the store's extra field configurations, which one
fetch brings to many orders; for a V3 registration window to settle. They are withdrawn
instead, and come out as not attempted.

The bulk layer registers each order under a :class:`BulkTicket` (:meth:`BulkTickets.issue`). The
transport notes on it when a request leaves (:func:`note_sent`); each of those waits runs
in :func:`unless_withdrawn`, which ends it when the order is withdrawn. Nothing else is
withdrawn: a wait for a place in flight ends with an answer, and the budget comes after
it; an order some request of which has left waits for its answer and its retries, which
say whether it was registered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Final, TypeVar

from ._exceptions import ORDER_WITHDRAWN, OrderWithdrawnError
from ._waking import WakeableWait

__all__ = ["BulkTicket", "BulkTickets", "note_sent", "unless_withdrawn", "unsent_ticket"]

T = TypeVar("T")

_TICKET: Final[ContextVar[BulkTicket | None]] = ContextVar("b2b_async_ticket", default=None)


class BulkTicket:
    """One order of a bulk run, from its turn to its outcome.

    Attributes:
        task: the task that registers the order; a task it starts (a shared fetch) neither
            sends the order nor is withdrawn with it.
        sent: a request of the order has left, so its outcome is the answer's.
        withdrawn: the run let go of the order before any request of it left: it waits in
            :func:`unless_withdrawn` no more, so no request of it leaves through a rate
            limiter (a client without one sends it as its place in flight allows).
        on_withdraw: what wakes the order's innermost wait, while it waits, or ``None``.
    """

    __slots__ = ("on_withdraw", "sent", "task", "withdrawn")

    def __init__(self, task: asyncio.Task[object] | None) -> None:
        self.task = task
        self.sent = False
        self.withdrawn = False
        self.on_withdraw: Callable[[], object] | None = None

    def withdraw(self) -> None:
        """Let go of the order unless a request of it has left; wake its wait, if it waits."""
        if self.sent or self.withdrawn:
            return
        self.withdrawn = True
        if self.on_withdraw is not None:
            self.on_withdraw()


class BulkTickets:
    """The tickets of the orders a run is registering now."""

    __slots__ = ("_live",)

    def __init__(self) -> None:
        self._live: set[BulkTicket] = set()

    @contextlib.contextmanager
    def issue(self) -> Iterator[BulkTicket]:
        """Register one order under a new ticket, in the current task's context.

        Once the order is done, the ticket names no task: a task that copied the context
        meanwhile (a limiter's driver, a shared fetch) holds no task through it.
        """
        ticket = BulkTicket(asyncio.current_task())
        self._live.add(ticket)
        token = _TICKET.set(ticket)
        try:
            yield ticket
        finally:
            _TICKET.reset(token)
            self._live.discard(ticket)
            ticket.task = ticket.on_withdraw = None

    def withdraw_unsent(self) -> None:
        """Withdraw every order of the run no request has left for."""
        for ticket in tuple(self._live):
            ticket.withdraw()


async def unless_withdrawn(wait: Callable[[], Awaitable[T]]) -> T:
    """Await what ``wait`` starts, unless the current task's bulk order is withdrawn first.

    Outside a bulk order, or once a request of it has left, it simply awaits. Such waits
    may nest: a withdrawal ends the innermost one, and the others as its error passes
    through them (code between them that catches the error keeps the outer ones waiting).

    Raises:
        OrderWithdrawnError: the order is withdrawn, or is meanwhile; a cancellation asked
            of the task besides the withdrawal still stands.
    """
    ticket = unsent_ticket()
    if ticket is None:
        return await wait()
    if ticket.withdrawn:
        raise _withdrawn()
    waiting = WakeableWait()
    outer, ticket.on_withdraw = ticket.on_withdraw, waiting.wake  # a wait may hold another
    try:
        return await waiting.run(wait, _withdrawn)
    finally:
        ticket.on_withdraw = outer


def _withdrawn() -> OrderWithdrawnError:
    return OrderWithdrawnError(ORDER_WITHDRAWN)


def unsent_ticket() -> BulkTicket | None:
    """The ticket of the order the current task registers, while no request of it has left."""
    ticket = _TICKET.get()
    if ticket is None or ticket.sent or ticket.task is not asyncio.current_task():
        return None
    return ticket


def note_sent() -> None:
    """Note that a request of the current task's order is leaving: it can no longer be
    withdrawn."""
    ticket = unsent_ticket()
    if ticket is not None:
        ticket.sent = True
