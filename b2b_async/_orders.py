"""The Orders resource: one method per API operation, no I/O logic of its own."""

from __future__ import annotations

import json
import json.encoder
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, Final
from urllib.parse import quote

from ._bulk import BulkReport, OrderOutcome, OutcomeStream, Source, run_bulk
from ._exceptions import OrderAlreadyExistsError
from ._models import CreatedOrder, NewOrder
from ._protocol import Request
from ._queries import OrderQueries
from ._serde import converter, structure
from ._transport import Transport

__all__ = ["Orders", "path_segment"]

V2: Final = "/api/v2/io"


def path_segment(value: str) -> str:
    """Percent-encode one path parameter so that it can never add a path segment.

    Besides ``/``, ``?`` and ``#``, dots are encoded too, so an id of ``..`` cannot climb.
    """
    if value.isascii() and value.isalnum():  # the common case: nothing to encode
        return value
    return quote(value, safe="").replace(".", "%2E")


def create_path(order: NewOrder) -> str:
    """The path of the create operation that fits ``order`` (with or without a company)."""
    customer = order.customer_id
    if not (customer.isascii() and customer.isalnum()):  # path_segment's own quick check
        customer = path_segment(customer)
    company = order.company_id
    if company is None:
        return f"{V2}/companies/users/{customer}/orders"
    if not (company.isascii() and company.isalnum()):
        company = path_segment(company)
    return f"{V2}/companies/{company}/user/{customer}/orders"


_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
# The converter's hook for a registration body, looked up once: it runs for every order.
_ORDER_BODY: Final = converter.get_unstructure_hook(NewOrder)


def _flat_encoder() -> Callable[[dict[str, Any], int], Iterable[str]]:
    """The chunks of a flat body's JSON text, from the standard library's C encoder made once.

    ``JSONEncoder.encode`` builds that C encoder anew on every call, which is about half
    the cost of encoding a registration body. This one has the same options as
    :func:`encode_body`, without the cycle check, which a flat object this module made
    itself does not need. Where the C accelerator is missing, the general encoder serves.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return lambda payload, _level: _ENCODER.iterencode(payload)
    encode: Callable[[dict[str, Any], int], Iterable[str]] = make(
        None,  # no cycle check
        _ENCODER.default,  # raises TypeError for a value JSON cannot hold
        json.encoder.encode_basestring_ascii,
        None,  # no indent
        ":",
        ",",
        False,  # sort_keys
        False,  # skipkeys
        False,  # allow_nan
    )
    return encode


_FLAT_CHUNKS: Final = _flat_encoder()


def encode_order_body(payload: dict[str, Any]) -> bytes:
    """Encode a registration body exactly as :func:`encode_body` does, at half the cost."""
    return "".join(_FLAT_CHUNKS(payload, 0)).encode()


def registration(order: NewOrder) -> Request:
    """The request that registers ``order``."""
    body = "".join(_FLAT_CHUNKS(_ORDER_BODY(order), 0)).encode()  # encode_order_body, inline
    return Request("POST", create_path(order), None, body)


def already_registered(order: NewOrder, exc: OrderAlreadyExistsError) -> CreatedOrder:
    """Turn "already exists" after an uncertain attempt into success; re-raise it otherwise."""
    if exc.after_uncertain_attempt:
        return CreatedOrder(order.order_id, already_registered=True)
    raise exc


def created_order(data: object) -> CreatedOrder:
    """Structure a create answer's ``data``; a misfit raises the converter's decode error.

    The documented answer, ``{"orderId": "<string>"}``, is read directly: this runs for
    every registration, and measured under load the converter's generic path costs several
    microseconds a call. Every other shape (an integer id, extra keys are fine too) goes
    through the converter, which also names the path of any problem.
    """
    if type(data) is dict and type(order_id := data.get("orderId")) is str:
        return CreatedOrder(order_id)
    return structure(data, CreatedOrder)


def encode_body(payload: object) -> bytes:
    """Encode a JSON request body compactly."""
    return _ENCODER.encode(payload).encode()


class Orders(OrderQueries):
    """The V2 Order operations, reached as ``client.orders``.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_transport",)

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def create(
        self,
        *,
        company_id: str | int | None = None,
        customer_id: str | int,
        order_id: str | int,
        total_inc_tax: Decimal | int | float | str,
        po_number: str | None = None,
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
        # The body of register(), not a call to it: one coroutine frame less on every call.
        try:
            data = (await self._transport.send(registration(order))).data
        except OrderAlreadyExistsError as exc:
            return already_registered(order, exc)
        return created_order(data)

    async def register(self, order: NewOrder) -> CreatedOrder:
        """Register an already validated :class:`~b2b_async.NewOrder`.

        The same as :meth:`create`, for callers that build their orders up front.

        .. versionadded:: 0.1.0
        """
        try:
            data = (await self._transport.send(registration(order))).data
        except OrderAlreadyExistsError as exc:
            return already_registered(order, exc)
        return created_order(data)

    async def create_many(
        self,
        orders: Source[NewOrder],
        *,
        concurrency: int | None = None,
        on_progress: Callable[[OrderOutcome[NewOrder, CreatedOrder]], object] | None = None,
    ) -> BulkReport[NewOrder, CreatedOrder]:
        """Register many orders; never raises for an order's failure.

        A bounded pool of workers pulls orders from ``orders`` (any iterable or async
        iterable of :class:`~b2b_async.NewOrder`) as it goes, never creating a task per
        input up front. Every request shares the client's pacing, cooldown, concurrency cap
        and retries. An order found already registered counts as a success, with
        ``result.already_registered`` set.

        Args:
            orders: the orders to register.
            concurrency: the number of workers; by default the client's
                ``max_concurrency`` (or 8 when it has none).
            on_progress: called with each :class:`~b2b_async.OrderOutcome` as it completes
                (for progress bars or journals).

        Returns:
            A :class:`~b2b_async.BulkReport` with exactly one outcome per input, in input
            order.

        Raises:
            ValueError: ``concurrency`` is not a positive int.
            Exception: whatever iterating ``orders`` or ``on_progress`` raised; the workers
                are stopped first.

        .. versionadded:: 0.1.0
        """
        workers = self._transport.bulk_workers(concurrency)
        return await run_bulk(self.register, orders, workers, on_progress, order_type=NewOrder)

    def create_stream(
        self, orders: Source[NewOrder], *, concurrency: int | None = None
    ) -> OutcomeStream[NewOrder, CreatedOrder]:
        """Register many orders, yielding each :class:`~b2b_async.OrderOutcome` as it completes.

        Memory stays bounded whatever the input's size: at most ``concurrency`` orders are
        in flight and as many outcomes wait to be read. Use it as ``async for outcome in
        client.orders.create_stream(orders)``, inside ``async with`` to stop the workers at
        once when leaving the loop early.

        Args:
            orders: the orders to register, from any iterable or async iterable.
            concurrency: the number of workers; by default the client's ``max_concurrency``.

        Returns:
            An :class:`~b2b_async.OutcomeStream`.

        Raises:
            ValueError: ``concurrency`` is not a positive int.

        .. versionadded:: 0.1.0
        """
        workers = self._transport.bulk_workers(concurrency)
        return OutcomeStream(self.register, orders, workers, order_type=NewOrder)
