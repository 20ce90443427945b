"""Offset pagination: one walk over a listing's pages, with a page reader per API version.

The walk (:func:`walk_offsets`), the same for V2 and V3:

- each page is asked for with ``limit`` (the page size) and ``offset`` (the number of items
  received so far, not pages times size, so a server that caps ``limit`` below the page size
  still gets every item exactly once);
- it stops at the first empty page, or once ``totalCount`` items have arrived, or, where
  the API never caps ``limit`` (V3), at a page shorter than ``limit`` when no count came;
  a negative ``totalCount`` counts nothing (``-1`` often stands for "unknown") and is read
  as no count, so it cannot end a listing after its first page;
- it fails (:class:`~b2b_async.ResponseDecodeError`) when, short of the end, two pages in a
  row (:data:`MOST_REPEATS`) bring no item but those of the pages just before
  (:data:`REMEMBERED_PAGES`), in any order (compared by the reader's ``key``, an item's
  id): a server that ignores ``offset`` answers every request with the first page, in an
  order a listing without a sort need not keep, or cycles through a few pages, and a walk
  the caller iterates would never end; a single repeat is a live listing shifted by new
  items, and is read;
- a walk the library drives itself (not one the caller iterates) is given a bound, ``most``:
  it fails (:class:`~b2b_async.ResponseDecodeError`) at a page that brings it past that many
  items, and asks for no more pages than they fill, plus one to see the end, since a server
  whose pages never end, or hold one item each, would otherwise keep it going forever.

Wire decisions of the readers:

- a V2 listing's ``data`` is ``{"list": [...], "pagination": {"limit", "offset",
  "totalCount"}}``; "Get Company Orders"'s example spells the second member ``paginator``:
  both are read (:class:`V2PageReader`); a ``data`` that describes nothing (``null``, ``{}``
  or ``[]``, :func:`~b2b_async._serde.is_empty`) is an empty page;
- a V3 listing's ``data`` is the list of items and its position is in
  ``meta.pagination``, or in ``meta`` itself as the published example of "Get All Orders"
  has it (:class:`V3PageReader`).
"""

from __future__ import annotations

import collections
import math
from collections.abc import AsyncGenerator, Callable, Hashable, Iterable, Mapping
from typing import Any, Final, Generic, Protocol, TypeVar

import attrs
from multidict import MultiDict

from ._config import MAX_PAGE_SIZE, MAX_V3_PAGE_SIZE, Priority, check_positive_int
from ._exceptions import InvalidOrderError, ResponseDecodeError
from ._protocol import Envelope, Request
from ._serde import is_empty, one_or_many, structure, wire
from ._transport import Transport

__all__ = [
    "MOST_REPEATS",
    "REMEMBERED_PAGES",
    "ListingItems",
    "Page",
    "PageItems",
    "PageReader",
    "Pagination",
    "V2PageReader",
    "V3PageReader",
    "check_page_size",
    "check_v3_page_size",
    "is_last_page",
    "repeated",
    "unended",
    "walk_offsets",
]

T = TypeVar("T")

#: Pages in a row that repeat the items of the page before, after which a listing that has
#: not ended fails. One repeat happens in a live listing: as many new items as a page holds
#: arrive between two requests and shift it. A server that ignores ``offset`` repeats for ever.
MOST_REPEATS: Final = 2
#: Pages whose items a walk remembers: a page that brings none but theirs is a repeat, so a
#: server cycling through that many pages fails as one answering the first page for ever.
REMEMBERED_PAGES: Final = 8


@attrs.frozen
class Pagination:
    """A listing's position: the page's limit and offset, and how many items match."""

    limit: int | None = None
    offset: int | None = None
    total_count: int | None = None


@attrs.frozen
class Page(Generic[T]):
    """One page of a V2 listing: its ``data`` object."""

    items: tuple[T, ...] = attrs.field(default=(), metadata=wire("list"))
    pagination: Pagination | None = attrs.field(default=None, metadata=wire(aliases=["paginator"]))


@attrs.frozen
class PageItems(Generic[T]):
    """What a page reader found in one answer: the items, and how many match, if it says.

    Attributes:
        items: the page's items.
        total_count: the number of items of the whole listing, when the answer tells.
    """

    items: tuple[T, ...]
    total_count: int | None = None


class PageReader(Protocol[T]):
    """Reads one page's answer into its items and count, for one API version."""

    @property
    def short_page_is_last(self) -> bool:
        """Whether a page shorter than ``limit`` ends a listing that gives no count."""

    @property
    def key(self) -> Callable[[T], Hashable]:
        """An item's identity in the listing, by which the walk tells a page repeated."""

    def __call__(self, envelope: Envelope) -> PageItems[T]:
        """Read one answer."""


def check_page_size(value: object) -> int:
    """Return ``value`` when it is an ``int`` from 1 to 100,000, a V2 listing's page size.

    Raises:
        InvalidOrderError: it is not.
    """
    return check_positive_int(value, "page_size", error=InvalidOrderError, most=MAX_PAGE_SIZE)


def check_v3_page_size(value: object) -> int:
    """Return ``value`` when it is an ``int`` from 1 to 200, the range V3 listings accept.

    Raises:
        InvalidOrderError: it is not.
    """
    return check_positive_int(value, "page_size", error=InvalidOrderError, most=MAX_V3_PAGE_SIZE)


