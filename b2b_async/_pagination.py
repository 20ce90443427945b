"""Offset pagination of the V2 listings, as one async iterator over every item.

Wire decisions made here:

- a listing's ``data`` is ``{"list": [...], "pagination": {"limit", "offset", "totalCount"}}``;
  "Get Company Orders"'s example spells the second member ``paginator``: both are read;
- each page is asked for with ``limit`` (the page size) and ``offset`` (the number of items
  received so far, not pages times size, so a server that caps ``limit`` below the page size
  still gets every item exactly once);
- the walk stops when ``totalCount`` items have arrived, or at the first empty page (a listing
  without ``totalCount`` costs one more request).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import Generic, TypeVar

import attrs

from ._config import check_positive_int
from ._exceptions import InvalidOrderError
from ._protocol import Request
from ._serde import structure, wire
from ._transport import Transport

__all__ = ["Page", "Pagination", "check_page_size", "paginate"]

T = TypeVar("T")


@attrs.frozen
class Pagination:
    """A listing's position: the page's limit and offset, and how many items match."""

    limit: int | None = None
    offset: int | None = None
    total_count: int | None = None


@attrs.frozen
class Page(Generic[T]):
    """One page of a listing."""

    items: tuple[T, ...] = attrs.field(default=(), metadata=wire("list"))
    pagination: Pagination | None = attrs.field(default=None, metadata=wire(aliases=["paginator"]))


def check_page_size(value: object) -> int:
    """Return ``value`` when it is a positive ``int``.

    Raises:
        InvalidOrderError: it is not.
    """
    return check_positive_int(value, "page_size", error=InvalidOrderError)


def _finished(page: Page[T], received: int) -> bool:
    total = page.pagination.total_count if page.pagination is not None else None
    return not page.items or (total is not None and received >= total)


async def paginate(
    transport: Transport,
    path: str,
    query: Mapping[str, str],
    page_type: type[Page[T]],
    page_size: int,
) -> AsyncGenerator[T, None]:
    """Yield every item of a listing, one request per page, through the transport.

    Args:
        transport: the client's transport (pacing, retries and errors apply to each page).
        path: the listing's path.
        query: the listing's filters; ``limit`` and ``offset`` are added here.
        page_type: the page model, e.g. ``Page[CompanyOrder]``.
        page_size: the ``limit`` of each request.

    Raises:
        B2BError: a page could not be fetched; the items yielded before stand.
    """
    received = 0
    while True:
        window = {**query, "limit": str(page_size), "offset": str(received)}
        data = (await transport.send(Request("GET", path, window))).data
        page = structure(data, page_type)
        for item in page.items:
            yield item
        received += len(page.items)
        if _finished(page, received):
            return
