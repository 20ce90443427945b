"""Running ``../shared/tools/contract-mock`` (Prism on BigCommerce's published OpenAPI documents).

Every test in this folder is skipped where the tool or npm is missing; where both exist
(as in CI, with ``../shared`` beside the clone) they run as part of ``make test``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONTRACT_MOCK = REPO.parent / "shared" / "tools" / "contract-mock"
FIRST_RUN_TIMEOUT = 600.0  # the first run installs Prism with npm


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip the contract tests where Prism cannot run."""
    reason = None
    if not CONTRACT_MOCK.exists():
        reason = f"{CONTRACT_MOCK} is missing"
    elif shutil.which("npm") is None:
        reason = "npm (Node.js) is needed for Prism"
    if reason is None:
        return
    for item in items:
        if item.get_closest_marker("contract"):
            item.add_marker(pytest.mark.skip(reason=reason))


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PrismState:
    """Where ``contract-mock`` keeps its state (pid, mode, log): a fresh folder per Prism.

    The tool keeps it in ``$TMPDIR/b2b-contract-mock`` and decides that Prism is up when its
    log says so; a log left by an earlier Prism could say so before the new one listens.
    """

    folder: str | None = None

    @classmethod
    def renew(cls) -> None:
        """Give the next Prism a folder of its own."""
        cls.folder = tempfile.mkdtemp(prefix="b2b-contract-")

    @classmethod
    def environment(cls) -> dict[str, str]:
        """The tool's environment, pointed at the current folder."""
        return {**os.environ, "TMPDIR": cls.folder} if cls.folder else dict(os.environ)


async def contract_mock(*args: str, limit: float = 60.0) -> tuple[int, str]:
    """Run ``contract-mock`` and return its exit status and its output."""
    process = await asyncio.create_subprocess_exec(
        str(CONTRACT_MOCK),
        *args,
        env=PrismState.environment(),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), limit)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, output.decode()


@contextlib.asynccontextmanager
async def running_prism(*args: str) -> AsyncIterator[str]:
    """Start Prism with ``contract-mock ARGS`` (``start PORT`` or ``proxy UPSTREAM PORT``).

    Yields its base URL; stops it afterwards.
    """
    PrismState.renew()
    status, output = await contract_mock(*args, limit=FIRST_RUN_TIMEOUT)
    try:
        assert status == 0, f"Prism did not start:\n{output}"
        yield output.strip().splitlines()[-1]
    finally:
        await contract_mock("stop")
        shutil.rmtree(str(PrismState.folder), ignore_errors=True)


@pytest.fixture
async def prism() -> AsyncIterator[str]:
    """Prism mocking the published documents; yields its base URL."""
    async with running_prism("start", str(free_port())) as url:
        yield url
