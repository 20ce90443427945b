"""Tests of ``b2b_async/sandbox/_data.py``: the default companies and customers, and the data
file that replaces them.
"""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import pytest

from b2b_async.sandbox import Company, Customer, Sandbox, SandboxData, SandboxServer
from tests.sandbox._helpers import CREATE, call, order


def test_default_data() -> None:
    """Companies 1..100, customers 1..1000, customer N in company ((N - 1) mod 100) + 1."""
    data = SandboxData.default()
    assert len(data.companies) == 100
    assert len(data.customers) == 1000
    assert data.companies[4] == Company(id=5, name="Company 5", customer_group_id=5)
    assert data.customers[204].company_id == 5
    assert data.customers[99].company_id == 100


async def test_data_file_replaces_the_defaults(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    """A data file replaces the default companies and customers."""
    path = tmp_path / "store.json"
    path.write_text(
        json.dumps(
            {
                "companies": [{"id": 9, "name": "Acme", "customerGroupId": 90}, {"id": 10}],
                "customers": [{"id": 77, "companyId": 9, "firstName": "Ada", "lastName": "L"}],
            }
        )
    )
    data = SandboxData.from_file(path)
    assert data.companies == (Company(9, "Acme", 90), Company(10, "Company 10", 10))
    assert data.customers == (Customer(77, 9, "Ada", "L", "customer77@sandbox.invalid"),)
    async with SandboxServer(data=data) as server:
        known = await call(session, server, "/companies/9/user/77/orders")
        default_gone = await call(session, server, CREATE, body=order("D"))
    assert known.status == 200
    assert default_gone.status == 404


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "expected a JSON object"),
        ({"companies": []}, "customers: expected a list"),
        ({"companies": [1], "customers": []}, r"companies\[0\]: expected an object"),
        ({"companies": [{"id": "1"}], "customers": []}, r"companies\[0\].id: expected int"),
        ({"companies": [{"id": True}], "customers": []}, r"companies\[0\].id: expected int"),
        ({"companies": [{"id": 0}], "customers": []}, "expected a positive id"),
        ({"companies": [{"id": 1, "name": 5}], "customers": []}, "name: expected str"),
        ({"companies": [{"id": 1}, {"id": 1}], "customers": []}, "duplicate company id 1"),
        (
            {"companies": [{"id": 1}, {"id": 2, "customerGroupId": 1}], "customers": []},
            "duplicate customer group id 1",
        ),
        (
            {"companies": [{"id": 1}], "customers": [{"id": 1, "companyId": 1}] * 2},
            "duplicate customer id 1",
        ),
        ({"companies": [], "customers": [{"id": 1, "companyId": 3}]}, "unknown companyId 3"),
        ({"companies": [], "customers": [{"id": 1}]}, r"customers\[0\].companyId: expected int"),
    ],
)
def test_bad_data_documents_are_refused(document: object, message: str) -> None:
    """A data document of the wrong shape raises ValueError naming the culprit."""
    with pytest.raises(ValueError, match=message):
        SandboxData.from_dict(document)


def test_data_file_that_is_not_json(tmp_path: Path) -> None:
    """A data file that is not JSON raises ValueError naming the file."""
    path = tmp_path / "broken.json"
    path.write_text("{")
    with pytest.raises(ValueError, match=r"broken\.json: not valid JSON"):
        SandboxData.from_file(path)


def test_data_file_that_is_not_utf8_says_so(tmp_path: Path) -> None:
    """A data file with a byte that is not UTF-8 is refused as such, not as a long number."""
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"companies": [{"id": 1, "name": "Caf\xe9"}], "customers": []}')
    with pytest.raises(ValueError, match=r"latin1\.json: not UTF-8 text"):
        SandboxData.from_file(path)


def test_data_file_with_a_number_too_long_to_read(tmp_path: Path) -> None:
    """A 5,000-digit number raises ValueError naming the file, not Python's digit limit."""
    path = tmp_path / "long.json"
    path.write_text('{"companies": [{"id": ' + "9" * 5000 + "}]}")
    with pytest.raises(ValueError, match=r"long\.json: holds a number too long to read"):
        SandboxData.from_file(path)


def test_data_file_nested_too_deeply(tmp_path: Path) -> None:
    """A data file nested past what the parser reads raises ValueError naming the file."""
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match=r"deep\.json: nested too deeply"):
        SandboxData.from_file(path)


def test_default_data_spreads_customers_over_the_companies_asked() -> None:
    """With other sizes, customer N still belongs to company ((N - 1) mod companies) + 1."""
    data = SandboxData.default(companies=3, customers=7)
    assert [company.id for company in data.companies] == [1, 2, 3]
    assert [customer.company_id for customer in data.customers] == [1, 2, 3, 1, 2, 3, 1]


def test_moving_a_customer_leaves_the_data_a_sandbox_started_with() -> None:
    """A sandbox copies its data: moving a customer at run time changes the sandbox, not the
    value it was given, so another sandbox started from it sees the customer where it was."""
    data = SandboxData.default(companies=2, customers=2)
    first = Sandbox(data=data)
    first.move_customer(1, 2)
    second = Sandbox(data=data)
    assert data.customers[0].company_id == 1
    assert first.state.customer(1) == Customer(1, 2, "Customer", "1", "customer1@sandbox.invalid")
    assert second.state.customer(1) == data.customers[0]
