"""``b2b_async.testing``, the pytest plugin: its ``b2b_sandbox`` and ``b2b_client`` fixtures.

The fixtures are used here and in a user's suite. The in-process tests use them as any suite
with b2b-async installed gets them. The ``pytester`` tests run pytest on a throwaway project
configured as a user's would be, with ``filterwarnings = error`` so that a session or server left
open fails it; its test files import nothing to get the fixtures.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from textwrap import dedent
from types import SimpleNamespace

import pytest
import pytest_asyncio

import b2b_async
from b2b_async import (
    APIConnectionError,
    B2BClient,
    CreatedOrder,
    RetryPolicy,
    ServerError,
    testing,
)
from b2b_async.sandbox import DEFAULT_TOKEN, Faults, SandboxServer
from tests.log_helpers import planned_waits

pytest_plugins = ["pytester"]

ATTEMPTS = 5  # RetryPolicy's default, which the b2b_client fixture keeps

# Hypothesis's plugin, unrelated here, costs some 0.7 s per in-process run.
INI = """
[pytest]
addopts = -p no:cacheprovider -p no:hypothesispytest
asyncio_mode = {mode}
asyncio_default_fixture_loop_scope = function
filterwarnings =
    error
"""

USER_TESTS = '''
from decimal import Decimal

import pytest

from b2b_async import ServerError
from b2b_async.sandbox import Faults


async def test_registers_once(b2b_client, b2b_sandbox):
    """An order created through the client is registered once, as sent."""
    created = await b2b_client.orders.create(
        company_id="1", customer_id="1", order_id="BC100",
        total_inc_tax=Decimal("259.99"), po_number="PO-7",
    )
    assert created.order_id == "BC100"
    assert b2b_sandbox.registrations("BC100") == 1
    assert b2b_sandbox.orders["BC100"].total_inc_tax == Decimal("259.99")


async def test_fresh_store_per_test(b2b_client, b2b_sandbox):
    """The previous test's order is unknown here, so registering it again succeeds."""
    assert not b2b_sandbox.orders
    await b2b_client.orders.create(customer_id="1", order_id="BC100", total_inc_tax=1)
    assert b2b_sandbox.registrations("BC100") == 1


async def test_outage(b2b_client, b2b_sandbox):
    """A sandbox that always answers 503 exhausts the client's retries."""
    b2b_sandbox.faults = Faults(http_503=1.0)
    with pytest.raises(ServerError):
        await b2b_client.orders.create(customer_id="1", order_id="BC200", total_inc_tax=1)
    assert [record.status for record in b2b_sandbox.requests] == [503] * 5
    assert b2b_sandbox.registrations("BC200") == 0
'''

# Seed 7 makes the first two of the sandbox's draws fall below 0.5 and the third above it.
SEEDED_CONFTEST = """
import pytest_asyncio

from b2b_async.sandbox import SandboxServer


@pytest_asyncio.fixture
async def b2b_sandbox():
    async with SandboxServer(rate=None, seed=7) as server:
        yield server
"""

SEEDED_TESTS = '''
from b2b_async.sandbox import Faults


async def test_flaky_api(b2b_client, b2b_sandbox):
    """Two 503s, then the retry that registers the order."""
    b2b_sandbox.faults = Faults(http_503=0.5)
    created = await b2b_client.orders.create(customer_id="1", order_id="BC1", total_inc_tax=1)
    assert not created.already_registered
    assert [record.status for record in b2b_sandbox.requests] == [503, 503, 200]
    assert b2b_sandbox.registrations("BC1") == 1


async def test_lost_answers(b2b_client, b2b_sandbox):
    """Two answers lost after registering, then "already exists": a success, registered once."""
    b2b_sandbox.faults = Faults(reset_after=0.5)
    created = await b2b_client.orders.create(customer_id="1", order_id="BC1", total_inc_tax=1)
    assert created.already_registered
    assert [record.status for record in b2b_sandbox.requests] == ["reset", "reset", 400]
    assert b2b_sandbox.registrations("BC1") == 1
