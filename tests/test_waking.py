"""WakeableWait: a wait that another party ends, told apart from any other cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import functools

import pytest

from b2b_async._waking import WakeableWait, cancel_requests


class WokenError(Exception):
    """The error a woken wait raises in these tests."""


async def wait_forever() -> None:
    await asyncio.Event().wait()


async def start_waiting() -> tuple[asyncio.Task[None], list[WakeableWait]]:
    """A task that waits in a WakeableWait for ever, started and waiting."""
    waits: list[WakeableWait] = []

    async def waiter() -> None:
        waits.append(WakeableWait())
        await waits[0].run(wait_forever, WokenError)

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    assert len(waits) == 1, "the task is waiting"
    return task, waits


async def woken_soon() -> WokenError | None:
    """Wait in a new WakeableWait the event loop wakes at its next turn; return what ended it."""
    waiting = WakeableWait()
    asyncio.get_running_loop().call_soon(waiting.wake)
    try:
        await waiting.run(wait_forever, WokenError)
    except WokenError as exc:
        return exc
    return None


async def test_the_wait_returns_what_it_awaited() -> None:
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert await WakeableWait().run(answer, WokenError) == 42


async def test_a_woken_wait_raises_the_error_and_leaves_no_cancellation_pending() -> None:
    outcome: list[object] = []

    async def waiter() -> None:
        outcome.append(await woken_soon())
        outcome.append(asyncio.current_task().cancelling())  # type: ignore[union-attr]
        await asyncio.sleep(0)  # nothing is left to cancel the task later
        outcome.append("went on")

    await waiter()
    assert isinstance(outcome[0], WokenError)
    assert outcome[1:] == [0, "went on"]


async def test_waking_twice_cancels_once() -> None:
    task, (waiting,) = await start_waiting()
    waiting.wake()
    waiting.wake()
    assert task.cancelling() == 1
    with pytest.raises(WokenError):
        await task


async def test_a_cancellation_without_a_wake_stays_a_cancellation() -> None:
    task, _ = await start_waiting()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_cancellation_besides_the_wake_stays_a_cancellation() -> None:
    task, (waiting,) = await start_waiting()
    waiting.wake()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()


async def test_a_cancellation_swallowed_before_the_wait_leaves_the_wake_a_wake() -> None:
    """A task that swallowed an earlier cancellation still counts it as pending; the wake
    compares with that count, so its own cancellation is still told apart."""
    outcome: list[object] = []

    async def waiter() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await wait_forever()  # cancelled once, swallowed without uncancel()
        outcome.append(await woken_soon())

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    task.cancel()
    await task
    assert len(outcome) == 1
    assert isinstance(outcome[0], WokenError)


async def test_outside_a_task_a_wake_ends_nothing() -> None:
    made: list[WakeableWait] = []
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def outside_any_task() -> None:
        made.append(WakeableWait())
        made[0].wake()  # no task to cancel: nothing happens
        done.set_result(None)

    loop.call_soon(outside_any_task)
    await done
    await asyncio.sleep(0)
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


async def test_a_wake_after_the_wait_has_ended_cancels_nothing() -> None:
    """A wake kept past its wait does not cancel what the task does next."""
    waiting = WakeableWait()
    await waiting.run(functools.partial(asyncio.sleep, 0), WokenError)
    waiting.wake()
    await asyncio.sleep(0)  # would raise CancelledError had the wake cancelled the task
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]


class OuterWokenError(Exception):
    """The error the outer of two nested waits raises in these tests."""


async def nested_waits(*, caller_cancels: bool) -> asyncio.Task[None]:
    """A task waiting in two nested waits, both woken at once (as a client closing while a
    stopped run withdraws the order does), and cancelled by its caller too if asked."""
    waits: list[WakeableWait] = []

    async def inner() -> None:
        waits.append(WakeableWait())
        await waits[-1].run(wait_forever, WokenError)

    async def outer() -> None:
        waits.append(WakeableWait())
        await waits[-1].run(inner, OuterWokenError)

    task = asyncio.create_task(outer())
    await asyncio.sleep(0)
    for waiting in waits:
        waiting.wake()
    if caller_cancels:
        task.cancel()
    return task


async def test_two_nested_waits_woken_together_end_with_the_outer_error() -> None:
    task = await nested_waits(caller_cancels=False)
    with pytest.raises(OuterWokenError):
        await task
    assert task.cancelling() == 0


async def test_two_nested_waits_woken_and_a_callers_cancel_stay_a_cancellation() -> None:
    task = await nested_waits(caller_cancels=True)
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancel_requests_counts_the_cancellations_asked_of_the_current_task() -> None:
    """None before; two after two cancel() calls, as the task takes the cancellation."""
    seen: list[int] = []

    async def waiter() -> None:
        seen.append(cancel_requests())
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            seen.append(cancel_requests())
            raise

    task = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    task.cancel()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert seen == [0, 2]


async def test_cancel_requests_is_zero_outside_any_task() -> None:
    """A callback that runs outside any task counts no cancellation."""
    loop = asyncio.get_running_loop()
    counted: asyncio.Future[int] = loop.create_future()

    def outside_any_task() -> None:
        try:
            counted.set_result(cancel_requests())
        except AttributeError as exc:  # no task to ask
            counted.set_exception(exc)

    loop.call_soon(outside_any_task)
    assert await counted == 0
