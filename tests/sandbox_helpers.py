"""Helpers for socket-level tests that drive the client against the sandbox."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

from b2b_async.sandbox import FaultKind, Faults, SandboxServer

CREATE_SUFFIX = "/orders"


def seed_for(faults: Faults, pattern: Sequence[FaultKind | None]) -> int:
    """Find a seed whose first draws inject exactly ``pattern`` (one draw per request)."""
    for seed in range(100_000):
        rng = random.Random(seed)
        if [faults.pick(rng.random()) for _ in pattern] == list(pattern):
            return seed
    raise AssertionError(f"no seed gives {pattern}")


def attempts_for(server: SandboxServer, order_id: str) -> int:
    """How many create requests for ``order_id`` reached the sandbox."""
    return sum(
        1
        for record in server.requests
        if isinstance(record.body, dict) and record.body.get("orderId") == order_id
    )


def client_tasks() -> set[asyncio.Task[object]]:
    """Tasks other than the current one that belong to the client side (not the sandbox)."""
    current = asyncio.current_task()
    leftovers = set()
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        filename = code.co_filename if code is not None else ""
        server_side = "sandbox" in filename or "web_protocol" in filename or "web_" in filename
        if task is not current and not server_side:
            leftovers.add(task)
    return leftovers
