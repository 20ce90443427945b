"""The V3 Order API, reached as ``client.v3.orders``: one method per operation.

Every call goes through the client's one transport, so pacing, the concurrency cap, retries,
the error tree and the authentication headers apply exactly as to V2 calls. Wire decisions
made here:

- paths live under ``/api/v3/io``; ids are positive integers, checked before anything is
  sent (:class:`~b2b_async.InvalidOrderError` otherwise);
- the V3 envelope is ``{"code", "data", "meta": {"message", "pagination"}}``; a listing's
  position is read (by :class:`~b2b_async._pagination.V3PageReader`) from
  ``meta.pagination``, or from ``meta`` itself as the published example of "Get All
  Orders" has it;
- time filters go out as whole Unix seconds (``minCreated``, ``maxModified``, ...), an
  ``_after`` bound rounded up and a ``_before`` one down, as an order's times are whole
  seconds; an ``_after`` bound before 1970 goes out as 0 and a ``_before`` one is refused
  (no order is older, and the API takes no negative time); a range within one second, whose
  rounded bounds would cross, lists nothing without a request; ``showExtra``
  as ``true`` (left out when false), channels as repeated ``channelIds[]`` parameters, the
  sort direction as ``ASC``/``DESC``;
- "Get an Order" and "Update an Order" document ``data`` as an array holding the order; an
  object is read as the order too;
- the create answer's ``data`` is the order; a registration answered "The order already
  exists." after an uncertain earlier attempt of the same call (or anywhere in a bulk run) is
  returned as :meth:`V3Order.sent <b2b_async.V3Order.sent>` with ``already_registered=True``
  (no further request: the attempt that timed out or was cut off registered it);
- a registration must reach the API within 10 seconds of the BigCommerce order's creation;
  a bulk registration without ``created_at`` that ends more than 10 seconds after it began
  (its retries, or waits for budget, took it past where the window may have ended) is
  logged at WARNING on the ``b2b_async`` logger (:func:`warn_if_late`), since the API then
  answers "The order already exists." without applying the PO number or extra fields sent;
- given the order's ``created_at``, a registration's deadline is the window's end less a
  margin (``_v3_window``), and a create that cannot meet it is not sent
  (:class:`~b2b_async.RegistrationWindowClosedError`); ``created_at`` itself is never sent;
- extra field values are checked against the store's configurations before a create or an
  update is sent (the rules in ``_extra_fields``; the configurations kept by the client's one
  ``_extra_field_cache.ExtraFieldCache``); when they cannot be fetched, values go unchecked
  (the API still checks them) rather than the call failing: a registration racing its window
  is worth more than a request saved on a 422;
- :meth:`V3Orders.ensure` reconciles: after the window it reads the order and updates only
  the values that differ, so a second call sends one read and changes nothing.
"""

from __future__ import annotations

import builtins
import functools
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Final, Literal, TypeVar, get_args

import attrs

from ._bulk import (
    BulkReport,
    OrderOutcome,
    OutcomeStream,
    Register,
    Source,
    run_bulk,
)
from ._config import (
    CHECK_SHARE,
    DEFAULT_V3_PAGE_SIZE,
    REGISTRATION_WINDOW,
    Priority,
    check_flag,
    logger,
)
from ._exceptions import (
    B2BError,
    DeadlineUnreachableError,
    InvalidOrderError,
    OrderAlreadyExistsError,
    OrderWithdrawnError,
    RegistrationWindowClosedError,
    ResponseDecodeError,
)
from ._extra_field_cache import ExtraFieldCache
from ._extra_fields import check_extra_fields, required_names
from ._pagination import V3PageReader, check_v3_page_size, walk_offsets
from ._priority import call_priority
from ._protocol import Request
from ._retry import later_failures_marked, may_have_taken_effect, settle_registration
from ._routes import check_query_size, id_list, one_of, to_v3_id, v3_path
from ._serde import encode_model, is_empty, one_or_many, structure
from ._transport import Transport
from ._v3_models import (
    EnsureAction,
    EnsuredOrder,
    EnsureStep,
    ExtraField,
    ExtraFieldConfig,
    ExtraFieldsInput,
    GroupMove,
    MovedOrders,
    NewV3Order,
    V3Order,
    V3OrderProduct,
    V3OrderUpdate,
    aware,
)
from ._v3_window import RegistrationWindow, window_lost
from ._withdrawal import unless_withdrawn

__all__ = [
    "V3Orders",
    "V3Resources",
    "order_changes",
    "unix_seconds",
    "warn_if_late",
]

#: The clock that times V3 bulk registrations (monotonic seconds); tests replace it.
clock: Callable[[], float] = time.monotonic

SortBy = Literal["createdAt", "updatedAt"]
SortOrder = Literal["asc", "desc"]
_SORT_BY: Final = frozenset(get_args(SortBy))
_SORT_ORDER: Final = frozenset(get_args(SortOrder))
#: Unix time 0, and its unit: time filters are counted from one in the other, exactly.
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND: Final = timedelta(seconds=1)
#: What one order of a bulk run becomes: a V3Order (create) or an EnsuredOrder (ensure).
ResultT = TypeVar("ResultT", V3Order, EnsuredOrder)


