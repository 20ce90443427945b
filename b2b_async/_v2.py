"""The V2 resources: ``client.orders`` (:class:`Orders`), ``client.companies`` (:class:`Companies`).

One method per API operation, no I/O logic of its own: every call builds a
:class:`~b2b_async._protocol.Request` (paths from ``_routes``, bodies from ``_serde``) and goes
through the client's one transport, so pacing, the concurrency cap, retries and the error
tree apply unchanged.

Wire decisions made here:

- a registration with a company goes to "Create An Order"
  (``/companies/{companyId}/user/{customerId}/orders``), one without to "Create Order Without
  CompanyID" (``/companies/users/{customerId}/orders``);
- "The order already exists." after an uncertain attempt of the same call, or anywhere in a
  bulk run, counts as registered (:func:`~b2b_async._retry.settle_registration`);
- ids are checked before anything is sent (an empty one raises
  :class:`~b2b_async.InvalidOrderError`) and percent-encoded as path segments;
- dates go out as ``MM/DD/YYYY`` (``beginDateAt``, ``endDateAt``), ``includeExtra`` as ``1``
  (left out when false), ``orderIds`` as one comma-separated value;
- "Get Order Product" documents one object as its ``data``: an object is read as a one-item
  list, ``{}`` or ``null`` as no product, and a list as it is (so is "Get Orders Images");
- "Get Company By BC OrderId" answers a missing order with HTTP 400 and body code 40013
  ("Order does not exist."), not a 404: :meth:`Orders.is_registered` reads that answer
  as ``False``;
- a registration's or an update's answer names the order ``orderId`` (an int or a string)
  in the examples, and ``companyId`` in the schemas, which is never read as the order's id:
  an answer without an ``orderId`` confirms the id sent (:func:`answered_id`).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncGenerator, Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Final

import attrs

from ._bulk import BulkReport, OrderOutcome, OutcomeStream, Register, Source, run_bulk
from ._config import DEFAULT_PAGE_SIZE, MAX_TARGETS, Priority, check_flag
from ._exceptions import BadRequestError, InvalidOrderError
from ._pagination import V2PageReader, check_page_size, walk_offsets
from ._priority import call_priority
from ._protocol import Request
from ._retry import settle_registration
from ._routes import id_list, one_of, query_batches, to_id, to_v3_id, v2_path
from ._serde import encode_model, is_empty, one_or_many, structure, unstructure
from ._transport import Transport
from ._v2_models import (
    ORDER_BY,
    Address,
    CompanyIdAnswer,
    CompanyOrder,
    CreatedOrder,
    CustomerOrders,
    CustomerOrdersMove,
    LineItem,
    NewOrder,
    OrderBy,
    OrderCompany,
    OrderDetail,
    OrderIdAnswer,
    OrderImage,
    OrderProduct,
    OrderRef,
    OrderUpdate,
)

__all__ = [
    "ORDER_MISSING_CODE",
    "Companies",
    "Orders",
    "answered_id",
    "registration",
    "registration_path",
]

#: The body code of "Order does not exist." (HTTP 400) on the company look-ups.
ORDER_MISSING_CODE: Final = 40013


def registration(order: NewOrder) -> Request:
    """The request that registers ``order``, with or without a company.

    Args:
        order: the registration.

    Returns:
        The ``POST`` of "Create An Order", or of "Create Order Without CompanyID" when
        ``order.company_id`` is ``None``.
    """
    path = registration_path(order.company_id, order.customer_id)
    return Request("POST", path, body=encode_model(order))


@functools.lru_cache(maxsize=MAX_TARGETS)  # a buyer places many orders, a backfill repeats them
def registration_path(company_id: str | None, customer_id: str) -> str:
    """The path that registers an order of ``customer_id``, of ``company_id`` if there is one.

    Raises:
        InvalidOrderError: an id is invalid.
    """
    if company_id is None:
        return v2_path("/companies/users/{customer_id}/orders", customer_id=customer_id)
    return v2_path(
        "/companies/{company_id}/user/{customer_id}/orders",
        company_id=company_id,
        customer_id=customer_id,
    )


def answered_id(data: object, sent: str) -> str:
    """The order id a successful registration or update confirms: its ``orderId``, or
    ``sent`` when the answer names none (an empty answer, :func:`~b2b_async._serde.is_empty`,
    or an empty or blank id).

    The examples name the order ``orderId``; the schemas name their id ``companyId``, which
    is never read as the order's (a company's id there would pass for the order's).

    Raises:
        ResponseDecodeError: ``data`` is no object, or its ``orderId`` is no id.
    """
    answer = structure({} if is_empty(data) else data, OrderIdAnswer)
    return (answer.order_id or "").strip() or sent


def _day(value: object, field: str) -> date | None:
    if value is None:
        return None
    if not isinstance(value, date):
        raise InvalidOrderError(f"{field} must be a datetime.date, got {type(value).__name__}")
    # A datetime is a date too; the filter is by day, and comparing the two kinds would fail.
    return value.date() if isinstance(value, datetime) else value


def _date_range(begin_date: date | None, end_date: date | None) -> dict[str, str]:
    """The ``beginDateAt``/``endDateAt`` filters, both optional and inclusive."""
    begin, end = _day(begin_date, "begin_date"), _day(end_date, "end_date")
    if begin is not None and end is not None and begin > end:
        raise InvalidOrderError(f"begin_date {begin} is after end_date {end}")
    days = {"beginDateAt": begin, "endDateAt": end}
    return {name: unstructure(day) for name, day in days.items() if day is not None}


def _company_orders_query(
    order_by: OrderBy | None,
    begin_date: date | None,
    end_date: date | None,
    include_extra: bool,
    channel_id: str | int | None,
) -> dict[str, str]:
    query = _date_range(begin_date, end_date)
    if order_by is not None:
        query["orderBy"] = one_of(order_by, ORDER_BY, field="order_by")
    if check_flag(include_extra, "include_extra", error=InvalidOrderError):
        query["includeExtra"] = "1"
    if channel_id is not None:
        # The schema types channelId as a number: a channel id as V3 takes it, never a name.
        query["channelId"] = str(to_v3_id(channel_id, field="channel_id"))
    return query


def _image_ids(order_ids: object) -> list[str]:
    ids = id_list(order_ids, to_id, field="order_ids")
    if any("," in order_id for order_id in ids):
        raise InvalidOrderError("order_ids must not contain commas (the API separates ids by ,)")
    return ids


@attrs.frozen(eq=False)
class Orders:
    """The V2 Order operations, reached as ``client.orders``.

    .. versionadded:: 0.1.0
    """

    _transport: Transport = attrs.field(repr=False)

    async def create(
        self,
        *,
        company_id: str | int | None = None,
        customer_id: str | int,
        order_id: str | int,
        total_inc_tax: Decimal | int | float | str,
        po_number: str | None = None,
        priority: Priority | str | None = None,
    ) -> CreatedOrder:
        """Register a BigCommerce order with a B2B Edition company and buyer.

        With ``company_id``, this is "Create An Order"
        (``POST /api/v2/io/companies/{companyId}/user/{customerId}/orders``); without it,
        "Create Order Without CompanyID" (``POST /api/v2/io/companies/users/{customerId}/orders``),
        where the API derives the company from the customer.

        Args:
            company_id: the B2B Edition company, or ``None`` to let the API derive it.
            customer_id: the B2B Edition user who placed the order.
            order_id: the BigCommerce order id.
            total_inc_tax: the total including tax, as ``Decimal``, ``int``, ``float`` or a
                numeric ``str``; sent as a JSON number.
            po_number: the purchase-order number, if any.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        Returns:
            The confirmed registration. ``already_registered`` is ``True`` when an earlier
            attempt of this same call (one that timed out or was cut off) registered it.

        Raises:
            InvalidOrderError: an argument is invalid; nothing was sent.
            OrderAlreadyExistsError: the order was registered before this call.
            NotFoundError: the company or customer does not exist.
            BadRequestError: the API rejected the request.
            B2BError: any other failure, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        order = NewOrder(company_id, customer_id, order_id, total_inc_tax, po_number)
        return await self.register(order, priority=priority)

    async def register(
        self, order: NewOrder, *, priority: Priority | str | None = None
    ) -> CreatedOrder:
        """Register an already validated :class:`~b2b_async.NewOrder`.

        The same as :meth:`create`, for callers that build their orders up front.

        Args:
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        .. versionadded:: 0.1.0
        """
        if not isinstance(order, NewOrder):  # a bulk run checks its inputs on its own
            raise InvalidOrderError(f"expected a NewOrder, got {type(order).__name__}")
        return await self._settle(order, priority, in_bulk=False)

    async def _register_in_bulk(self, order: NewOrder, priority: Priority) -> CreatedOrder:
        """Register one order of a bulk run, where "already exists" always means registered."""
        return await self._settle(order, priority, in_bulk=True)

    async def _settle(
        self, order: NewOrder, priority: Priority | str | None, *, in_bulk: bool
    ) -> CreatedOrder:
        """Register ``order``, reading "already exists" by :func:`settle_registration`'s rule."""
        return await settle_registration(
            self._send_registration(order, priority),
            lambda: CreatedOrder(order.order_id, already_registered=True),
            in_bulk=in_bulk,
        )

    async def _send_registration(
        self, order: NewOrder, priority: Priority | str | None
    ) -> CreatedOrder:
        """Send the registration and read the confirmed order id from the answer."""
        data = (await self._transport.send(registration(order), priority)).data
        return CreatedOrder(answered_id(data, order.order_id))

    async def create_many(
        self,
        orders: Source[NewOrder],
        *,
        concurrency: int | None = None,
        on_progress: Callable[[OrderOutcome[NewOrder, CreatedOrder]], object] | None = None,
        priority: Priority | str | None = None,
    ) -> BulkReport[NewOrder, CreatedOrder]:
        """Register many orders; never raises for an order's failure.

        A bounded pool of workers pulls orders from ``orders`` (any iterable or async
        iterable of :class:`~b2b_async.NewOrder`) as it goes, never creating a task per
        input up front. Every request shares the client's pacing, cooldown, concurrency cap
        and retries. An order found already registered counts as a success, with
        ``result.already_registered`` set.

        Args:
            orders: the orders to register.
            concurrency: the number of workers (at most 1,000 start); by default the
                client's ``max_concurrency`` (or the default cap when it has none).
            on_progress: called with each :class:`~b2b_async.OrderOutcome` as it completes
                (for progress bars or journals).
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"`` (the default, unless the view
                or a :meth:`B2BClient.priority` block chooses otherwise); see :ref:`priorities`.

        Returns:
            A :class:`~b2b_async.BulkReport` with exactly one outcome per input, in input
            order.

        Raises:
            ValueError: ``concurrency`` is not a positive int.
            TypeError: ``orders`` is one order, text, a mapping or not iterable, or
                ``on_progress`` is not callable; nothing was sent.
            Exception: whatever iterating ``orders`` or ``on_progress`` raised; the workers
                are stopped first.

        .. versionadded:: 0.1.0
        """
        workers = self._transport.bulk_workers(concurrency)
        register = self._bulk_registration(priority)
        return await run_bulk(register, orders, workers, on_progress, order_type=NewOrder)

    def create_stream(
        self,
        orders: Source[NewOrder],
        *,
        concurrency: int | None = None,
        priority: Priority | str | None = None,
    ) -> OutcomeStream[NewOrder, CreatedOrder]:
        """Register many orders, yielding each :class:`~b2b_async.OrderOutcome` as it completes.

        Memory stays bounded whatever the input's size: at most ``concurrency`` orders are
        in flight and as many outcomes wait to be read. Use it as ``async for outcome in
        client.orders.create_stream(orders)``, inside ``async with`` to stop the workers at
        once when leaving the loop early.

        Args:
            orders: the orders to register, from any iterable or async iterable.
            concurrency: the number of workers (at most 1,000 start); by default the
                client's ``max_concurrency``.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"`` (the default, unless the view
                or a :meth:`B2BClient.priority` block chooses otherwise); see :ref:`priorities`.

        Returns:
            An :class:`~b2b_async.OutcomeStream`.

        Raises:
            ValueError: ``concurrency`` is not a positive int.
            TypeError: ``orders`` is one order, text, a mapping or not iterable.

        .. versionadded:: 0.1.0
        """
        workers = self._transport.bulk_workers(concurrency)
        register = self._bulk_registration(priority)
        return OutcomeStream(register, orders, workers, order_type=NewOrder)

    def _bulk_registration(
        self, priority: Priority | str | None
    ) -> Register[NewOrder, CreatedOrder]:
        """Register one order of a bulk run, at the run's priority (``bulk`` by default)."""
        level = self._transport.bulk_priority(priority)
        return functools.partial(self._register_in_bulk, priority=level)

    def list_by_company(
        self,
        company_id: str | int,
        *,
        order_by: OrderBy | None = None,
        begin_date: date | None = None,
        end_date: date | None = None,
        include_extra: bool = False,
        channel_id: str | int | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        priority: Priority | str | None = None,
    ) -> AsyncGenerator[CompanyOrder, None]:
        """Iterate over every order of a company, fetching page after page ("Get Company Orders").

        ``GET /api/v2/io/companies/{companyId}/orders``. Use it as ``async for order in
        client.orders.list_by_company(123)``. Arguments are checked at once; requests start
        with the iteration, one per page.

        Args:
            company_id: the B2B Edition company.
            order_by: the sort key: ``"bcOrderId"``, ``"totalIncTax"`` or ``"createdAt"``;
                the API's own order when ``None``.
            begin_date: only orders created on or after this day.
            end_date: only orders created on or before this day.
            include_extra: also fetch each order's extra fields.
            channel_id: only orders of this BigCommerce channel: a positive whole number,
                given as an ``int`` or a string of digits.
            page_size: orders per request.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        Returns:
            An async iterator of :class:`~b2b_async.CompanyOrder`.

        Raises:
            InvalidOrderError: an argument is invalid (raised by this call, before iterating).
            NotFoundError: the company does not exist (raised while iterating).
            ResponseDecodeError: a page does not fit, or the listing repeats its pages
                (see :ref:`how listings are walked <listing-walk>`).
            B2BError: any other failure while iterating, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        path = v2_path("/companies/{company_id}/orders", company_id=company_id)
        query = _company_orders_query(order_by, begin_date, end_date, include_extra, channel_id)
        size = check_page_size(page_size)
        reader = V2PageReader(CompanyOrder, key=attrgetter("order_id"))
        level = call_priority(priority)
        return walk_offsets(self._transport, path, query.items(), reader, size, level)

    async def update(
        self,
        order_id: str | int,
        *,
        billing_address: Address,
        products: Iterable[LineItem],
        status_id: int | None = None,
        po_number: str | None = None,
        channel_id: str | int | None = None,
        customer_message: str | None = None,
        staff_notes: str | None = None,
        total_ex_tax: Decimal | int | float | str | None = None,
        priority: Priority | str | None = None,
    ) -> str:
        """Update a registered order ("Update Company Order With BC OrderId").

        ``PUT /api/v2/io/orders``. The API needs the billing address and the products in
        every update. For the other documented fields (costs, subtotals, payment details),
        build an :class:`~b2b_async.OrderUpdate` and pass it to :meth:`apply_update`.

        Args:
            order_id: the BigCommerce order id.
            billing_address: the order's billing address.
            products: the order's product lines.
            status_id: the BigCommerce order status id.
            po_number: the purchase-order number.
            channel_id: the BigCommerce channel id.
            customer_message: the customer's comment.
            staff_notes: notes for staff.
            total_ex_tax: the total excluding tax.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        Returns:
            The updated order's id.

        Raises:
            InvalidOrderError: an argument is invalid; nothing was sent.
            NotFoundError: the order does not exist.
            BadRequestError: the API rejected the update.
            B2BError: any other failure, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        update = OrderUpdate(
            order_id=order_id,
            billing_address=billing_address,
            products=products,
            status_id=status_id,
            po_number=po_number,
            channel_id=channel_id,
            customer_message=customer_message,
            staff_notes=staff_notes,
            total_ex_tax=total_ex_tax,
        )
        return await self.apply_update(update, priority=priority)

    async def apply_update(
        self, update: OrderUpdate, *, priority: Priority | str | None = None
    ) -> str:
        """Send a prepared :class:`~b2b_async.OrderUpdate` (``PUT /api/v2/io/orders``).

        The same as :meth:`update`, with every field the API documents.

        Args:
            update: the update.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        Returns:
            The updated order's id.

        Raises:
            InvalidOrderError: ``update`` is no :class:`~b2b_async.OrderUpdate`; nothing was
                sent.
            B2BError: as :meth:`update`.

        .. versionadded:: 0.1.0
        """
        if not isinstance(update, OrderUpdate):  # any other object would go out as a body
            raise InvalidOrderError(f"expected an OrderUpdate, got {type(update).__name__}")
        request = Request("PUT", v2_path("/orders"), body=encode_model(update))
        data = (await self._transport.send(request, priority)).data
        return answered_id(data, update.order_id)

    async def assign_customer_orders_to_company(
        self, customer_id: str | int, *, priority: Priority | str | None = None
    ) -> None:
        """Give a customer's orders the customer's current company.

        "Update BC Order's company attribute" (``POST /api/v2/io/orders/company``): turns a
        BigCommerce customer's individual orders into orders of the B2B Edition company the
        customer belongs to now. Repeating it changes nothing more, so a retried attempt is
        harmless.

        Args:
            customer_id: the BigCommerce customer (B2B Edition user).
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        Raises:
            InvalidOrderError: the id is empty; nothing was sent.
            BadRequestError: the customer does not exist (body code 40013).
            B2BError: any other failure, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        body = encode_model(CustomerOrders(to_id(customer_id, field="customer_id")))
        await self._transport.send(Request("POST", v2_path("/orders/company"), body=body), priority)

    async def move_customer_orders(
        self,
        customer_id: str | int,
        *,
        customer_group_id: str | int,
        priority: Priority | str | None = None,
    ) -> None:
        """Move a customer's orders to the company tied to a customer group.

        "Update B2BE user's orders' company attribute" (``PUT /api/v2/io/orders/company``).

        Args:
            customer_id: the BigCommerce customer (B2B Edition user) whose orders move.
            customer_group_id: the BigCommerce customer group of the target company.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        Raises:
            InvalidOrderError: an id is empty; nothing was sent.
            BadRequestError: the customer or the company does not exist (body code 40013).
            B2BError: any other failure, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        move = CustomerOrdersMove(
            customer_group_id=to_id(customer_group_id, field="customer_group_id"),
            customer_id=to_id(customer_id, field="customer_id"),
        )
        body = encode_model(move)
        await self._transport.send(Request("PUT", v2_path("/orders/company"), body=body), priority)

    async def images(
        self, order_ids: Iterable[str | int] | str | int, *, priority: Priority | str | None = None
    ) -> list[OrderImage]:
        """Fetch the image of each order ("Get Orders Images", ``GET /api/v2/io/orders/images``).

        Args:
            order_ids: the BigCommerce order ids (one id alone is accepted too).
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        Returns:
            One :class:`~b2b_async.OrderImage` per order the API knows, in its order; unknown
            ids are left out. No ids, no request: ``[]``. Ids too many for one request line
            (more than :data:`~b2b_async._routes.MAX_QUERY_BYTES` bytes, percent-encoded) are
            asked for in as many requests as they need, one after the other (each within
            the policy's ``deadline`` of its own).

        Raises:
            InvalidOrderError: ``order_ids`` is not an id or an iterable of ids, or an id is
                empty or holds a comma; nothing was sent.
            B2BError: any other failure, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        images: list[OrderImage] = []
        for joined in query_batches("orderIds", _image_ids(order_ids)):
            request = Request("GET", v2_path("/orders/images"), {"orderIds": joined})
            answer = await self._transport.send(request, priority)
            images.extend(one_or_many(answer.data, OrderImage))
        return images

    async def company_of(
        self, order_id: str | int, *, priority: Priority | str | None = None
    ) -> OrderCompany:
        """Fetch the company an order belongs to ("Get Company By BC OrderId").

        ``GET /api/v2/io/orders/{orderBCId}/companyIdBCId``.

        Args:
            order_id: the BigCommerce order id.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        Returns:
            The company's id, name and customer group.

        Raises:
            InvalidOrderError: the id is empty; nothing was sent.
            BadRequestError: the order does not exist: HTTP 400 with ``code`` 40013, as the API
                documents it (not a :class:`~b2b_async.NotFoundError`).
            B2BError: any other failure, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        path = v2_path("/orders/{order_id}/companyIdBCId", order_id=order_id)
        answer = await self._transport.send(Request("GET", path), priority)
        return structure(answer.data, OrderCompany)

    async def company_id_of(
        self, order_id: str | int, *, priority: Priority | str | None = None
    ) -> str:
        """Fetch the id of the company an order belongs to ("Get Company Id By Order Id").

        ``GET /api/v2/io/orders/{orderId}/companyId``.

        Args:
            order_id: the BigCommerce order id.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        Returns:
            The company id, as a ``str``.

        Raises:
            InvalidOrderError: the id is empty; nothing was sent.
            BadRequestError: the order does not exist (body code 40013).
            B2BError: any other failure, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        path = v2_path("/orders/{order_id}/companyId", order_id=order_id)
        data = (await self._transport.send(Request("GET", path), priority)).data
        return structure(data, CompanyIdAnswer).company_id

    async def details(
        self, order_id: str | int, *, priority: Priority | str | None = None
    ) -> OrderDetail:
        """Fetch an order's detail ("Get Order Detail").

        ``GET /api/v2/io/orders/{orderId}/details``: BigCommerce's core order plus the B2B
        fields.

        Args:
            order_id: the BigCommerce order id.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        Returns:
            The order; fields without a typed attribute are in
            :attr:`OrderDetail.raw <b2b_async.OrderDetail.raw>`.

        Raises:
            InvalidOrderError: the id is empty; nothing was sent.
            NotFoundError: the order does not exist.
            B2BError: any other failure, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        path = v2_path("/orders/{order_id}/details", order_id=order_id)
        answer = await self._transport.send(Request("GET", path), priority)
        return structure(answer.data, OrderDetail)

    async def products(
        self, order_id: str | int, *, priority: Priority | str | None = None
    ) -> list[OrderProduct]:
        """Fetch an order's products ("Get Order Product").

        ``GET /api/v2/io/orders/{orderId}/products``. The API documents a single product
        object as the answer; it is returned as a one-item list, and an empty answer as
        ``[]``.

        Args:
            order_id: the BigCommerce order id.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        Returns:
            The order's products.

        Raises:
            InvalidOrderError: the id is empty; nothing was sent.
            NotFoundError: the order does not exist.
            ResponseDecodeError: the answer is neither a product, a list of products, nor
                empty.
            B2BError: any other failure, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        path = v2_path("/orders/{order_id}/products", order_id=order_id)
        answer = await self._transport.send(Request("GET", path), priority)
        return one_or_many(answer.data, OrderProduct)

    async def is_registered(
        self, order_id: str | int, *, priority: Priority | str | None = None
    ) -> bool:
        """Tell whether an order is registered with B2B Edition.

        Asks "Get Company By BC OrderId": a company means registered; the documented "Order
        does not exist." answer (HTTP 400, body code 40013) means not. Use it to settle a
        registration whose outcome is unknown (say, the process died mid-call) before
        registering again.

        Args:
            order_id: the BigCommerce order id.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        Returns:
            ``True`` when the order is registered, ``False`` when the API says it does not
            exist.

        Raises:
            InvalidOrderError: the id is empty; nothing was sent.
            B2BError: any other failure (the answer is then unknown), after the retries the
                policy allows.

        .. versionadded:: 0.1.0
        """
        try:
            await self.company_of(order_id, priority=priority)
        except BadRequestError as exc:
            if exc.code == ORDER_MISSING_CODE:
                return False
            raise
        return True


@attrs.frozen(eq=False)
class Companies:
    """The Company operations that concern orders, reached as ``client.companies``.

    .. versionadded:: 0.1.0
    """

    _transport: Transport = attrs.field(repr=False)

    def order_ids(
        self,
        company_id: str | int,
        *,
        begin_date: date | None = None,
        end_date: date | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        priority: Priority | str | None = None,
    ) -> AsyncGenerator[str, None]:
        """Iterate over the ids of every order of a company ("Get BC Order Id List By Company Id").

        ``GET /api/v2/io/companies/{companyId}/orderBCIds``, page after page. Arguments are
        checked at once; requests start with the iteration.

        Args:
            company_id: the B2B Edition company.
            begin_date: only orders created on or after this day.
            end_date: only orders created on or before this day.
            page_size: ids per request.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        Returns:
            An async iterator of BigCommerce order ids, as ``str``.

        Raises:
            InvalidOrderError: ``company_id``, a date or ``page_size`` is invalid (raised at
                once, before any request).
            NotFoundError: the company does not exist (raised while iterating).
            ResponseDecodeError: a page does not fit, or the listing repeats its pages
                (see :ref:`how listings are walked <listing-walk>`).
            B2BError: any other failure while iterating, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        path = v2_path("/companies/{company_id}/orderBCIds", company_id=company_id)
        query = _date_range(begin_date, end_date).items()
        size = check_page_size(page_size)
        level = call_priority(priority)
        reader = V2PageReader(OrderRef, key=attrgetter("order_id"))
        refs = walk_offsets(self._transport, path, query, reader, size, level)
        return _order_ids(refs)


async def _order_ids(refs: AsyncGenerator[OrderRef, None]) -> AsyncGenerator[str, None]:
    async with contextlib.aclosing(refs):  # leaving the outer loop early closes the inner one
        async for ref in refs:
            yield ref.order_id
