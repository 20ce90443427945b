"""The V3 Order API, reached as ``client.v3.orders``: one method per operation.

Every call goes through the client's one transport, so pacing, the concurrency cap, retries,
the error tree and the authentication headers apply exactly as to V2 calls. Wire decisions
made here:

- paths live under ``/api/v3/io``; ids are positive integers, checked before anything is
  sent (:class:`~b2b_async.InvalidOrderError` otherwise);
- the V3 envelope is ``{"code", "data", "meta": {"message", "pagination"}}``; a listing's
  position is read from ``meta.pagination``, or from ``meta`` itself as the published
  example of "Get All Orders" has it;
- time filters go out as Unix seconds (``minCreated``, ``maxModified``, ...), ``showExtra``
  as ``true`` (left out when false), channels as repeated ``channelIds[]`` parameters, the
  sort direction as ``ASC``/``DESC``;
- "Get an Order" and "Update an Order" document ``data`` as an array holding the order; an
  object is read as the order too;
- the create answer's ``data`` is the order; a registration answered "The order already
  exists." after an uncertain earlier attempt of the same call (or anywhere in a bulk run) is
  returned as :meth:`V3Order.sent <b2b_async.V3Order.sent>` with ``already_registered=True``
  (no further request: the attempt that timed out or was cut off registered it);
- a registration must reach the API within 10 seconds of the BigCommerce order's creation;
  a bulk registration still being attempted later than that (its retries, or waits for
  budget, took it past the window) is logged at WARNING on the ``b2b_async`` logger, since
  the API then answers "The order already exists." without applying the PO number or extra
  fields sent.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
import logging
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from datetime import datetime
from typing import Final, Literal

import attrs

from ._bulk import BulkReport, OrderOutcome, OutcomeStream, Register, Source, run_bulk
from ._config import DEFAULT_V3_PAGE_SIZE, MAX_V3_PAGE_SIZE, REGISTRATION_WINDOW, Priority
from ._exceptions import B2BError, InvalidOrderError, ResponseDecodeError
from ._pagination import V3PageReader, check_v3_page_size, walk_offsets
from ._priority import call_priority
from ._protocol import Request
from ._retry import settle_registration
from ._routes import to_v3_id, v3_path
from ._serde import encode_model, one_or_many, structure
from ._transport import Transport
from ._v3_models import (
    ExtraFieldConfig,
    ExtraFieldsInput,
    GroupMove,
    MovedOrders,
    NewV3Order,
    V3Order,
    V3OrderProduct,
    V3OrderUpdate,
)

__all__ = ["V3Orders", "V3Resources", "unix_seconds", "warn_if_late"]

logger: Final = logging.getLogger("b2b_async")
#: The clock that times V3 bulk registrations (monotonic seconds); tests replace it.
clock: Callable[[], float] = time.monotonic

SortBy = Literal["createdAt", "updatedAt"]
SortOrder = Literal["asc", "desc"]
_SORT_BY: Final = frozenset({"createdAt", "updatedAt"})
_SORT_ORDER: Final = frozenset({"asc", "desc"})


def unix_seconds(value: object, field: str) -> int | None:
    """A time filter as whole Unix seconds; ``None`` stays ``None``.

    Raises:
        InvalidOrderError: not a ``datetime``, or a naive one (its Unix time is undefined).
    """
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidOrderError(f"{field} must be a datetime, got {type(value).__name__}")
    if value.utcoffset() is None:
        raise InvalidOrderError(f"{field} must be an aware datetime (give it a tzinfo)")
    return int(value.timestamp())


def _time_filters(**bounds: datetime | None) -> dict[str, int]:
    """``minCreated``/``maxCreated``/``minModified``/``maxModified``, each range checked."""
    names = {
        "created_after": "minCreated",
        "created_before": "maxCreated",
        "modified_after": "minModified",
        "modified_before": "maxModified",
    }
    seconds = {field: unix_seconds(value, field) for field, value in bounds.items()}
    for kind in ("created", "modified"):
        low, high = seconds[f"{kind}_after"], seconds[f"{kind}_before"]
        if low is not None and high is not None and low > high:
            raise InvalidOrderError(f"{kind}_after is later than {kind}_before")
    return {names[field]: value for field, value in seconds.items() if value is not None}


def _choice(value: object, allowed: frozenset[str], field: str) -> str:
    if value not in allowed:
        names = ", ".join(sorted(allowed))
        raise InvalidOrderError(f"{field} must be one of {names}, got {value!r}")
    return str(value)


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _sorting(sort_by: object, order: object) -> builtins.list[tuple[str, str]]:
    """``sortBy`` and ``orderBy`` (``ASC``/``DESC``), each checked."""
    return [
        ("sortBy", _choice(sort_by, _SORT_BY, "sort_by")),
        ("orderBy", _choice(_lower(order), _SORT_ORDER, "order").upper()),
    ]


def _id_filters(company_id: object, bc_order_id: object) -> builtins.list[tuple[str, str]]:
    """``companyId`` and ``bcOrderId``, each left out when ``None``."""
    ids = {"companyId": ("company_id", company_id), "bcOrderId": ("bc_order_id", bc_order_id)}
    return [
        (name, str(to_v3_id(value, field=field)))
        for name, (field, value) in ids.items()
        if value is not None
    ]


def _channel_ids(value: Iterable[int | str] | int | str | None) -> list[int]:
    if value is None:
        return []
    many = [value] if isinstance(value, int | str) else value
    return [to_v3_id(channel, field="channel_ids") for channel in many]


def _only_order(data: object) -> V3Order:
    orders = one_or_many(data, V3Order)
    if not orders:
        raise ResponseDecodeError("response does not fit V3Order: no order in data", path="$.data")
    return orders[0]


def warn_if_late(order: NewV3Order, started: float) -> None:
    """Log a registration that ended past the API's 10-second window (see the module).

    Args:
        order: the registration.
        started: when it began, by :data:`clock`.
    """
    elapsed = clock() - started
    if elapsed > REGISTRATION_WINDOW:
        logger.warning(
            "V3 registration of order %s took %.1f s, past the API's %.0f-second window: an "
            "attempt after its first may have arrived too late, and then the PO number and "
            "extra fields sent were not applied (check with client.v3.orders.get)",
            order.bc_order_id,
            elapsed,
            REGISTRATION_WINDOW,
        )


def _is_empty(data: object) -> bool:
    """Whether an answer's ``data`` describes nothing (``null``, ``{}`` or ``[]``)."""
    return data is None or (isinstance(data, Mapping | builtins.list) and not data)


