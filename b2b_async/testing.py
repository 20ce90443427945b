"""Pytest fixtures for testing code that uses b2b-async, registered as a pytest plugin.

Installing b2b-async makes two fixtures available in every test suite, with no import:

``b2b_sandbox``
    A running :class:`~b2b_async.sandbox.SandboxServer` on ``127.0.0.1`` and a free port, with
    no rate limit and no faults. Configure it per test (``b2b_sandbox.faults = ...``,
    ``b2b_sandbox.rate = ...``) and inspect what it received (``b2b_sandbox.orders``,
    ``b2b_sandbox.requests``, ``b2b_sandbox.registrations(order_id)``).
``b2b_client``
    A :class:`~b2b_async.B2BClient` pointed at that sandbox, with pacing off and quick
    retries (``RetryPolicy(initial_wait=0.01, max_wait=0.1)``: five attempts, backoff waits
    of at most 0.1 s), closed after the test.

Loading the plugin imports neither the sandbox nor ``aiohttp.web``: a fixture imports them when
a test first uses it, so a suite that never asks for one pays nothing for them.

Both are function-scoped, so every test gets a fresh store, and both are async fixtures run
by pytest-asyncio (0.23 or later), which the suite must have installed, as any test of async
code does. They serve async tests only: a synchronous test that asks for one fails at setup,
since the event loop the sandbox answers in stands still while such a test runs; so does a
test that anyio's pytest plugin takes over (marked ``anyio``), in an event loop of its own.
Without pytest-asyncio the plugin still loads, so a suite that does not use the fixtures is
unaffected. The fixtures run in the event loop of pytest-asyncio's default fixture loop scope:
keep that ``function`` (``asyncio_default_fixture_loop_scope = function``), or run the tests in
the same loop scope. A ``b2b_sandbox`` fixture defined in a ``conftest.py`` replaces this one, and
``b2b_client`` then points at it.

.. versionadded:: 0.1.0
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Final

import pytest

# pytest loads this plugin in every run of every suite in an environment that has b2b-async,
# so loading it must cost nothing: the sandbox (and with it aiohttp.web) and the client are
# imported by the fixtures, when a test first asks for one.
if TYPE_CHECKING:
    from ._client import B2BClient
    from .sandbox import SandboxServer

__all__ = ["b2b_client", "b2b_sandbox"]

#: The oldest pytest-asyncio the fixtures run with: the first that tells which tests it runs.
PYTEST_ASYNCIO_FLOOR: Final = "0.23"

try:  # the plugin loads in every suite of an environment: never break one without it
    from pytest_asyncio import fixture as _async_fixture
except ImportError:  # pragma: no cover - the test dependency group has pytest-asyncio
    _async_fixture = pytest.fixture  # type: ignore[assignment]


def refuse_sync_test(request: pytest.FixtureRequest, fixture: str) -> None:
    """Fail the setup of a test that pytest-asyncio does not run in the fixture's loop.

    pytest-asyncio sets the fixtures up for a synchronous test too, but its event loop then
    stands still while the test runs: the sandbox would accept connections and never answer
    them, and a request without a timeout would wait for ever. So it does for a test that
    anyio's plugin takes over (see :func:`refuse_anyio_test`).

    Raises:
        pytest.fail.Exception: the test is not one pytest-asyncio runs, or pytest-asyncio is
            older than the fixtures need.
    """
    try:  # what runs the fixture: imported already
        from pytest_asyncio import is_async_test
    except ImportError:  # a pytest-asyncio older than 0.23
        pytest.fail(
            f"{fixture} needs pytest-asyncio {PYTEST_ASYNCIO_FLOOR} or later:"
            f" pip install 'pytest-asyncio>={PYTEST_ASYNCIO_FLOOR}'",
            pytrace=False,
        )
    refuse_anyio_test(request, fixture)
    if not is_async_test(request.node):
        pytest.fail(
            f"{fixture} serves async tests only: its event loop does not run while a"
            " synchronous test does, so the sandbox would never answer. Make the test an"
            " `async def` run by pytest-asyncio (in its strict mode, marked"
            " @pytest.mark.asyncio).",
            pytrace=False,
        )


@_async_fixture
async def b2b_sandbox(request: pytest.FixtureRequest) -> AsyncIterator[SandboxServer]:
    """A sandbox B2B Edition server on an ephemeral loopback port, without limit or faults."""
    refuse_sync_test(request, "b2b_sandbox")
    from .sandbox import SandboxServer

    async with SandboxServer(rate=None) as server:
        yield server


@_async_fixture
async def b2b_client(b2b_sandbox: SandboxServer) -> AsyncIterator[B2BClient]:
    """A client of the ``b2b_sandbox`` server with its token, pacing off and short retry
    waits (a synchronous test is refused by ``b2b_sandbox``, which it stands on)."""
    from ._client import B2BClient
    from ._config import RetryPolicy

    retry = RetryPolicy(initial_wait=0.01, max_wait=0.1)
    async with B2BClient(
        b2b_sandbox.token, base_url=b2b_sandbox.url, rate_limit=None, retry=retry
    ) as client:
        yield client


def refuse_anyio_test(request: pytest.FixtureRequest, fixture: str) -> None:
    """Fail the setup of a test that anyio's pytest plugin takes over (one marked ``anyio``).

    That plugin runs the async fixtures of a test that asks for its ``anyio_backend``
    fixture, and the test too or not depending on the order the plugins load, in an event
    loop of its own: the fixtures and the test then run in different loops, where the client
    refuses to serve or the sandbox stands still. pytest-asyncio's ``auto`` mode takes the
    test for one of its own, so only anyio's fixture, which the marker adds, tells them apart.

    Raises:
        pytest.fail.Exception: the test asks for anyio's ``anyio_backend`` fixture.
    """
    if "anyio_backend" in request.fixturenames:
        pytest.fail(
            f"{fixture} serves tests that pytest-asyncio runs, and anyio's plugin takes this"
            " one over (it is marked @pytest.mark.anyio, or asks for anyio_backend), running"
            " its fixtures in an event loop of its own, where the client would refuse to serve"
            " or the sandbox never answer. Mark it @pytest.mark.asyncio instead (or, in"
            " pytest-asyncio's auto mode, leave it unmarked).",
            pytrace=False,
        )
