"""The V2 Order operations beyond registration, and the Company listing of order ids.

:class:`OrderQueries` holds the methods that ``client.orders`` gains besides registration;
:class:`Companies` is ``client.companies``. Every call goes through the client's one
transport, so pacing, the concurrency cap, retries and the error tree apply unchanged.

Wire decisions made here:

- ids are checked before anything is sent (an empty one raises
  :class:`~b2b_async.InvalidOrderError`) and percent-encoded as path segments;
- dates go out as ``MM/DD/YYYY`` (``beginDateAt``, ``endDateAt``), ``includeExtra`` as ``1``
  (left out when false), ``orderIds`` as one comma-separated value;
- "Get Order Product" documents one object as its ``data``: an object is read as a one-item
  list, ``{}`` or ``null`` as no product, and a list as it is (so is "Get Orders Images");
- "Get Company By BC OrderId" answers a missing order with HTTP 400 and body code 40013
  ("Order does not exist."), not a 404: :meth:`OrderQueries.is_registered` reads that answer
  as ``False``;
- the update's answer names the order ``orderId`` in the example and ``companyId`` in the
  schema; when it names neither, the id sent is returned.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Final, Literal, TypeVar

from ._config import DEFAULT_PAGE_SIZE
from ._exceptions import BadRequestError, InvalidOrderError, ResponseDecodeError
from ._models import to_id
from ._order_models import (
    Address,
    CompanyIdAnswer,
    CompanyOrder,
    CustomerOrders,
    CustomerOrdersMove,
    LineItem,
    OrderCompany,
    OrderDetail,
    OrderImage,
    OrderProduct,
    OrderRef,
    OrderUpdate,
    UpdatedOrder,
)
from ._pagination import Page, check_page_size, paginate
from ._protocol import Request
from ._serde import structure, unstructure
from ._transport import Transport

__all__ = ["ORDER_MISSING_CODE", "Companies", "OrderBy", "OrderQueries"]

T = TypeVar("T")

#: The body code of "Order does not exist." (HTTP 400) on the company look-ups.
ORDER_MISSING_CODE: Final = 40013

OrderBy = Literal["bcOrderId", "totalIncTax", "createdAt"]
#: The sort keys "Get Company Orders" documents.
ORDER_BY: Final = frozenset({"bcOrderId", "totalIncTax", "createdAt"})


def _endpoint(template: str, **ids: str) -> str:
    """The path of an operation, each id percent-encoded as one segment."""
    # `_orders` imports this module (Orders inherits OrderQueries): import at call time.
    from ._orders import V2, path_segment

    return V2 + template.format(**{name: path_segment(value) for name, value in ids.items()})


def _body(model: object) -> bytes:
    from ._orders import encode_body  # see _endpoint

    return encode_body(unstructure(model))


def _id(value: object, field: str) -> str:
    return str(to_id(value, field=field))


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


def _order_by(value: object) -> str:
    if value not in ORDER_BY:
        allowed = ", ".join(sorted(ORDER_BY))
        raise InvalidOrderError(f"order_by must be one of {allowed}, got {value!r}")
    return str(value)


def _company_orders_query(
    order_by: OrderBy | None,
    begin_date: date | None,
    end_date: date | None,
    include_extra: bool,
    channel_id: str | int | None,
) -> dict[str, str]:
    query = _date_range(begin_date, end_date)
    if order_by is not None:
        query["orderBy"] = _order_by(order_by)
    if include_extra:
        query["includeExtra"] = "1"
    if channel_id is not None:
        query["channelId"] = _id(channel_id, "channel_id")
    return query


def _image_ids(order_ids: Iterable[str | int] | str | int) -> list[str]:
    # A lone id is an id, not an iterable of characters.
    many = [order_ids] if isinstance(order_ids, str | int) else order_ids
    ids = [_id(order_id, "order_ids") for order_id in many]
    if any("," in order_id for order_id in ids):
        raise InvalidOrderError("order_ids must not contain commas (the API separates ids by ,)")
    return ids


def one_or_many(data: object, cls: type[T]) -> list[T]:
    """Read ``data`` that may be one object, an empty object, ``null`` or a list of objects.

    Raises:
        ResponseDecodeError: ``data`` is none of these, or an item does not fit ``cls``.
    """
    if data is None or (isinstance(data, Mapping) and not data):
        return []
    if isinstance(data, Mapping):
        return [structure(data, cls)]
    if not isinstance(data, list):
        kind = type(data).__name__
        raise ResponseDecodeError(
            f"response does not fit {cls.__name__}: expected a list or an object, got {kind}",
            path="$.data",
        )
    return [structure(item, cls, path=f"$.data[{index}]") for index, item in enumerate(data)]


class OrderQueries:
    """The V2 Order operations besides registration; :class:`~b2b_async.Orders` inherits them.

    .. versionadded:: 0.1.0
    """

    __slots__ = ()

    _transport: Transport

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
            channel_id: only orders of this BigCommerce channel.
            page_size: orders per request.

        Returns:
            An async iterator of :class:`~b2b_async.CompanyOrder`.

        Raises:
            InvalidOrderError: an argument is invalid (raised by this call, before iterating).
            NotFoundError: the company does not exist (raised while iterating).
            B2BError: any other failure while iterating, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        path = _endpoint("/companies/{company}/orders", company=_id(company_id, "company_id"))
        query = _company_orders_query(order_by, begin_date, end_date, include_extra, channel_id)
        size = check_page_size(page_size)
        return paginate(self._transport, path, query, Page[CompanyOrder], size)

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
        return await self.apply_update(update)

    async def apply_update(self, update: OrderUpdate) -> str:
        """Send a prepared :class:`~b2b_async.OrderUpdate` (``PUT /api/v2/io/orders``).

        The same as :meth:`update`, with every field the API documents.

        Args:
            update: the update.

        Returns:
            The updated order's id.

        Raises:
            B2BError: as :meth:`update`.

        .. versionadded:: 0.1.0
        """
        request = Request("PUT", _endpoint("/orders"), body=_body(update))
        data = (await self._transport.send(request)).data
        answer = structure(data if data is not None else {}, UpdatedOrder)
        return answer.order_id or update.order_id

    async def assign_customer_orders_to_company(self, customer_id: str | int) -> None:
        """Give a customer's orders the customer's current company.

        "Update BC Order's company attribute" (``POST /api/v2/io/orders/company``): turns a
        BigCommerce customer's individual orders into orders of the B2B Edition company the
        customer belongs to now. Repeating it changes nothing more, so a retried attempt is
        harmless.

        Args:
            customer_id: the BigCommerce customer (B2B Edition user).

        Raises:
            InvalidOrderError: the id is empty; nothing was sent.
            BadRequestError: the customer does not exist (body code 40013).
            B2BError: any other failure, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        body = CustomerOrders(_id(customer_id, "customer_id"))
        await self._transport.send(Request("POST", _endpoint("/orders/company"), body=_body(body)))

    async def move_customer_orders(
        self, customer_id: str | int, *, customer_group_id: str | int
    ) -> None:
        """Move a customer's orders to the company tied to a customer group.

        "Update B2BE user's orders' company attribute" (``PUT /api/v2/io/orders/company``).

        Args:
            customer_id: the BigCommerce customer (B2B Edition user) whose orders move.
            customer_group_id: the BigCommerce customer group of the target company.

        Raises:
            InvalidOrderError: an id is empty; nothing was sent.
            BadRequestError: the customer or the company does not exist (body code 40013).
            B2BError: any other failure, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        body = CustomerOrdersMove(
            customer_group_id=_id(customer_group_id, "customer_group_id"),
            customer_id=_id(customer_id, "customer_id"),
        )
        await self._transport.send(Request("PUT", _endpoint("/orders/company"), body=_body(body)))

    async def images(self, order_ids: Iterable[str | int] | str | int) -> list[OrderImage]:
        """Fetch the image of each order ("Get Orders Images", ``GET /api/v2/io/orders/images``).

        Args:
            order_ids: the BigCommerce order ids (one id alone is accepted too).

        Returns:
            One :class:`~b2b_async.OrderImage` per order the API knows, in its order; unknown
            ids are left out. No ids, no request: ``[]``.

        Raises:
            InvalidOrderError: an id is empty or holds a comma; nothing was sent.
            B2BError: any other failure, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        ids = _image_ids(order_ids)
        if not ids:
            return []
        request = Request("GET", _endpoint("/orders/images"), {"orderIds": ",".join(ids)})
        return one_or_many((await self._transport.send(request)).data, OrderImage)

    async def company_of(self, order_id: str | int) -> OrderCompany:
        """Fetch the company an order belongs to ("Get Company By BC OrderId").

        ``GET /api/v2/io/orders/{orderBCId}/companyIdBCId``.

        Args:
            order_id: the BigCommerce order id.

        Returns:
            The company's id, name and customer group.

        Raises:
            InvalidOrderError: the id is empty; nothing was sent.
            BadRequestError: the order does not exist: HTTP 400 with ``code`` 40013, as the API
                documents it (not a :class:`~b2b_async.NotFoundError`).
            B2BError: any other failure, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        path = _endpoint("/orders/{order}/companyIdBCId", order=_id(order_id, "order_id"))
        return structure((await self._transport.send(Request("GET", path))).data, OrderCompany)

    async def company_id_of(self, order_id: str | int) -> str:
        """Fetch the id of the company an order belongs to ("Get Company Id By Order Id").

        ``GET /api/v2/io/orders/{orderId}/companyId``.

        Args:
            order_id: the BigCommerce order id.

        Returns:
            The company id, as a ``str``.

        Raises:
            InvalidOrderError: the id is empty; nothing was sent.
            BadRequestError: the order does not exist (body code 40013).
            B2BError: any other failure, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        path = _endpoint("/orders/{order}/companyId", order=_id(order_id, "order_id"))
        data = (await self._transport.send(Request("GET", path))).data
        return structure(data, CompanyIdAnswer).company_id

    async def details(self, order_id: str | int) -> OrderDetail:
        """Fetch an order's detail ("Get Order Detail").

        ``GET /api/v2/io/orders/{orderId}/details``: BigCommerce's core order plus the B2B
        fields.

        Args:
            order_id: the BigCommerce order id.

        Returns:
            The order; fields without a typed attribute are in :attr:`OrderDetail.raw
            <b2b_async.OrderDetail.raw>`.

        Raises:
            InvalidOrderError: the id is empty; nothing was sent.
            NotFoundError: the order does not exist.
            B2BError: any other failure, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        path = _endpoint("/orders/{order}/details", order=_id(order_id, "order_id"))
        return structure((await self._transport.send(Request("GET", path))).data, OrderDetail)

    async def products(self, order_id: str | int) -> list[OrderProduct]:
        """Fetch an order's products ("Get Order Product").

        ``GET /api/v2/io/orders/{orderId}/products``. The API documents a single product
        object as the answer; it is returned as a one-item list, and an empty answer as
        ``[]``.

        Args:
            order_id: the BigCommerce order id.

        Returns:
            The order's products.

        Raises:
            InvalidOrderError: the id is empty; nothing was sent.
            NotFoundError: the order does not exist.
            B2BError: any other failure, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        path = _endpoint("/orders/{order}/products", order=_id(order_id, "order_id"))
        return one_or_many((await self._transport.send(Request("GET", path))).data, OrderProduct)

    async def is_registered(self, order_id: str | int) -> bool:
        """Tell whether an order is registered with B2B Edition.

        Asks "Get Company By BC OrderId": a company means registered; the documented "Order
        does not exist." answer (HTTP 400, body code 40013) means not. Use it to settle a
        registration whose outcome is unknown (say, the process died mid-call) before
        registering again.

        Args:
            order_id: the BigCommerce order id.

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
            await self.company_of(order_id)
        except BadRequestError as exc:
            if exc.code == ORDER_MISSING_CODE:
                return False
            raise
        return True


class Companies:
    """The Company operations that concern orders, reached as ``client.companies``.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_transport",)

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def order_ids(
        self,
        company_id: str | int,
        *,
        begin_date: date | None = None,
        end_date: date | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncGenerator[str, None]:
        """Iterate over the ids of every order of a company ("Get BC Order Id List By Company Id").

        ``GET /api/v2/io/companies/{companyId}/orderBCIds``, page after page. Arguments are
        checked at once; requests start with the iteration.

        Args:
            company_id: the B2B Edition company.
            begin_date: only orders created on or after this day.
            end_date: only orders created on or before this day.
            page_size: ids per request.

        Returns:
            An async iterator of BigCommerce order ids, as ``str``.

        Raises:
            InvalidOrderError: an argument is invalid (raised by this call, before iterating).
            NotFoundError: the company does not exist (raised while iterating).
            B2BError: any other failure while iterating, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        path = _endpoint("/companies/{company}/orderBCIds", company=_id(company_id, "company_id"))
        query = _date_range(begin_date, end_date)
        size = check_page_size(page_size)
        return _order_ids(paginate(self._transport, path, query, Page[OrderRef], size))


async def _order_ids(refs: AsyncGenerator[OrderRef, None]) -> AsyncGenerator[str, None]:
    async with contextlib.aclosing(refs):  # leaving the outer loop early closes the inner one
        async for ref in refs:
            yield ref.order_id