'''

OWN_TOKEN_CONFTEST = """
import pytest_asyncio

from b2b_async.sandbox import SandboxServer


@pytest_asyncio.fixture
async def b2b_sandbox():
    async with SandboxServer(rate=None, token="my-service-token") as server:
        yield server
"""

OWN_TOKEN_TESTS = '''
async def test_registers(b2b_client, b2b_sandbox):
    """The client authenticates with the token of the sandbox the conftest made."""
    await b2b_client.orders.create(customer_id="1", order_id="BC1", total_inc_tax=1)
    assert b2b_sandbox.registrations("BC1") == 1
'''

STRICT_TESTS = '''
import pytest


@pytest.mark.asyncio
async def test_registers(b2b_client, b2b_sandbox):
    """In strict mode, a marked test gets both fixtures."""
    await b2b_client.orders.create(customer_id="1", order_id="BC1", total_inc_tax=1)
    assert b2b_sandbox.registrations("BC1") == 1
'''


SYNC_TESTS = '''
def test_sandbox(b2b_sandbox):
    """A synchronous test cannot be served by the sandbox."""


def test_client(b2b_client):
    """Nor can it await the client."""
'''


# What anyio's pytest plugin does with a test marked ``anyio``: it adds its ``anyio_backend``
# fixture and runs the test in an event loop of its own.
ANYIO_CONFTEST = """
import asyncio
import inspect

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "anyio: run by anyio's plugin")


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    if "anyio_backend" not in pyfuncitem.funcargs:
        return None
    test = inspect.unwrap(pyfuncitem.obj)  # beneath pytest-asyncio's wrapper, in auto mode
    names = pyfuncitem._fixtureinfo.argnames
    asyncio.run(test(**{name: pyfuncitem.funcargs[name] for name in names}))
    return True
"""

ANYIO_TESTS = '''
import pytest


@pytest.mark.anyio
@pytest.mark.usefixtures("anyio_backend")
async def test_registers(b2b_client):
    """A test anyio runs, as FastAPI's documentation writes them."""
    await b2b_client.orders.create(customer_id="1", order_id="BC1", total_inc_tax=1)
