"""The companies and customers a sandbox knows, and the JSON file that can replace them.

The default store has companies 1 to 100 and customers 1 to 1000; customer ``N`` belongs to
company ``((N - 1) mod 100) + 1``. A JSON file of this shape replaces it::

    {
      "companies": [{"id": 1, "name": "Acme", "customerGroupId": 11}],
      "customers": [{"id": 5, "companyId": 1, "firstName": "Ada", "lastName": "Lovelace",
                     "email": "ada@example.com"}]
    }

Only ``id`` (companies) and ``id`` plus ``companyId`` (customers) are required. A company's
``name`` defaults to ``"Company <id>"`` and its ``customerGroupId`` to its id; a customer's names
default to ``"Customer"`` and ``"<id>"`` and its email to ``customer<id>@sandbox.invalid``. Ids are
positive integers; company ids, customer ids and customer group ids must each be unique, and every
customer's ``companyId`` must name a listed company.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import attrs

__all__ = ["Company", "Customer", "SandboxData"]

_T = TypeVar("_T")

DEFAULT_COMPANIES = 100
DEFAULT_CUSTOMERS = 1000


@attrs.frozen
class Company:
    """A B2B Edition company.

    Args:
        id: the company id, a positive integer.
        name: the company's name, shown by the order listing and "Get Company By BC OrderId".
        customer_group_id: the BigCommerce customer group the company is tied to; "Update B2BE
            user's orders' company attribute" finds the target company through it.

    .. versionadded:: 0.1.0
    """

    id: int
    name: str
    customer_group_id: int


@attrs.frozen
class Customer:
    """A B2B Edition user (a BigCommerce customer) and the company it belongs to.

    Args:
        id: the BigCommerce customer id, a positive integer.
        company_id: the company the customer belongs to.
        first_name: shown in the company order listing.
        last_name: shown in the company order listing.
        email: the customer's email address.

    .. versionadded:: 0.1.0
    """

    id: int
    company_id: int
    first_name: str = "Customer"
    last_name: str = ""
    email: str = ""


def _unique(values: Iterable[int], what: str) -> None:
    seen: set[int] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value}")
        seen.add(value)


def _check_consistent(data: SandboxData) -> None:
    _unique((company.id for company in data.companies), "company id")
    _unique((company.customer_group_id for company in data.companies), "customer group id")
    _unique((customer.id for customer in data.customers), "customer id")
    known = {company.id for company in data.companies}
    for customer in data.customers:
        if customer.company_id not in known:
            raise ValueError(f"customer {customer.id}: unknown companyId {customer.company_id}")


def _field(
    raw: Mapping[str, Any], key: str, kind: type[_T], where: str, default: _T | None = None
) -> _T:
    """Read one typed field of a data file entry, naming the entry when it is wrong."""
    value = raw.get(key, default)
    # bool is an int subclass; an id of `true` is a mistake, not the number 1.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"{where}.{key}: expected {kind.__name__}, got {value!r}")
    return value


def _id(raw: Mapping[str, Any], key: str, where: str, default: int | None = None) -> int:
    value = _field(raw, key, int, where, default)
    if value <= 0:
        raise ValueError(f"{where}.{key}: expected a positive id, got {value!r}")
    return value


def _company_from(raw: Mapping[str, Any], where: str) -> Company:
    company_id = _id(raw, "id", where)
    return Company(
        id=company_id,
        name=_field(raw, "name", str, where, f"Company {company_id}"),
        customer_group_id=_id(raw, "customerGroupId", where, company_id),
    )


def _customer_from(raw: Mapping[str, Any], where: str) -> Customer:
    customer_id = _id(raw, "id", where)
    return Customer(
        id=customer_id,
        company_id=_id(raw, "companyId", where),
        first_name=_field(raw, "firstName", str, where, "Customer"),
        last_name=_field(raw, "lastName", str, where, str(customer_id)),
        email=_field(raw, "email", str, where, f"customer{customer_id}@sandbox.invalid"),
    )


def _entries(
    raw: Mapping[str, Any], key: str, build: Callable[[Mapping[str, Any], str], _T]
) -> tuple[_T, ...]:
    items = raw.get(key)
    if not isinstance(items, list):
        raise ValueError(f"{key}: expected a list of objects")
    built = []
    for index, item in enumerate(items):
        where = f"{key}[{index}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: expected an object, got {item!r}")
        built.append(build(item, where))
    return tuple(built)


def _tuple_of_companies(companies: Iterable[Company]) -> tuple[Company, ...]:
    return tuple(companies)


def _tuple_of_customers(customers: Iterable[Customer]) -> tuple[Customer, ...]:
    return tuple(customers)


@attrs.frozen
class SandboxData:
    """The companies and customers a sandbox starts with.

    :meth:`default` builds the default store; :meth:`from_file` loads a JSON document like::

        {
          "companies": [{"id": 1, "name": "Acme", "customerGroupId": 11}],
          "customers": [{"id": 5, "companyId": 1, "firstName": "Ada", "lastName": "Lovelace",
                         "email": "ada@example.com"}]
        }

    Only the ids and each customer's ``companyId`` are required; a company's ``name`` defaults to
    ``"Company <id>"`` and its ``customerGroupId`` to its id; a customer's names default to
    ``"Customer"`` and ``"<id>"``, its email to ``customer<id>@sandbox.invalid``.

    The value is immutable; a running sandbox copies it into its own state, so moving a customer
    to another company at run time never changes the value it was started with.

    Args:
        companies: every company of the store.
        customers: every customer of the store, each naming its company.

    Raises:
        ValueError: duplicate ids or customer group ids, or a customer of an unknown company.

    .. versionadded:: 0.1.0
    """

    companies: tuple[Company, ...] = attrs.field(converter=_tuple_of_companies)
    customers: tuple[Customer, ...] = attrs.field(converter=_tuple_of_customers)

    def __attrs_post_init__(self) -> None:
        _check_consistent(self)

    @classmethod
    def default(
        cls, companies: int = DEFAULT_COMPANIES, customers: int = DEFAULT_CUSTOMERS
    ) -> SandboxData:
        """Build the default store: companies ``1..companies``, customers spread over them.

        Customer ``N`` belongs to company ``((N - 1) mod companies) + 1``; company ``N`` is named
        ``"Company N"`` and has customer group id ``N``.

        Args:
            companies: how many companies.
            customers: how many customers.

        Returns:
            The data.

        .. versionadded:: 0.1.0
        """
        return cls(
            companies=[
                Company(id=n, name=f"Company {n}", customer_group_id=n)
                for n in range(1, companies + 1)
            ],
            customers=[
                Customer(
                    id=n,
                    company_id=(n - 1) % companies + 1,
                    last_name=str(n),
                    email=f"customer{n}@sandbox.invalid",
                )
                for n in range(1, customers + 1)
            ],
        )

    @classmethod
    def from_dict(cls, raw: object) -> SandboxData:
        """Build the data from a decoded JSON document (the format in the module docstring).

        Args:
            raw: the decoded document.

        Returns:
            The data.

        Raises:
            ValueError: the document does not have the documented shape; the message names the
                offending entry, e.g. ``customers[3].companyId``.

        .. versionadded:: 0.1.0
        """
        if not isinstance(raw, dict):
            raise ValueError("sandbox data: expected a JSON object with companies and customers")
        return cls(
            companies=_entries(raw, "companies", _company_from),
            customers=_entries(raw, "customers", _customer_from),
        )

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> SandboxData:
        """Load the data from a JSON file (the format in the module docstring).

        Args:
            path: the file.

        Returns:
            The data.

        Raises:
            OSError: the file cannot be read.
            ValueError: the file is not JSON or does not have the documented shape.

        .. versionadded:: 0.1.0
        """
        with open(path, encoding="utf-8") as handle:
            try:
                raw = json.load(handle)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{os.fspath(path)}: not valid JSON: {exc}") from exc
            except UnicodeDecodeError as exc:  # before ValueError, of which it is one
                raise ValueError(f"{os.fspath(path)}: not UTF-8 text: {exc}") from None
            except ValueError:  # an integer past Python's limit on the digits it converts
                raise ValueError(f"{os.fspath(path)}: holds a number too long to read") from None
            except RecursionError:
                raise ValueError(f"{os.fspath(path)}: nested too deeply to be data") from None
        return cls.from_dict(raw)