@attrs.frozen
class ListingItems(Generic[T]):
    """What a page reader knows of a listing's items, whatever the API version.

    Attributes:
        item_type: the model of each item.
        key: an item's identity in the listing (its id), by which the walk tells a page
            repeated; by default its ``repr``.
    """

    item_type: type[T]
    key: Callable[[T], Hashable] = repr


@attrs.frozen
class V2PageReader(ListingItems[T]):
    """Reads a V2 listing's page: ``data`` holds ``list`` and ``pagination`` (or ``paginator``).

    A short page is not the last one: the server may cap ``limit`` below the page size. A
    ``data`` that describes nothing (``null``, ``{}``, ``[]``) is an empty page.
    """

    short_page_is_last: bool = attrs.field(default=False, init=False)

    def __call__(self, envelope: Envelope) -> PageItems[T]:
        data = {} if is_empty(envelope.data) else envelope.data
        page = structure(data, Page[self.item_type])  # type: ignore[name-defined]
        total = page.pagination.total_count if page.pagination is not None else None
        return PageItems(page.items, total)


@attrs.frozen
class V3PageReader(ListingItems[T]):
    """Reads a V3 listing's page: the items in ``data``, the count in ``meta``.

    Without a count, a short page is the last one: V3 never caps ``limit``.
    """

    short_page_is_last: bool = attrs.field(default=True, init=False)

    def __call__(self, envelope: Envelope) -> PageItems[T]:
        items = tuple(one_or_many(envelope.data, self.item_type))
        pagination = _v3_pagination(envelope.meta)
        return PageItems(items, pagination.total_count if pagination is not None else None)


def _v3_pagination(meta: Mapping[str, Any]) -> Pagination | None:
    if not meta:
        return None
    inner = meta.get("pagination")
    where = "$.meta.pagination" if isinstance(inner, Mapping) else "$.meta"
    return structure(inner if isinstance(inner, Mapping) else meta, Pagination, path=where)


def is_last_page(
    page: PageItems[Any], received: int, page_size: int, short_page_is_last: bool
) -> bool:
    """The walk's stop rules (see the module).

    Args:
        page: the page just read.
        received: the items received so far, this page's included.
        page_size: the ``limit`` asked for.
        short_page_is_last: whether a page shorter than ``limit`` ends a listing without
            a count (only where the server never caps ``limit``).

    Returns:
        Whether to stop.
    """
    if not page.items:
        return True
    if page.total_count is not None and page.total_count >= 0:  # a negative count is none
        return received >= page.total_count
    return short_page_is_last and len(page.items) < page_size


async def walk_offsets(
    transport: Transport,
    path: str,
    query: Iterable[tuple[str, str]],
    read: PageReader[T],
    page_size: int,
    priority: Priority | None = None,
    *,
    most: int | None = None,
) -> AsyncGenerator[T, None]:
    """Yield every item of a listing, one request per page, through the transport.

    Args:
        transport: the client's transport (pacing, retries and errors apply to each page).
        path: the listing's path.
        query: the listing's filters, repeated names allowed; ``limit`` and ``offset`` are
            added here.
        read: the version's page reader (:class:`V2PageReader`, :class:`V3PageReader`).
        page_size: the ``limit`` of each request.
        priority: the listing's own priority, or ``None`` for the default of each request.
        most: the most items the walk reads, or ``None`` for no bound (a walk the caller
            iterates, and may stop, itself). A bounded walk also asks for no more pages than
            ``most`` items fill, and one more to see the end.

    Raises:
        ResponseDecodeError: the listing did not end within ``most`` items, or within the
            pages they fill; nothing of a page past the bound is yielded.
        B2BError: a page could not be fetched; the items yielded before stand.
    """
    filters = list(query)
    received = pages = repeats = 0
    recent: collections.deque[frozenset[Hashable]] = collections.deque(maxlen=REMEMBERED_PAGES)
    while True:
        if most is not None and pages > math.ceil(most / page_size):  # the pages most items fill
            raise unended(path, most)
        window = MultiDict([*filters, ("limit", str(page_size)), ("offset", str(received))])
        page = read(await transport.send(Request("GET", path, window), priority))
        keys = frozenset(map(read.key, page.items))
        repeats = repeats + 1 if page.items and keys <= frozenset().union(*recent) else 0
        received, pages = received + len(page.items), pages + 1
        recent.append(keys)
        if most is not None and received > most:
            raise unended(path, most)
        last = is_last_page(page, received, page_size, read.short_page_is_last)
        if repeats >= MOST_REPEATS and not last:
            raise repeated(path, received)
        for item in page.items:
            yield item
        if last:
            return


def repeated(path: str, offset: int) -> ResponseDecodeError:
    """The failure of a walk whose server answered new offsets with the items of the pages
    before, again and again: one that ignores ``offset`` would do so for as long as the
    caller iterates."""
    return ResponseDecodeError(
        f"the listing {path} answered {MOST_REPEATS} offsets in a row, up to {offset}, with"
        " none but the items of the page before or of the pages before it"
    )


def unended(path: str, most: int) -> ResponseDecodeError:
    """The failure of a bounded walk over a listing that did not end within ``most`` items."""
    return ResponseDecodeError(f"the listing {path} did not end within {most} items")