'''


# Prints which of the heavy modules a fresh interpreter holds after loading the plugin module.
LOADED_AFTER_PLUGIN = """
import json, sys
import b2b_async.testing
print(json.dumps([name for name in ("aiohttp.web", "b2b_async.sandbox") if name in sys.modules]))
"""


def write_project(pytester: pytest.Pytester, tests: str, *, mode: str = "auto") -> None:
    """Lay out a user's project: a pytest.ini and one test module."""
    pytester.makeini(INI.format(mode=mode))
    pytester.makepyfile(test_service=dedent(tests))


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    """Loading ``b2b_async.testing``, as pytest does in every run, imports no sandbox and no server.

    A fresh interpreter is the only place where ``sys.modules`` shows what one import costs.
    """
    source_root = Path(b2b_async.__file__).resolve().parent.parent
    finished = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", LOADED_AFTER_PLUGIN],
        cwd=source_root,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(finished.stdout) == []


def test_fixtures_need_no_import(pytester: pytest.Pytester) -> None:
    """A user's suite gets both fixtures from the installed plugin, fresh for every test."""
    write_project(pytester, USER_TESTS)
    pytester.runpytest().assert_outcomes(passed=3)


def test_conftest_sandbox_replaces_the_plugins(pytester: pytest.Pytester) -> None:
    """A ``b2b_sandbox`` defined in conftest.py (here seeded) is the one ``b2b_client`` uses."""
    write_project(pytester, SEEDED_TESTS)
    pytester.makeconftest(SEEDED_CONFTEST)
    pytester.runpytest().assert_outcomes(passed=2)


def test_the_client_takes_the_token_of_a_conftest_sandbox(pytester: pytest.Pytester) -> None:
    """A ``b2b_sandbox`` that accepts another token than the default one: ``b2b_client``
    sends that one."""
    write_project(pytester, OWN_TOKEN_TESTS)
    pytester.makeconftest(OWN_TOKEN_CONFTEST)
    pytester.runpytest().assert_outcomes(passed=1)


def test_fixtures_work_in_strict_mode(pytester: pytest.Pytester) -> None:
    """Under pytest-asyncio's strict mode the fixtures serve tests marked ``asyncio``."""
    write_project(pytester, STRICT_TESTS, mode="strict")
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_sync_test_is_refused_the_fixtures(pytester: pytest.Pytester) -> None:
    """A synchronous test asking for either fixture fails at setup saying why, instead of
    getting a sandbox whose event loop stands still (and never answers) while it runs."""
    write_project(pytester, SYNC_TESTS)
    result = pytester.runpytest()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*b2b_sandbox serves async tests only*"])


@pytest.mark.parametrize("mode", ["auto", "strict"])
def test_a_test_anyio_runs_is_refused_the_fixtures(pytester: pytest.Pytester, mode: str) -> None:
    """A test marked ``anyio`` fails at setup saying to mark it ``asyncio``: anyio's plugin
    would run it in a loop of its own, where the sandbox never answers."""
    write_project(pytester, ANYIO_TESTS, mode=mode)
    pytester.makeconftest(ANYIO_CONFTEST)
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*anyio's plugin takes this*Mark it @pytest.mark.asyncio*"])


def test_an_old_pytest_asyncio_is_named_at_setup(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a pytest-asyncio too old to tell which tests it runs (before 0.23), a fixture's
    setup fails naming the release it needs, instead of with an ImportError of a name."""
    monkeypatch.delattr(pytest_asyncio, "is_async_test")
    with pytest.raises(pytest.fail.Exception, match=r"needs pytest-asyncio 0\.23 or later"):
        testing.refuse_sync_test(request, "b2b_sandbox")


def test_fixtures_are_listed(pytester: pytest.Pytester) -> None:
    """``pytest --fixtures`` lists both fixtures as the plugin's, with their docstrings."""
    write_project(pytester, "")
    result = pytester.runpytest("--fixtures")
    result.stdout.fnmatch_lines(
        [
            "*fixtures defined from b2b_async.testing*",
            "b2b_sandbox -- *testing.py:*",
            "    A sandbox B2B Edition server*",
            "b2b_client -- *testing.py:*",
            "    A client of the ``b2b_sandbox`` server*",
        ]
    )


async def test_client_registers_with_the_sandbox(
    b2b_client: B2BClient, b2b_sandbox: SandboxServer
) -> None:
    """An order created through ``b2b_client`` is stored once by ``b2b_sandbox``, as sent."""
    created = await b2b_client.orders.create(
        company_id="1",
        customer_id="1",
        order_id="BC100",
        total_inc_tax=Decimal("259.99"),
        po_number="PO-7",
    )
    assert created == CreatedOrder(order_id="BC100")
    assert b2b_sandbox.registrations("BC100") == 1
    order = b2b_sandbox.orders["BC100"]
    assert (order.company_id, order.customer_id) == (1, 1)
    assert (order.total_inc_tax, order.po_number) == (Decimal("259.99"), "PO-7")


async def test_sandbox_starts_empty_and_open(b2b_sandbox: SandboxServer) -> None:
    """``b2b_sandbox`` starts with no orders, no requests, no window and no faults."""
    assert not b2b_sandbox.orders
    assert not b2b_sandbox.requests
    assert b2b_sandbox.rate is None
    assert b2b_sandbox.faults == Faults()


async def test_client_targets_sandbox_unpaced(
    b2b_client: B2BClient, b2b_sandbox: SandboxServer
) -> None:
    """``b2b_client`` sends the sandbox's token to the sandbox, with no rate limiter."""
    assert b2b_client.base_url == b2b_sandbox.url
    assert b2b_client.limiter is None
    await b2b_client.orders.create(customer_id="1", order_id="BC1", total_inc_tax=1)
    (record,) = b2b_sandbox.requests
    assert record.headers["authToken"] == DEFAULT_TOKEN
    assert record.path == "/api/v2/io/companies/users/1/orders"


async def test_client_retries_quickly(
    b2b_client: B2BClient, b2b_sandbox: SandboxServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Against a sandbox that always answers 503, ``b2b_client`` gives up after waits that
    add up to well within a second (as the client's retry log lines plan them)."""
    b2b_sandbox.faults = Faults(http_503=1.0)
    caplog.set_level(logging.INFO, logger="b2b_async")
    with pytest.raises(ServerError):
        await b2b_client.orders.create(customer_id="1", order_id="BC1", total_inc_tax=1)
    waits = planned_waits(caplog.records)
    assert len(waits) == ATTEMPTS - 1
    # The default policy's four backoff waits alone would take at least 3.75 s.
    assert sum(waits) < 1.0
    assert [record.status for record in b2b_sandbox.requests] == [503] * ATTEMPTS
    assert b2b_sandbox.registrations("BC1") == 0


async def test_lost_answers_register_once(
    b2b_client: B2BClient, b2b_sandbox: SandboxServer
) -> None:
    """When every answer is lost after processing, the order is still registered exactly once."""
    b2b_sandbox.faults = Faults(reset_after=1.0)
    with pytest.raises(APIConnectionError):
        await b2b_client.orders.create(customer_id="1", order_id="BC1", total_inc_tax=1)
    assert [record.status for record in b2b_sandbox.requests] == ["reset"] * ATTEMPTS
    assert b2b_sandbox.registrations("BC1") == 1


def test_an_old_pytest_asyncio_is_named_without_a_traceback(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refusal for a pytest-asyncio too old shows its message alone, no traceback."""
    monkeypatch.delattr(pytest_asyncio, "is_async_test")
    with pytest.raises(pytest.fail.Exception) as caught:
        testing.refuse_sync_test(request, "b2b_sandbox")
    assert caught.value.pytrace is False


def test_a_sync_test_is_refused_without_a_traceback(request: pytest.FixtureRequest) -> None:
    """The refusal of a synchronous test shows its message alone, no traceback."""
    with pytest.raises(pytest.fail.Exception, match="serves async tests only") as caught:
        testing.refuse_sync_test(request, "b2b_client")
    assert caught.value.pytrace is False


def test_a_test_anyio_runs_is_refused_without_a_traceback() -> None:
    """The refusal of a test that asks for ``anyio_backend`` shows its message alone."""
    request = SimpleNamespace(fixturenames=["anyio_backend", "b2b_client"])
    with pytest.raises(pytest.fail.Exception, match=r"Mark it @pytest\.mark\.asyncio") as caught:
        testing.refuse_anyio_test(request, "b2b_client")  # type: ignore[arg-type]
    assert caught.value.pytrace is False


async def test_client_keeps_the_documented_options(b2b_client: B2BClient) -> None:
    """``b2b_client`` retries with ``RetryPolicy(initial_wait=0.01, max_wait=0.1)`` and keeps
    the 30-second timeout."""
    transport = b2b_client._transport
    assert transport.retry == RetryPolicy(initial_wait=0.01, max_wait=0.1)
    assert transport.timeout.total == 30.0


# A project run without pytest-asyncio's plugin, whose module stands in for one not installed.
# Warnings are errors, as in this project's own suite: a synchronous test given an async
# fixture that no plugin runs is a warning before pytest 9 and an error from pytest 9 on.
WITHOUT_ASYNCIO_INI = """
[pytest]
addopts = -p no:cacheprovider -p no:hypothesispytest -p no:asyncio -p no:aiohttp
filterwarnings = error
"""

NO_PYTEST_ASYNCIO = "raise ImportError('No module named pytest_asyncio')\n"

WITHOUT_ASYNCIO_TESTS = """
def test_unrelated():
    assert True


def test_asks_for_the_sandbox(b2b_sandbox):
    assert b2b_sandbox
"""


def test_the_plugin_loads_without_pytest_asyncio(pytester: pytest.Pytester) -> None:
    """Without pytest-asyncio the plugin loads, and only a test asking for a fixture fails."""
    pytester.makeini(WITHOUT_ASYNCIO_INI)
    pytester.makepyfile(pytest_asyncio=NO_PYTEST_ASYNCIO, test_service=WITHOUT_ASYNCIO_TESTS)
    result = pytester.runpytest_subprocess()
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 1
    assert outcomes.get("failed", 0) + outcomes.get("errors", 0) == 1


def test_a_star_import_gives_the_two_fixtures_only() -> None:
    """``from b2b_async.testing import *`` brings the two fixtures and nothing else."""
    names: dict[str, object] = {}
    exec("from b2b_async.testing import *", names)  # noqa: S102 - a fixed statement
    assert sorted(set(names) - {"__builtins__"}) == ["b2b_client", "b2b_sandbox"]