def _created(order: NewV3Order, data: object) -> V3Order:
    """The registered order from a create answer, with the customer that was sent."""
    if _is_empty(data):
        return V3Order.sent(order)  # a 200 without the order: what was sent is what stands
    created = _only_order(data)
    if created.customer_id is None:  # V3 answers do not carry it
        created = attrs.evolve(created, customer_id=order.customer_id)
    return created


class V3Resources:
    """The V3 API, reached as ``client.v3``.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_orders",)

    def __init__(self, transport: Transport) -> None:
        self._orders = V3Orders(transport)

    @property
    def orders(self) -> V3Orders:
        """The V3 Order operations."""
        return self._orders


class V3Orders:
    """The V3 Order operations, reached as ``client.v3.orders``.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_configs", "_configs_lock", "_transport")

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._configs: tuple[ExtraFieldConfig, ...] | None = None
        self._configs_lock = asyncio.Lock()

    async def create(
        self,
        *,
        bc_order_id: int | str,
        customer_id: int | str,
        po_number: str | None = None,
        extra_fields: ExtraFieldsInput = None,
        priority: Priority | str | None = None,
    ) -> V3Order:
        """Register a BigCommerce order with B2B Edition ("Create an Order", ``POST /orders``).

        The company and the total come from the BigCommerce order and the customer's company;
        this call adds the PO number and the extra fields. It must reach the API within 10
        seconds of the BigCommerce order's creation: later, B2B Edition has registered the
        order by itself and answers "The order already exists." (see :doc:`/v3`).

        Args:
            bc_order_id: the BigCommerce order id.
            customer_id: the BigCommerce customer id of the company user who placed it.
            po_number: the purchase-order number, if any.
            extra_fields: the order's extra field values, as ``{name: value}`` or an iterable
                of :class:`~b2b_async.ExtraField`.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        Returns:
            The registered order as the API describes it (``customer_id`` as sent). When an
            earlier attempt of this same call (one that timed out or was cut off) registered
            it, ``already_registered`` is ``True`` and the attributes hold what was sent.

        Raises:
            InvalidOrderError: an argument is invalid; nothing was sent.
            OrderAlreadyExistsError: the order was registered before this call, by an earlier
                call or by B2B Edition itself once the 10 seconds had passed; the PO number
                and extra fields sent were then not applied (use :meth:`update`).
            BadRequestError: the API rejected the request.
            B2BError: any other failure, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        order = NewV3Order(bc_order_id, customer_id, po_number, extra_fields)
        return await self.register(order, priority=priority)

    async def register(
        self, order: NewV3Order, *, priority: Priority | str | None = None
    ) -> V3Order:
        """Register an already validated :class:`~b2b_async.NewV3Order`, as :meth:`create`.

        For callers that build their orders up front; the bulk methods call it for each input.

        Args:
            order: the registration.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        Returns:
            The registered order, as :meth:`create` returns it.

        Raises:
            InvalidOrderError: ``order`` is not a :class:`~b2b_async.NewV3Order`.
            B2BError: as :meth:`create`.

        .. versionadded:: 0.1.0
        """
        return await self._settle(order, call_priority(priority), in_bulk=False)

    async def _register_in_bulk(self, order: NewV3Order, priority: Priority) -> V3Order:
        """Register one order of a bulk run; log it when it ended past the 10-second window.

        In a bulk run, "already exists" always means registered. The warning does not depend
        on the outcome: a late failure is logged too.
        """
        started = clock()
        try:
            registered = await self._settle(order, priority, in_bulk=True)
        except B2BError:
            warn_if_late(order, started)
            raise
        warn_if_late(order, started)
        return registered

    async def _settle(
        self, order: NewV3Order, priority: Priority | None, *, in_bulk: bool
    ) -> V3Order:
        """Register ``order``, reading "already exists" by :func:`settle_registration`'s rule."""
        if not isinstance(order, NewV3Order):
            raise InvalidOrderError(f"expected a NewV3Order, got {type(order).__name__}")
        return await settle_registration(
            self._send_registration(order, priority),
            lambda: V3Order.sent(order, already_registered=True),
            in_bulk=in_bulk,
        )

    async def _send_registration(self, order: NewV3Order, priority: Priority | None) -> V3Order:
        """Send the registration and read the registered order from the answer."""
        request = Request("POST", v3_path("/orders"), body=encode_model(order))
        return _created(order, (await self._transport.send(request, priority)).data)

    def list(
        self,
        *,
        company_id: int | str | None = None,
        bc_order_id: int | str | None = None,
        sort_by: SortBy = "updatedAt",
        order: SortOrder = "desc",
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        modified_after: datetime | None = None,
        modified_before: datetime | None = None,
        channel_ids: Iterable[int | str] | int | str | None = None,
        show_extra: bool = False,
        page_size: int = DEFAULT_V3_PAGE_SIZE,
        priority: Priority | str | None = None,
    ) -> AsyncGenerator[V3Order, None]:
        """Iterate over every order that matches, page after page ("Get All Orders").

        ``GET /api/v3/io/orders``. Use it as ``async for order in client.v3.orders.list()``.
        Arguments are checked at once; requests start with the iteration, one per page.

        Without a date filter the API lists only the orders created or updated **in the last
        year**; give ``created_after`` (or another bound) to reach older ones. The listing
        includes B2C and guest orders, not only those of companies.

        Args:
            company_id: only the orders of this company.
            bc_order_id: only this BigCommerce order.
            sort_by: ``"updatedAt"`` (the API's default) or ``"createdAt"``.
            order: ``"desc"`` (newest first, the API's default) or ``"asc"``.
            created_after: only orders created at or after this aware datetime.
            created_before: only orders created at or before this aware datetime.
            modified_after: only orders updated at or after this aware datetime.
            modified_before: only orders updated at or before this aware datetime.
            channel_ids: only orders of these storefront channels (one id alone is accepted).
            show_extra: include each order's extra fields.
            page_size: orders per request, from 1 to 200; each page spends one request of the
                store's budget.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        Returns:
            An async iterator of :class:`~b2b_async.V3Order`.

        Raises:
            InvalidOrderError: an argument is invalid (raised by this call, before iterating).
            B2BError: a page could not be fetched (raised while iterating), after the retries
                the policy allows.

        .. versionadded:: 0.1.0
        """
        query = [*_sorting(sort_by, order), *_id_filters(company_id, bc_order_id)]
        times = _time_filters(
            created_after=created_after,
            created_before=created_before,
            modified_after=modified_after,
            modified_before=modified_before,
        )
        query.extend((name, str(value)) for name, value in times.items())
        query.extend(("channelIds[]", str(channel)) for channel in _channel_ids(channel_ids))
        if show_extra:
            query.append(("showExtra", "true"))
        size = check_v3_page_size(page_size)
        reader = V3PageReader(V3Order)
        level = call_priority(priority)
        return walk_offsets(self._transport, v3_path("/orders"), query, reader, size, level)

    async def get(
        self, bc_order_id: int | str, *, priority: Priority | str | None = None
    ) -> V3Order:
        """Fetch one order ("Get an Order", ``GET /api/v3/io/orders/{bcOrderId}``).

        Args:
            bc_order_id: the BigCommerce order id (not B2B Edition's own order id).
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        Returns:
            The order, with its extra fields and invoice details.

        Raises:
            InvalidOrderError: the id is not a positive whole number; nothing was sent.
            NotFoundError: the order does not exist.
            B2BError: any other failure, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        request = Request("GET", v3_path("/orders/{bc_order_id}", bc_order_id=bc_order_id))
        return _only_order((await self._transport.send(request, priority)).data)

    async def update(
        self,
        bc_order_id: int | str,
        *,
        po_number: str | None = None,
        extra_fields: ExtraFieldsInput = None,
        priority: Priority | str | None = None,
    ) -> V3Order:
        """Set an order's PO number and extra fields ("Update an Order").

        ``PUT /api/v3/io/orders/{bcOrderId}``. Give at least one of the two. Extra fields not
        named keep their values.

        Args:
            bc_order_id: the BigCommerce order id.
            po_number: the new purchase-order number.
            extra_fields: extra field values to set, as ``{name: value}`` or an iterable of
                :class:`~b2b_async.ExtraField`. A store with required extra fields needs them
                in every update.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        Returns:
            The updated order; when the answer does not describe it, the values sent.

        Raises:
            InvalidOrderError: an argument is invalid, or neither field is given; nothing was
                sent.
            NotFoundError: the order does not exist.
            UnprocessableEntityError: a required extra field is missing.
            B2BError: any other failure, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        path = v3_path("/orders/{bc_order_id}", bc_order_id=bc_order_id)
        update = V3OrderUpdate(po_number, extra_fields)
        request = Request("PUT", path, body=encode_model(update))
        data = (await self._transport.send(request, priority)).data
        if _is_empty(data):
            number = to_v3_id(bc_order_id, field="bc_order_id")
            return V3Order(
                bc_order_id=number, po_number=update.po_number, extra_fields=update.extra_fields
            )
        return _only_order(data)

    async def products(
        self, bc_order_id: int | str, *, priority: Priority | str | None = None
    ) -> builtins.list[V3OrderProduct]:
        """Fetch an order's product lines ("Get Order Products").

        ``GET /api/v3/io/orders/{bcOrderId}/products``: names, SKUs, quantities and options;
        prices and dimensions are in BigCommerce's own Orders API.

        Args:
            bc_order_id: the BigCommerce order id.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        Returns:
            The order's products (``[]`` when it has none).

        Raises:
            InvalidOrderError: the id is not a positive whole number; nothing was sent.
            NotFoundError: the order does not exist.
            B2BError: any other failure, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        path = v3_path("/orders/{bc_order_id}/products", bc_order_id=bc_order_id)
        answer = await self._transport.send(Request("GET", path), priority)
        return one_or_many(answer.data, V3OrderProduct)

    async def assign_customer_orders(
        self, customer_id: int | str, *, priority: Priority | str | None = None
    ) -> int:
        """Give a customer's earlier orders to the customer's company.

        "Assign Customer Orders to Company" (``PUT /api/v3/io/customers/{customerId}/orders/b2b``):
        for a buyer who placed orders before joining a company. Repeating it moves nothing
        more, so a retried attempt is harmless.

        Args:
            customer_id: the BigCommerce customer id (not B2B Edition's user id).
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        Returns:
            How many orders moved.

        Raises:
            InvalidOrderError: the id is not a positive whole number; nothing was sent.
            NotFoundError: the customer is not a company user.
            B2BError: any other failure, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        path = v3_path("/customers/{customer_id}/orders/b2b", customer_id=customer_id)
        return _moved((await self._transport.send(Request("PUT", path), priority)).data)

    async def reassign_customer_orders(
        self,
        customer_id: int | str,
        *,
        bc_group_id: int | str,
        priority: Priority | str | None = None,
    ) -> int:
        """Move a customer's orders to the company tied to a customer group.

        "Reassign Orders to a Different Company"
        (``PUT /api/v3/io/customers/{customerId}/orders/company``). Only stores with the legacy
        Dependent Companies behaviour support it; the user's own company does not change.

        Args:
            customer_id: the BigCommerce customer id whose orders move.
            bc_group_id: the BigCommerce customer group of the target company.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        Returns:
            How many orders moved.

        Raises:
            InvalidOrderError: an id is not a positive whole number; nothing was sent.
            NotFoundError: the customer or the customer group does not exist.
            B2BError: any other failure, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        path = v3_path("/customers/{customer_id}/orders/company", customer_id=customer_id)
        body = encode_model(GroupMove(to_v3_id(bc_group_id, field="bc_group_id")))
        return _moved((await self._transport.send(Request("PUT", path, body=body), priority)).data)

    async def extra_field_configs(
        self, *, refresh: bool = False, priority: Priority | str | None = None
    ) -> builtins.list[ExtraFieldConfig]:
        """Fetch the store's order extra field configurations ("Get Order Extra Field Configs").

        ``GET /api/v3/io/orders/extra-fields``, every page. The answer is cached on the client:
        the configurations change only when an administrator edits them, the API's
        documentation asks integrations to cache them, and every request spends the store's
        shared budget, which a check before each registration would otherwise double.
        Concurrent first calls share one fetch.

        Args:
            refresh: fetch again even when cached (after a configuration change).
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        Returns:
            The configurations, in the API's order (a new list on every call).

        Raises:
            B2BError: the configurations could not be fetched (nothing is cached then).

        .. versionadded:: 0.1.0
        """
        if self._configs is None or refresh:
            async with self._configs_lock:
                if self._configs is None or refresh:
                    self._configs = await self._fetch_configs(call_priority(priority))
        return builtins.list(self._configs)

    async def _fetch_configs(self, priority: Priority | None) -> tuple[ExtraFieldConfig, ...]:
        """Fetch every page of the extra field configurations."""
        path = v3_path("/orders/extra-fields")
        reader = V3PageReader(ExtraFieldConfig)
        pages = walk_offsets(self._transport, path, (), reader, MAX_V3_PAGE_SIZE, priority)
        async with contextlib.aclosing(pages):
            return tuple([config async for config in pages])

    async def create_many(
        self,
        orders: Source[NewV3Order],
        *,
        concurrency: int | None = None,
        on_progress: Callable[[OrderOutcome[NewV3Order, V3Order]], object] | None = None,
        priority: Priority | str | None = None,
    ) -> BulkReport[NewV3Order, V3Order]:
        """Register many orders through V3; never raises for an order's failure.

        The bulk engine of :meth:`Orders.create_many <b2b_async.Orders.create_many>`, for
        :class:`~b2b_async.NewV3Order` inputs: a bounded pool of workers, one outcome per
        input in input order, "already exists" counted as registered (``result`` is then
        :meth:`V3Order.sent <b2b_async.V3Order.sent>` with ``already_registered=True``). A
        registration that takes longer than the API's 10-second window is logged at
        WARNING on the ``b2b_async`` logger.

        Args:
            orders: the orders, from any iterable or async iterable.
            concurrency: the number of workers; by default the client's ``max_concurrency``.
            on_progress: called with each outcome as it completes.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"`` (the default, unless the view
                or a :meth:`B2BClient.priority` block chooses otherwise); see :ref:`priorities`.

        Returns:
            A :class:`~b2b_async.BulkReport`; each outcome's ``result`` is a
            :class:`~b2b_async.V3Order`.

        Raises:
            ValueError: ``concurrency`` is not a positive int.
            Exception: as :meth:`Orders.create_many <b2b_async.Orders.create_many>`, from
                iterating ``orders`` or from ``on_progress``, once the workers are stopped.

        .. versionadded:: 0.1.0
        """
        register = self._bulk_registration(priority)
        workers = self._transport.bulk_workers(concurrency)
        return await run_bulk(register, orders, workers, on_progress, order_type=NewV3Order)

    def create_stream(
        self,
        orders: Source[NewV3Order],
        *,
        concurrency: int | None = None,
        priority: Priority | str | None = None,
    ) -> OutcomeStream[NewV3Order, V3Order]:
        """Register many orders through V3, yielding each outcome as it completes.

        As :meth:`Orders.create_stream <b2b_async.Orders.create_stream>`, for
        :class:`~b2b_async.NewV3Order` inputs, with the 10-second warning of
        :meth:`create_many`.

        Args:
            orders: the orders, from any iterable or async iterable.
            concurrency: how many workers; the client's ``max_concurrency`` when ``None``.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"`` (the default, unless the view
                or a :meth:`B2BClient.priority` block chooses otherwise); see :ref:`priorities`.

        Returns:
            An :class:`~b2b_async.OutcomeStream` of V3 outcomes.

        Raises:
            ValueError: ``concurrency`` is not an int of at least 1.

        .. versionadded:: 0.1.0
        """
        register = self._bulk_registration(priority)
        workers = self._transport.bulk_workers(concurrency)
        return OutcomeStream(register, orders, workers, order_type=NewV3Order)

    def _bulk_registration(self, priority: Priority | str | None) -> Register[NewV3Order, V3Order]:
        """Register one order of a bulk run, at the run's priority (``bulk`` by default)."""
        level = self._transport.priority_of(call_priority(priority), default=Priority.BULK)
        return functools.partial(self._register_in_bulk, priority=level)


def _moved(data: object) -> int:
    answer = structure(data if data is not None else {}, MovedOrders)
    return answer.total or 0
