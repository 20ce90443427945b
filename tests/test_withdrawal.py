"""BulkTickets: which orders of a bulk run may still be withdrawn, and who is told."""

from __future__ import annotations

import asyncio
import functools

import pytest

from b2b_async._exceptions import OrderWithdrawnError
from b2b_async._withdrawal import (
    BulkTicket,
    BulkTickets,
    note_sent,
    unless_withdrawn,
    unsent_ticket,
)


async def test_a_ticket_is_its_tasks_until_a_request_of_its_order_leaves() -> None:
    """Inside issue(), unsent_ticket() is the order's ticket; note_sent() ends that."""
    tickets = BulkTickets()
    assert unsent_ticket() is None
    with tickets.issue() as ticket:
        assert unsent_ticket() is ticket
        assert ticket.task is asyncio.current_task()
        note_sent()
        assert ticket.sent
        assert unsent_ticket() is None
    assert unsent_ticket() is None


async def test_a_task_started_under_a_ticket_neither_sends_nor_is_withdrawn_with_it() -> None:
    """A task the order starts (a fetch others share) copies the context, not the ticket."""
    tickets = BulkTickets()

    async def shared_fetch() -> BulkTicket | None:
        note_sent()
        return unsent_ticket()

    with tickets.issue() as ticket:
        seen = await asyncio.create_task(shared_fetch())
    assert seen is None
    assert not ticket.sent


async def test_withdrawing_spares_the_orders_sent_and_wakes_the_waiting_once() -> None:
    """withdraw_unsent() lets go of the orders not sent, calling each one's wake once."""
    tickets = BulkTickets()
    woken: list[str] = []
    issued: dict[str, BulkTicket] = {}
    gate = asyncio.Event()

    async def order(name: str, *, sent: bool) -> None:
        with tickets.issue() as ticket:
            issued[name] = ticket
            ticket.on_withdraw = lambda: woken.append(name)
            if sent:
                note_sent()
            await gate.wait()

    running = [
        asyncio.create_task(order("waiting", sent=False)),
        asyncio.create_task(order("sent", sent=True)),
    ]
    await asyncio.sleep(0)
    tickets.withdraw_unsent()
    tickets.withdraw_unsent()
    gate.set()
    await asyncio.gather(*running)
    assert woken == ["waiting"]
    assert issued["waiting"].withdrawn
    assert not issued["sent"].withdrawn


async def test_an_order_done_is_no_longer_withdrawn() -> None:
    """A ticket whose order finished leaves the run's tickets: a later withdrawal spares it,
    and it names no task that a copy of the context could keep alive."""
    tickets = BulkTickets()
    woken: list[BulkTicket] = []
    with tickets.issue() as ticket:
        ticket.on_withdraw = functools.partial(woken.append, ticket)
    tickets.withdraw_unsent()
    assert not ticket.withdrawn
    assert woken == []
    assert ticket.task is None
    assert ticket.on_withdraw is None


async def test_outside_a_bulk_order_unless_withdrawn_simply_awaits() -> None:
    """No ticket in the context: the wait is awaited as it is."""

    async def wait() -> str:
        await asyncio.sleep(0)
        return "done"

    assert await unless_withdrawn(wait) == "done"


async def order_waiting_for_ever(tickets: BulkTickets) -> asyncio.Task[None]:
    """A task registering an order of ``tickets``'s run, waiting in unless_withdrawn now."""
    waiting = asyncio.Event()

    async def order() -> None:
        with tickets.issue():
            waiting.set()
            await unless_withdrawn(asyncio.Event().wait)

    task = asyncio.create_task(order())
    await waiting.wait()
    await asyncio.sleep(0)
    return task


async def test_a_wait_of_an_order_withdrawn_meanwhile_ends_with_order_withdrawn_error() -> None:
    """Withdrawn while it waits: the wait ends at once, as OrderWithdrawnError, and the task
    keeps no cancellation."""
    tickets = BulkTickets()
    task = await order_waiting_for_ever(tickets)
    tickets.withdraw_unsent()
    with pytest.raises(OrderWithdrawnError):
        await asyncio.wait_for(task, 60)
    assert task.cancelling() == 0


async def test_an_order_withdrawn_already_starts_no_wait() -> None:
    """Withdrawn before the wait: OrderWithdrawnError, and the wait is never started."""
    tickets = BulkTickets()
    started: list[str] = []

    async def wait() -> None:
        started.append("wait")

    with tickets.issue():
        tickets.withdraw_unsent()
        with pytest.raises(OrderWithdrawnError):
            await unless_withdrawn(wait)
    assert started == []


async def test_a_cancellation_besides_the_withdrawal_stays_a_cancellation() -> None:
    """The task cancelled by its caller too: the cancellation wins."""
    tickets = BulkTickets()
    task = await order_waiting_for_ever(tickets)
    task.cancel()
    tickets.withdraw_unsent()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 60)


async def test_once_a_request_has_left_the_order_waits_on() -> None:
    """After note_sent(), a withdrawal no longer touches the order's waits."""
    tickets = BulkTickets()
    release = asyncio.Event()

    async def order() -> str:
        with tickets.issue():
            note_sent()
            await unless_withdrawn(release.wait)
            return "answered"

    task = asyncio.create_task(order())
    await asyncio.sleep(0)
    tickets.withdraw_unsent()
    release.set()
    assert await asyncio.wait_for(task, 60) == "answered"


async def test_a_wait_inside_another_leaves_the_outer_one_withdrawable() -> None:
    """An inner wait that ended hands the withdrawal back to the wait around it."""
    tickets = BulkTickets()
    inner_done = asyncio.Event()

    async def outer_wait() -> None:
        await unless_withdrawn(functools.partial(asyncio.sleep, 0))
        inner_done.set()
        await asyncio.Event().wait()

    async def order() -> None:
        with tickets.issue():
            await unless_withdrawn(outer_wait)

    task = asyncio.create_task(order())
    await asyncio.wait_for(inner_done.wait(), 60)
    tickets.withdraw_unsent()
    with pytest.raises(OrderWithdrawnError):
        await asyncio.wait_for(task, 60)
