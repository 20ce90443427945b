"""Tests of ``b2b_async/sandbox/__init__.py``: its public names, its promise to share no code
with the client side, and the example of its docstring.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import aiohttp

import b2b_async.sandbox
from b2b_async.sandbox import FaultKind, RateWindow, SandboxServer, parse_faults
from tests.sandbox._helpers import V2_HEADERS
from tests.sandbox_helpers import seed_for

PACKAGE = Path(b2b_async.sandbox.__file__).parent


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """The (relative level, module) of every import in a source file; level 0 is absolute."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
        elif isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
    return found


def test_all_names_exactly_what_the_package_imports() -> None:
    """Every name the package takes from its modules is exported, every exported name is one
    it takes, and each resolves to the object its module defines."""
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    imported = {
        alias.asname or alias.name: node.module or ""
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert set(imported) == set(b2b_async.sandbox.__all__)
    for name, module in imported.items():
        source = importlib.import_module(f"b2b_async.sandbox.{module}")
        assert getattr(b2b_async.sandbox, name) is getattr(source, name)


def test_the_sandbox_imports_nothing_from_the_client_side() -> None:
    """Every import of the sandbox stays inside ``b2b_async.sandbox``: it shares no code with
    the client, so a misreading of the API on either side cannot hide behind the other."""
    outside = [
        (path.name, level, module)
        for path in sorted(PACKAGE.glob("*.py"))
        for level, module in imported_modules(path)
        if level > 1 or (level == 0 and module.split(".")[0] == "b2b_async")
    ]
    assert outside == []


async def test_the_docstring_example_registers_its_order_once() -> None:
    """The package docstring's sandbox, its 5 % of 500s drawn so the first request fails: the
    500 registers nothing, the request sent again registers ``BC1``, once."""
    faults = parse_faults("500=0.05")
    seed = seed_for(faults, [FaultKind.HTTP_500, None])
    body = {"orderId": "BC1", "totalIncTax": 10}
    async with SandboxServer(rate=RateWindow(40, 1.0), faults=faults, seed=seed) as server:
        url = server.url + "/api/v2/io/companies/1/user/1/orders"
        async with aiohttp.ClientSession(headers=V2_HEADERS) as session:
            async with session.post(url, json=body) as failed:
                failed_status = failed.status
            registered_after_failure = server.registrations("BC1")
            async with session.post(url, json=body) as succeeded:
                succeeded_status = succeeded.status
    assert (failed_status, registered_after_failure) == (500, 0)
    assert succeeded_status == 200
    assert server.registrations("BC1") == 1