def unix_seconds(value: object, field: str) -> int:
    """A time filter as the whole Unix seconds it goes out as (see the module).

    The API compares them with an order's whole-second times, so an ``_after`` bound is
    rounded up and any other down, and no order outside the bound is listed. An ``_after``
    bound before 1970 is 0: no order is older, and the API takes no negative time.

    Args:
        value: the bound, which must be an aware ``datetime``.
        field: the argument's name (``created_after``, ``modified_before``, ...).

    Raises:
        InvalidOrderError: not an aware ``datetime`` (a naive one's Unix time is undefined),
            or a ``_before`` bound before 1970, which no order can meet.
    """
    elapsed = aware(value, field) - _EPOCH  # exact, as whole seconds are counted below
    if field.endswith("_after"):
        return max(-(-elapsed // _SECOND), 0)
    if elapsed < timedelta(0):
        raise InvalidOrderError(
            f"{field} must not be before 1970-01-01 UTC: no order is older, and the API"
            " takes no negative Unix time"
        )
    return elapsed // _SECOND


def _time_filters(**bounds: datetime | None) -> dict[str, int]:
    """``minCreated``/``maxCreated``/``minModified``/``maxModified``, each range checked
    on the instants given, before they are rounded to whole seconds."""
    names = {
        "created_after": "minCreated",
        "created_before": "maxCreated",
        "modified_after": "minModified",
        "modified_before": "maxModified",
    }
    given = {field: aware(value, field) for field, value in bounds.items() if value is not None}
    for kind in ("created", "modified"):
        low, high = given.get(f"{kind}_after"), given.get(f"{kind}_before")
        if low is not None and high is not None and low > high:
            raise InvalidOrderError(f"{kind}_after is later than {kind}_before")
    return {names[field]: unix_seconds(value, field) for field, value in given.items()}


def _holds_no_second(times: dict[str, int]) -> bool:
    """Whether a range of the rounded time filters holds no whole second (it lay within
    one): no order's time can meet it, and the API is not asked."""
    ranges = (("minCreated", "maxCreated"), ("minModified", "maxModified"))
    return any(low in times and high in times and times[low] > times[high] for low, high in ranges)


async def _no_orders() -> AsyncGenerator[V3Order, None]:
    """The listing of a range no order can meet: nothing, and no request."""
    nothing: tuple[V3Order, ...] = ()
    for order in nothing:
        yield order  # pragma: no cover - never reached


def _lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def _sorting(sort_by: object, order: object) -> builtins.list[tuple[str, str]]:
    """``sortBy`` and ``orderBy`` (``ASC``/``DESC``), each checked."""
    return [
        ("sortBy", one_of(sort_by, _SORT_BY, field="sort_by")),
        ("orderBy", one_of(_lower(order), _SORT_ORDER, field="order").upper()),
    ]


def _id_filters(company_id: object, bc_order_id: object) -> builtins.list[tuple[str, str]]:
    """``companyId`` and ``bcOrderId``, each left out when ``None``."""
    ids = {"companyId": ("company_id", company_id), "bcOrderId": ("bc_order_id", bc_order_id)}
    return [
        (name, str(to_v3_id(value, field=field)))
        for name, (field, value) in ids.items()
        if value is not None
    ]


def _channel_ids(value: object) -> builtins.list[int]:
    return [] if value is None else id_list(value, to_v3_id, field="channel_ids")


def _only_order(data: object, bc_order_id: int) -> V3Order:
    """The one order an answer about order ``bc_order_id`` describes.

    Raises:
        ResponseDecodeError: ``data`` holds no order, several, or another order than the
            one asked about.
    """
    orders = one_or_many(data, V3Order)
    if len(orders) != 1:
        held = f"{len(orders)} orders" if orders else "no order"
        raise ResponseDecodeError(f"response does not fit V3Order: {held} in data", path="$.data")
    if orders[0].bc_order_id != bc_order_id:
        raise ResponseDecodeError(
            f"the answer describes order {orders[0].bc_order_id}, not {bc_order_id}",
            path="$.data.bcOrderId",
        )
    return orders[0]


def warn_if_late(order: NewV3Order, started: float) -> None:
    """Log a registration that ended past the API's 10-second window (see the module).

    Only an order whose creation time is unknown is logged: with ``created_at``, no attempt
    started after the window, whatever the call took.

    Args:
        order: the registration.
        started: when it began, by :data:`clock`.
    """
    elapsed = clock() - started
    if order.created_at is None and elapsed > REGISTRATION_WINDOW:
        logger.warning(
            "V3 registration of order %s took %.1f s, past the API's %.0f-second window: its "
            "waits for budget or its retries may have sent it too late, and then the PO number "
            "and extra fields sent were not applied (check with client.v3.orders.get)",
            order.bc_order_id,
            elapsed,
            REGISTRATION_WINDOW,
        )


def _created(order: NewV3Order, data: object) -> V3Order:
    """The registered order from a create answer, with the customer that was sent."""
    if is_empty(data):
        return V3Order.sent(order)  # a 200 without the order: what was sent is what stands
    created = _only_order(data, order.bc_order_id)
    if created.customer_id is None:  # V3 answers do not carry it
        created = attrs.evolve(created, customer_id=order.customer_id)
    return created


def _after_update(held: V3Order, update: V3OrderUpdate) -> V3Order:
    """What an order that held ``held`` holds after ``update``: the values sent set, the
    fields not named kept (for an update whose answer does not describe the order). Its
    ``raw`` is emptied: the answer ``held`` was read from no longer describes it."""
    sent = {field.field_name: field for field in update.extra_fields}
    fields = [sent.pop(field.field_name, field) for field in held.extra_fields]
    po_number = held.po_number if update.po_number is None else update.po_number
    return attrs.evolve(held, po_number=po_number, extra_fields=(*fields, *sent.values()), raw={})


def _registration_body(order: NewV3Order) -> bytes:
    """The body of "Create an Order": ``created_at`` bounds the call and is not sent (the
    model marks it as the client's own)."""
    return encode_model(order)


def _window_of(order: NewV3Order) -> RegistrationWindow | None:
    """The order's registration window, when its creation time is known."""
    if order.created_at is None:
        return None
    return RegistrationWindow.of(order.bc_order_id, order.created_at)


def _why_lost(exc: B2BError) -> str:
    if isinstance(exc, DeadlineUnreachableError):
        return "no request budget before then (calls queued ahead, or a 429 cooldown)"
    return f"{type(exc).__name__} left no time for another attempt"


def order_changes(
    order: NewV3Order, current: V3Order, required: frozenset[str] | None = frozenset()
) -> tuple[V3OrderUpdate | None, tuple[str, ...]]:
    """The update that makes ``current`` hold ``order``'s PO number and extra fields.

    Only what differs is sent: the PO number when one is given and it differs (no PO number
    and an empty one are the same), and the given extra fields whose values differ. An
    update that sends anything also carries the given values of the store's required
    fields, which the API asks for in every update; when the store's rules are unknown, it
    carries every given extra field, since any of them may be required.

    Args:
        order: what B2B Edition should hold.
        current: what it holds.
        required: the names of the store's required extra fields, or ``None`` when unknown.

    Returns:
        The update (``None`` when nothing differs), and the names of what it changes
        (``"poNumber"`` and extra field names).
    """
    held = {field.field_name: field.field_value for field in current.extra_fields}
    differing = [
        field for field in order.extra_fields if held.get(field.field_name) != field.field_value
    ]
    po_number = order.po_number
    if po_number is not None and po_number == (current.po_number or ""):
        po_number = None
    changed = (*(["poNumber"] if po_number is not None else []), *(f.field_name for f in differing))
    if not changed:
        return None, ()
    sent = [
        field
        for field in order.extra_fields
        if required is None or field in differing or field.field_name in required
    ]
    return V3OrderUpdate(po_number, sent), changed


class V3Resources:
    """The V3 API, reached as ``client.v3``.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_orders",)

    def __init__(self, transport: Transport, cache: ExtraFieldCache | None = None) -> None:
        self._orders = V3Orders(transport, cache)

    @property
    def orders(self) -> V3Orders:
        """The V3 Order operations."""
        return self._orders


async def _configs_until(
    get: Callable[..., Awaitable[tuple[ExtraFieldConfig, ...] | None]], ends: float | None
) -> tuple[ExtraFieldConfig, ...] | None:
    """What ``get`` (a cache's ``for_check`` or ``for_recheck``) gives within the time left
    until ``ends``; a stopped run's order lets go (one fetch serves many orders)."""
    within = None if ends is None else max(ends - time.monotonic(), 0.0)
    return await unless_withdrawn(functools.partial(get, within=within))


def _refusal(
    fields: tuple[ExtraField, ...], configs: tuple[ExtraFieldConfig, ...], *, update: bool
) -> InvalidOrderError | None:
    """The error a value of ``fields`` meets against ``configs`` in a create or, with
    ``update``, an update, or ``None``."""
    try:
        check_extra_fields(fields, configs, update=update)
    except InvalidOrderError as exc:
        return exc
    return None


class V3Orders:
    """The V3 Order operations, reached as ``client.v3.orders``.

    .. versionadded:: 0.1.0
    """

    __slots__ = ("_cache", "_transport")

    def __init__(self, transport: Transport, cache: ExtraFieldCache | None = None) -> None:
        self._transport = transport
        self._cache = ExtraFieldCache(transport) if cache is None else cache

    async def create(
        self,
        *,
        bc_order_id: int | str,
        customer_id: int | str,
        po_number: str | None = None,
        extra_fields: ExtraFieldsInput = None,
        created_at: datetime | None = None,
        priority: Priority | str | None = None,
    ) -> V3Order:
        """Register a BigCommerce order with B2B Edition ("Create an Order", ``POST /orders``).

        The company and the total come from the BigCommerce order and the customer's company;
        this call adds the PO number and the extra fields. It must reach the API within 10
        seconds of the BigCommerce order's creation: later, B2B Edition has registered the
        order by itself and answers "The order already exists." (see :doc:`/v3`).

        Given ``created_at``, the call knows its window: its deadline is the window's end
        less a safety margin, it runs at ``"urgent"`` priority unless told otherwise, and a
        create that cannot meet the window (already past, the calls queued ahead or a 429
        cooldown, or retries that would pass it) is not sent:
        :class:`~b2b_async.RegistrationWindowClosedError` is raised instead.
        :meth:`ensure` registers or reconciles whatever the time.

        Args:
            bc_order_id: the BigCommerce order id.
            customer_id: the BigCommerce customer id of the company user who placed it.
            po_number: the purchase-order number, if any.
            extra_fields: the order's extra field values, as ``{name: value}`` or an iterable
                of :class:`~b2b_async.ExtraField`; checked against the store's configurations
                before sending (see :ref:`extra-field-check`). The store's required fields
                may be left out: the API asks for them in updates only.
            created_at: when BigCommerce created the order (its ``date_created``), an aware
                ``datetime``; never sent.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`. The
                default is ``"urgent"`` with ``created_at``, ``"normal"`` without.

        Returns:
            The registered order as the API describes it (``customer_id`` as sent). When an
            earlier attempt of this same call (one that timed out or was cut off) registered
            it, ``already_registered`` is ``True`` and the attributes hold what was sent.

        Raises:
            InvalidOrderError: an argument is invalid, or an extra field value breaks the
                store's rules; nothing was sent.
            RegistrationWindowClosedError: the window cannot be met; no create bound to fail
                was sent.
            OrderAlreadyExistsError: the order was registered before this call, by an earlier
                call or by B2B Edition itself once the 10 seconds had passed; the PO number
                and extra fields sent were then not applied (use :meth:`ensure`).
            BadRequestError: the API rejected the request.
            B2BError: any other failure, after the retries the policy allows.

        .. versionadded:: 0.1.0
        .. versionchanged:: 0.2.0
           ``created_at``, and the extra field check.
        """
        order = NewV3Order(bc_order_id, customer_id, po_number, extra_fields, created_at)
        return await self.register(order, priority=priority)

    async def register(
        self, order: NewV3Order, *, priority: Priority | str | None = None
    ) -> V3Order:
        """Register an already validated :class:`~b2b_async.NewV3Order`, as :meth:`create`.

        For callers that build their orders up front; the bulk methods register each input
        by the same steps.

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
        if not isinstance(order, NewV3Order):  # a bulk run checks its inputs on its own
            raise InvalidOrderError(f"expected a NewV3Order, got {type(order).__name__}")
        return await self._settle(order, priority, in_bulk=False)

    async def _register_in_bulk(self, order: NewV3Order, priority: Priority) -> V3Order:
        """Register one order of a bulk run; log it when it ended past the 10-second window.

        In a bulk run, "already exists" always means registered. The warning does not depend
        on the outcome: a late failure is logged too, but not an order the run withdrew,
        which sent nothing.
        """
        started = clock()
        try:
            registered = await self._settle(order, priority, in_bulk=True)
        except OrderWithdrawnError:
            raise
        except B2BError:
            warn_if_late(order, started)
            raise
        warn_if_late(order, started)
        return registered

    async def _settle(
        self, order: NewV3Order, priority: Priority | str | None, *, in_bulk: bool
    ) -> V3Order:
        """Register ``order``, reading "already exists" by :func:`settle_registration`'s rule."""
        level = self._registration_priority(order, priority)  # an unknown one is refused first
        window = _window_of(order)
        if window is not None and not window.is_open():  # checked before the configurations
            raise window.closed("the window has passed")
        began = time.monotonic()  # the call's deadline counts the check's wait
        await self._check(order.extra_fields, window, update=False)
        return await settle_registration(
            self._send_registration(order, window, level, began),
            lambda: V3Order.sent(order, already_registered=True),
            in_bulk=in_bulk,
        )

    def _registration_priority(
        self, order: NewV3Order, priority: Priority | str | None
    ) -> Priority:
        """A registration's priority: ``urgent`` by default when its window is known."""
        default = Priority.NORMAL if order.created_at is None else Priority.URGENT
        return self._transport.priority_of(priority, default=default)

    async def _send_registration(
        self,
        order: NewV3Order,
        window: RegistrationWindow | None,
        priority: Priority,
        began_at: float,
    ) -> V3Order:
        """Send the registration, within its window when known, and read the order.

        ``began_at``: when the call began (:func:`time.monotonic`), which its deadline
        counts from.

        Raises:
            RegistrationWindowClosedError: the window cannot be met (see :meth:`create`).
        """
        request = Request("POST", v3_path("/orders"), body=_registration_body(order))
        if window is None:
            answer = await self._transport.send(request, priority, began_at=began_at)
            return _created(order, answer.data)
        if not window.is_open():
            raise window.closed("the window has passed")
        try:
            answer = await self._transport.send(
                request, priority, deadline_at=window.deadline, began_at=began_at
            )
        except B2BError as exc:
            if window_lost(exc, window, self._transport.retry):
                raise window.closed(_why_lost(exc)) from exc
            raise
        return _created(order, answer.data)

    async def _check(
        self,
        fields: tuple[ExtraField, ...],
        window: RegistrationWindow | None = None,
        *,
        update: bool,
    ) -> frozenset[str] | None:
        """Check extra field values against the store's rules before they are sent, those of
        an update (every required field given) with ``update``, else those of a create.

        The check waits for the rules no longer than a share
        (:data:`~b2b_async._config.CHECK_SHARE`) of the call's ``RetryPolicy.deadline``,
        and while the ``window`` of a create is open, of what is left of it: the rest is
        the request's own, whose deadline counts the check's wait.

        Kept configurations older than
        :data:`~b2b_async._config.EXTRA_FIELD_CONFIGS_RECHECK` seconds that refuse a value
        are fetched again, within the same time, and the value is checked against the new
        ones (an administrator may have allowed it since); when that fetch fails, comes
        too late, or is not tried again yet after a failed one
        (:meth:`~b2b_async._extra_field_cache.ExtraFieldCache.for_recheck`), the kept ones'
        refusal stands.

        Returns:
            The names of the store's required fields, or ``None`` when the values went
            unchecked (the check is off, or the rules could not be fetched, or not in the
            time the deadline or the window could spare).

        Raises:
            InvalidOrderError: a value breaks a rule; nothing was sent.
        """
        ends = self._check_ends(window)
        configs = await _configs_until(self._cache.for_check, ends)
        if configs is None:
            return None
        refusal = _refusal(fields, configs, update=update)
        if refusal is not None:  # confirmed against configurations fetched again, if old
            configs = await _configs_until(self._cache.for_recheck, ends)
            if configs is None:
                raise refusal
            check_extra_fields(fields, configs, update=update)
        return required_names(configs)

    def _check_ends(self, window: RegistrationWindow | None) -> float | None:
        """When (:func:`time.monotonic`) the check must end: after its share of the call's
        deadline and of what is left of an open window, or ``None`` for no bound."""
        policy = self._transport.retry
        bounds = [] if policy is None or policy.deadline is None else [policy.deadline]
        if window is not None and window.is_open():
            bounds.append(window.left())
        within = min(bounds, default=None)
        return None if within is None else time.monotonic() + within * CHECK_SHARE

    async def ensure(
        self,
        *,
        bc_order_id: int | str,
        customer_id: int | str,
        po_number: str | None = None,
        extra_fields: ExtraFieldsInput = None,
        created_at: datetime | None = None,
        priority: Priority | str | None = None,
    ) -> EnsuredOrder:
        """Make B2B Edition hold this order with these attributes, whatever the time.

        - While the order's registration window is open (or ``created_at`` is unknown), it
          creates the order, as :meth:`create`: one request.
        - Otherwise, or when the create cannot meet the window or is answered "The order
          already exists.", it reads the order ("Get an Order") and updates the PO number
          and extra fields only where they differ ("Update an Order"), and when the order has
          no company, assigns the customer's orders to theirs ("Assign Customer Orders to
          Company"). A create that missed its window waits first until B2B Edition has
          recorded the order on its own (at most the window's end plus a second, two when
          ``created_at`` holds whole seconds, as BigCommerce's ``date_created`` does).

        Requests: 1 when the window is open; 1 read when the order already holds the values;
        2 (read and update) when it differs, plus 1 when it has no company. Without
        ``created_at``, a late order costs one more: the create answered "already exists".

        It is idempotent: safe to call again after a crash or from any job queue's retries.
        A second call changes nothing: it sends one read once the window has passed, and the
        create answered "already exists", then the read, while the window is open or
        without ``created_at``.

        Args:
            bc_order_id: the BigCommerce order id.
            customer_id: the BigCommerce customer id of the company user who placed it.
            po_number: the purchase-order number; ``None`` leaves the order's as it is.
            extra_fields: extra field values, as ``{name: value}`` or an iterable of
                :class:`~b2b_async.ExtraField`; fields not named keep their values. The
                store's required fields must be among them when an update is needed: an
                update carries them (a create, or an order that already holds what is given,
                needs none).
            created_at: when BigCommerce created the order (its ``date_created``), an aware
                ``datetime``: it tells whether the window is open, and saves a late order a
                request.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`. By
                default the create is ``"urgent"`` (``"normal"`` without ``created_at``) and
                the reads and updates ``"normal"``.

        Returns:
            The order as B2B Edition holds it now, with what this call did as its
            ``action``: ``"created"``, ``"updated"`` or ``"unchanged"``.

        Raises:
            InvalidOrderError: an argument is invalid, or an extra field value breaks the
                store's rules; nothing was sent, but for a required field left out, which is
                raised only when the read shows an update is needed, before the update.
            NotFoundError: the order is not in B2B Edition after its window (not a company
                customer's order, say), or the customer does not exist.
            UnprocessableEntityError: the API refused an extra field value.
            B2BError: any other failure, after the retries the policy allows; calling again
                picks up where this call stopped. After a create that may have registered
                the order, its ``after_uncertain_attempt`` is set, whatever failed.

        .. versionadded:: 0.2.0
        """
        order = NewV3Order(bc_order_id, customer_id, po_number, extra_fields, created_at)
        return await self._ensure(order, call_priority(priority))

    async def _ensure(self, order: NewV3Order, priority: Priority | None) -> EnsuredOrder:
        """:meth:`ensure` for a checked order, at the caller's priority (``None``: defaults)."""
        window = _window_of(order)
        began = time.monotonic()  # the create's deadline counts the check's wait
        # A create's rules: an update, if one is needed, is checked for the required fields.
        await self._check(order.extra_fields, window, update=False)
        if window is not None and not window.is_open():
            return await self._reconcile(order, priority, window)
        created, missed, uncertain = await self._try_create(order, window, priority, began)
        if created is not None:
            return EnsuredOrder(action="created", order=created, steps=("create",))
        with later_failures_marked(uncertain):  # the create may have registered the order
            return await self._reconcile(order, priority, missed, steps=("create",))

    async def _try_create(
        self,
        order: NewV3Order,
        window: RegistrationWindow | None,
        priority: Priority | None,
        began_at: float,
    ) -> tuple[V3Order | None, RegistrationWindow | None, bool]:
        """Create within the window: the order, or the window to wait for when it was missed.

        Returns:
            ``(order, None, False)`` when created; ``(None, window, False)`` when the window
            cannot be met, nothing sent; ``(None, window, True)`` when the create failed but
            may have registered the order; ``(None, None, uncertain)`` when the order already
            exists, ``uncertain`` when an earlier attempt may have registered it.
        """
        level = self._registration_priority(order, priority)
        try:
            return await self._send_registration(order, window, level, began_at), None, False
        except OrderAlreadyExistsError as exc:
            return None, None, exc.after_uncertain_attempt
        except RegistrationWindowClosedError:
            return None, window, False
        except B2BError as exc:
            # A create that may have registered the order, by this attempt or an earlier one:
            # once its window has passed, B2B Edition holds the order either way, and the
            # read tells what it holds.
            if window is None or not may_have_taken_effect(exc):
                raise
            return None, window, True

    async def _reconcile(
        self,
        order: NewV3Order,
        priority: Priority | None,
        window: RegistrationWindow | None,
        *,
        steps: tuple[EnsureStep, ...] = (),
    ) -> EnsuredOrder:
        """Read the order, then update what differs (its values checked by an update's rules
        first) and assign it a company if it has none."""
        if window is not None:  # a wait that closing the client or a stopped run ends
            settled = functools.partial(unless_withdrawn, window.wait_until_settled)
            await self._transport.unless_closed(settled)
        current = await self.get(order.bc_order_id, priority=priority)
        update, changed = await self._needed_update(order, current)
        result, steps = current, (*steps, "get")
        if update is not None:
            result = await self._send_update(order.bc_order_id, update, priority, current)
            steps = (*steps, "update")
        moved = 0
        if not current.company_id:  # None, or 0 as some answers have it
            moved = await self.assign_customer_orders(order.customer_id, priority=priority)
            steps = (*steps, "assign")
        # An assignment that moved nothing (the customer has no company) changed nothing.
        action: EnsureAction = "updated" if update is not None or moved else "unchanged"
        result = attrs.evolve(result, customer_id=order.customer_id)
        return EnsuredOrder(action=action, order=result, steps=steps, changed=changed)

    async def _needed_update(
        self, order: NewV3Order, current: V3Order
    ) -> tuple[V3OrderUpdate | None, tuple[str, ...]]:
        """The update that makes ``current`` hold ``order``, checked by an update's rules
        (every required field given), and what it changes; ``(None, ())`` when none is needed.

        It carries the required fields of the configurations that check confirmed (fetched
        again when old ones refused the values), not of older ones.
        """
        if order_changes(order, current)[0] is None:
            return None, ()
        required = await self._check(order.extra_fields, update=True)
        return order_changes(order, current, required)

    async def ensure_many(
        self,
        orders: Source[NewV3Order],
        *,
        concurrency: int | None = None,
        on_progress: Callable[[OrderOutcome[NewV3Order, EnsuredOrder]], object] | None = None,
        priority: Priority | str | None = None,
    ) -> BulkReport[NewV3Order, EnsuredOrder]:
        """:meth:`ensure` many orders; never raises for an order's failure.

        The bulk engine of :meth:`create_many`, for :class:`~b2b_async.NewV3Order` inputs
        (their ``created_at`` tells each one's window): one outcome per input, in input order,
        whose ``result`` is an :class:`~b2b_async.EnsuredOrder` (``already_registered`` unless
        it was created). A backfill of old orders reads each one and updates only those that
        differ; running it again sends one read per order.

        Args:
            orders: the orders, from any iterable or async iterable.
            concurrency: the number of workers (at most 1,000 start); by default the
                client's ``max_concurrency``.
            on_progress: called with each outcome as it completes.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"`` (the default, for every
                request of the run, unless the view or a :meth:`B2BClient.priority` block
                chooses otherwise); see :ref:`priorities`.

        Returns:
            A :class:`~b2b_async.BulkReport` of :class:`~b2b_async.EnsuredOrder` results.

        Raises:
            ValueError: ``concurrency`` is not a positive int.
            TypeError: ``orders`` is one order, text, a mapping or not iterable, or
                ``on_progress`` is not callable; nothing was sent.
            Exception: as :meth:`create_many`, from iterating ``orders`` or from
                ``on_progress``, once the workers are stopped.

        .. versionadded:: 0.2.0
        """
        return await self._run_many(self._bulk_ensure(priority), orders, concurrency, on_progress)

    def ensure_stream(
        self,
        orders: Source[NewV3Order],
        *,
        concurrency: int | None = None,
        priority: Priority | str | None = None,
    ) -> OutcomeStream[NewV3Order, EnsuredOrder]:
        """:meth:`ensure` many orders, yielding each outcome as it completes.

        As :meth:`ensure_many`, with the memory bound and early exit of :meth:`create_stream`.

        Args:
            orders: the orders, from any iterable or async iterable.
            concurrency: how many workers (at most 1,000 start); the client's
                ``max_concurrency`` when ``None``.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"`` (the default); see
                :ref:`priorities`.

        Returns:
            An :class:`~b2b_async.OutcomeStream` of outcomes whose results are
            :class:`~b2b_async.EnsuredOrder`.

        Raises:
            ValueError: ``concurrency`` is not an int of at least 1.
            TypeError: ``orders`` is one order, text, a mapping or not iterable.

        .. versionadded:: 0.2.0
        """
        return self._stream(self._bulk_ensure(priority), orders, concurrency)

    def _bulk_ensure(self, priority: Priority | str | None) -> Register[NewV3Order, EnsuredOrder]:
        """Ensure one order of a bulk run, at the run's priority (``bulk`` by default)."""
        level = self._transport.bulk_priority(priority)
        return functools.partial(self._ensure, priority=level)

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
                ``None`` or an empty list sends no channel filter, and the API's own default
                applies: its published document gives ``channelIds[]`` a default of 1, so a
                store with several channels should name the ones it wants.
            show_extra: include each order's extra fields.
            page_size: orders per request, from 1 to 200; each page spends one request of the
                store's budget.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        Returns:
            An async iterator of :class:`~b2b_async.V3Order`.

        Raises:
            InvalidOrderError: an argument is invalid (raised by this call, before iterating).
            ResponseDecodeError: a page does not fit, or the listing repeats its pages
                (see :ref:`how listings are walked <listing-walk>`).
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
        check_query_size(query, field="channel_ids")
        if check_flag(show_extra, "show_extra", error=InvalidOrderError):
            query.append(("showExtra", "true"))
        size = check_v3_page_size(page_size)
        reader = V3PageReader(V3Order, key=attrgetter("bc_order_id"))
        level = call_priority(priority)
        if _holds_no_second(times):
            return _no_orders()
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
        number = to_v3_id(bc_order_id, field="bc_order_id")
        request = Request("GET", v3_path("/orders/{bc_order_id}", bc_order_id=number))
        return _only_order((await self._transport.send(request, priority)).data, number)

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
                in every update. Checked against the store's configurations before sending
                (see :ref:`extra-field-check`).
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        Returns:
            The updated order; when the answer does not describe it, the values sent.

        Raises:
            InvalidOrderError: an argument is invalid, neither field is given, or an extra
                field value breaks the store's rules; nothing was sent.
            NotFoundError: the order does not exist.
            UnprocessableEntityError: a required extra field is missing.
            B2BError: any other failure, after the retries the policy allows.

        .. versionadded:: 0.1.0
        """
        number = to_v3_id(bc_order_id, field="bc_order_id")
        update = V3OrderUpdate(po_number, extra_fields)
        level = call_priority(priority)
        began = time.monotonic()  # the call's deadline counts the check's wait
        await self._check(update.extra_fields, update=True)
        return await self._send_update(number, update, level, began_at=began)

    async def _send_update(
        self,
        number: int,
        update: V3OrderUpdate,
        priority: Priority | None,
        held: V3Order | None = None,
        *,
        began_at: float | None = None,
    ) -> V3Order:
        """Send a checked update of order ``number``; the order as answered, or when it is
        not, what it ``held`` (as last read, when known) with the values sent set. Its
        deadline counts from ``began_at``, when given."""
        path = v3_path("/orders/{bc_order_id}", bc_order_id=number)
        request = Request("PUT", path, body=encode_model(update))
        data = (await self._transport.send(request, priority, began_at=began_at)).data
        if is_empty(data):
            return _after_update(V3Order(bc_order_id=number) if held is None else held, update)
        return _only_order(data, number)

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
            How many orders moved, as the last answer counts them (see
            :ref:`what the count misses <customer-order-counts>`).

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
            How many orders moved, as the last answer counts them (see
            :ref:`what the count misses <customer-order-counts>`).

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

        ``GET /api/v3/io/orders/extra-fields``, every page. The answer is kept on the client
        (and its views) for :data:`~b2b_async._config.EXTRA_FIELD_CONFIGS_TTL` seconds, five
        minutes: the configurations change only when an administrator edits them, the API's
        documentation asks integrations to cache them, and every request spends the store's
        shared budget. The check of extra field values before a create or an update reads the
        same configurations. Concurrent first calls share one fetch, which is the client's:
        it runs with the client's own timeout and retry options, whichever view asks.

        Args:
            refresh: fetch again even when kept (after a configuration change).
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"``; see :ref:`priorities`.

        Returns:
            The configurations, in the API's order (a new list on every call).

        Raises:
            ResponseDecodeError: the listing did not end within
                :data:`~b2b_async._config.MAX_EXTRA_FIELD_CONFIGS` (1,000) configurations
                (a store has tens), changed while it was read (its count differs from page
                to page), or names a field twice.
            B2BError: the configurations could not be fetched (nothing is kept then).

        .. versionadded:: 0.1.0
        .. versionchanged:: 0.2.0
           Kept for five minutes, not for the client's life.
        """
        level = self._transport.priority_of(priority)
        again = check_flag(refresh, "refresh", error=InvalidOrderError)
        return builtins.list(await self._cache.configs(level, refresh=again))

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
            concurrency: the number of workers (at most 1,000 start); by default the
                client's ``max_concurrency``.
            on_progress: called with each outcome as it completes.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"`` (the default, unless the view
                or a :meth:`B2BClient.priority` block chooses otherwise); see :ref:`priorities`.

        Returns:
            A :class:`~b2b_async.BulkReport`; each outcome's ``result`` is a
            :class:`~b2b_async.V3Order`.

        Raises:
            ValueError: ``concurrency`` is not a positive int.
            TypeError: ``orders`` is one order, text, a mapping or not iterable, or
                ``on_progress`` is not callable; nothing was sent.
            Exception: as :meth:`Orders.create_many <b2b_async.Orders.create_many>`, from
                iterating ``orders`` or from ``on_progress``, once the workers are stopped.

        .. versionadded:: 0.1.0
        """
        register = self._bulk_registration(priority)
        return await self._run_many(register, orders, concurrency, on_progress)

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
            concurrency: how many workers (at most 1,000 start); the client's
                ``max_concurrency`` when ``None``.
            priority: ``"urgent"``, ``"normal"`` or ``"bulk"`` (the default, unless the view
                or a :meth:`B2BClient.priority` block chooses otherwise); see :ref:`priorities`.

        Returns:
            An :class:`~b2b_async.OutcomeStream` of V3 outcomes.

        Raises:
            ValueError: ``concurrency`` is not an int of at least 1.
            TypeError: ``orders`` is one order, text, a mapping or not iterable.

        .. versionadded:: 0.1.0
        """
        return self._stream(self._bulk_registration(priority), orders, concurrency)

    async def _run_many(
        self,
        register: Register[NewV3Order, ResultT],
        orders: Source[NewV3Order],
        concurrency: int | None,
        on_progress: Callable[[OrderOutcome[NewV3Order, ResultT]], object] | None,
    ) -> BulkReport[NewV3Order, ResultT]:
        """Run ``register`` over every order on the bulk engine; the report in input order."""
        workers = self._transport.bulk_workers(concurrency)
        return await run_bulk(register, orders, workers, on_progress, order_type=NewV3Order)

    def _stream(
        self,
        register: Register[NewV3Order, ResultT],
        orders: Source[NewV3Order],
        concurrency: int | None,
    ) -> OutcomeStream[NewV3Order, ResultT]:
        """Run ``register`` over every order on the bulk engine, yielding each outcome."""
        workers = self._transport.bulk_workers(concurrency)
        return OutcomeStream(register, orders, workers, order_type=NewV3Order)

    def _bulk_registration(self, priority: Priority | str | None) -> Register[NewV3Order, V3Order]:
        """Register one order of a bulk run, at the run's priority (``bulk`` by default)."""
        level = self._transport.bulk_priority(priority)
        return functools.partial(self._register_in_bulk, priority=level)


def _moved(data: object) -> int:
    """How many orders moved; an answer whose ``data`` describes nothing, or whose ``total``
    is negative (no count, as ``-1`` often stands for), moved none."""
    answer = structure({} if is_empty(data) else data, MovedOrders)
    return max(answer.total or 0, 0)
