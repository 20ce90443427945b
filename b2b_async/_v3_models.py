"""The models of the V3 Order API: what a V3 registration sends, and what V3 answers hold.

V3 differs from V2 in its ids: the BigCommerce order id (``bcOrderId``), the customer id and
the customer group id are integers on the wire, so :class:`NewV3Order` takes an ``int`` or a
string of decimal digits and keeps an ``int``. Answers are read as leniently as V2's (see
``_serde``): ids and counts as numbers or numeric strings, money as numbers or numeric
strings, times as Unix seconds, unknown fields ignored (and kept in each model's ``raw``).

Wire spellings, recorded beside each field through ``wire()``:

- B2B Edition's own order id is ``id`` (:attr:`V3Order.b2b_order_id`); it is not accepted
  where V3 asks for ``bcOrderId``.
- A product's options name their option ``optionId`` (:attr:`V3ProductOption.option_id`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final, Literal, TypeAlias

import attrs

from ._config import NOT_ITEMS, REGISTRATION_MARGIN, REGISTRATION_WINDOW, plain
from ._exceptions import InvalidOrderError
from ._routes import sendable_text, to_v3_id
from ._serde import ReadOnlyMapping, number_text, wire
from ._v3_window import window_end

#: The margin kept after a window's end, when the order is read back.
_MARGIN: Final = timedelta(seconds=REGISTRATION_MARGIN)
#: The window's length.
_WINDOW: Final = timedelta(seconds=REGISTRATION_WINDOW)


# A converter's parameter is the constructor's argument type to mypy and pyright: it says
# what a caller may pass, and the converter itself still checks what an untyped caller does.
def _bc_order_id(value: int | str) -> int:
    return to_v3_id(value, field="bc_order_id")


def _customer_id(value: int | str) -> int:
    return to_v3_id(value, field="customer_id")


def _text(given: object, field: str) -> str:
    value = plain(given)
    if isinstance(value, int) and not isinstance(value, bool):
        # Through Decimal: str() of an int past Python's digit limit raises a bare ValueError.
        return number_text(Decimal(value), field=field)
    if isinstance(value, Decimal) and value.is_finite():
        return number_text(value, field=field)
    if not isinstance(value, str):
        raise InvalidOrderError(f"{field} must be a str, got {type(value).__name__}")
    return sendable_text(value, field=field)


def _field_name(value: str) -> str:
    name = _text(value, "field_name")
    if not name.strip():
        raise InvalidOrderError("field_name must not be empty")
    return name


def _field_value(value: str | int | Decimal) -> str:
    return _text(value, "field_value")


def _po_number(value: str | None) -> str | None:
    return None if value is None else _text(value, "po_number")


def aware(value: object, field: str) -> datetime:
    """``value`` checked to be an aware ``datetime``: the instant it names is then defined.

    Raises:
        InvalidOrderError: not a ``datetime``, a naive one, or one whose ``tzinfo`` gives
            no valid offset from UTC.
    """
    if not isinstance(value, datetime):
        raise InvalidOrderError(f"{field} must be a datetime, got {type(value).__name__}")
    try:
        offset = value.utcoffset()
    except Exception as exc:  # a tzinfo is the caller's code: its failure is a bad value
        raise InvalidOrderError(f"{field}'s tzinfo gives no valid UTC offset: {exc}") from exc
    if offset is None:
        raise InvalidOrderError(f"{field} must be an aware datetime (give it a tzinfo)")
    return value


def _created_at(value: datetime | None) -> datetime | None:
    """An order's creation time: an aware ``datetime`` whose window fits, or None."""
    if value is None:
        return None
    created_at = aware(value, "created_at")
    _check_window_fits(created_at)
    return created_at


def _check_window_fits(created_at: datetime) -> None:
    """Refuse a creation time whose registration window a ``datetime`` cannot hold.

    The window is computed in UTC from ``created_at`` (:func:`~b2b_async._v3_window.window_end`):
    from its start to its end and margin, every instant must lie within the years 1 to 9999
    in UTC, or the computation overflows; its end must, in its own zone too, as a caller
    writes it.
    """
    try:
        created_at + _WINDOW  # its end in its own zone
        window_end(created_at) + _MARGIN
    except OverflowError:
        raise InvalidOrderError(
            "created_at must leave its registration window and margin within the years 1 to"
            f" 9999, in UTC as in its own zone, got {created_at.isoformat()}"
        ) from None


@attrs.frozen
class ExtraField:
    """An order extra field's value: sent with a V3 registration or update, read from answers.

    Attributes:
        field_name: the extra field's name, as configured in B2B Edition (see
            :meth:`V3Orders.extra_field_configs <b2b_async.V3Orders.extra_field_configs>`).
        field_value: the value, as text (an ``int`` or a ``Decimal`` becomes its digits).

    Raises:
        InvalidOrderError: an empty name, or a value that is not text or a number.

    .. versionadded:: 0.1.0
    """

    field_name: str = attrs.field(converter=_field_name)
    field_value: str = attrs.field(converter=_field_value)


ExtraFieldsInput = Mapping[str, str | int | Decimal] | Iterable[ExtraField] | None


def to_extra_fields(value: ExtraFieldsInput) -> tuple[ExtraField, ...]:
    """Normalise extra fields given as a name-to-value mapping or an iterable of ExtraField.

    Args:
        value: ``{"Fintech ID": "1234"}``, ``[ExtraField("Fintech ID", "1234")]`` or ``None``.

    Returns:
        The extra fields, in the order given.

    Raises:
        InvalidOrderError: an item is not an :class:`ExtraField`, or a name repeats.
    """
    given: object = value  # checked as what it is, not as what it is declared to be
    if given is None:
        return ()
    if isinstance(given, Mapping):
        fields = tuple(ExtraField(name, text) for name, text in given.items())
    else:
        fields = _extra_field_items(given)
    # Checked once the names are text: {100: "a", "100": "b"} names one field twice.
    names = [item.field_name for item in fields]
    if len(set(names)) != len(names):
        raise InvalidOrderError("extra_fields names each field once")
    return fields


def _extra_field_items(given: object) -> tuple[ExtraField, ...]:
    if isinstance(given, NOT_ITEMS) or not isinstance(given, Iterable):
        raise InvalidOrderError(
            f"extra_fields must be a mapping or an iterable of ExtraField, "
            f"got {type(given).__name__}"
        )
    fields = tuple(given)
    for index, item in enumerate(fields):
        if not isinstance(item, ExtraField):
            raise InvalidOrderError(
                f"extra_fields[{index}] must be an ExtraField, got {type(item).__name__}"
            )
    return fields


@attrs.frozen
class NewV3Order:
    """A BigCommerce order to register through V3 "Create an Order" (``POST /orders``).

    Unlike V2's :class:`~b2b_async.NewOrder`, it names no company and no total: B2B Edition
    takes both from the BigCommerce order and the customer's company. The registration must
    reach the API within 10 seconds of the BigCommerce order's creation (see :doc:`/v3`).

    Attributes:
        bc_order_id: the BigCommerce order id (the natural key of a registration).
        customer_id: the BigCommerce customer id of the company user who placed the order.
        po_number: the purchase-order number, if any.
        extra_fields: the order's extra field values (a mapping of name to value is accepted).
        created_at: when BigCommerce created the order (its ``date_created``), an aware
            ``datetime``; it bounds the registration by the 10-second window. Never sent.

    Raises:
        InvalidOrderError: an id that is not a positive whole number, a PO number that is
            neither text nor a number (an ``int`` or a ``Decimal`` becomes its digits, as an
            extra field value does), malformed extra fields, or a ``created_at`` that is not
            an aware datetime or so close to the end (or start) of ``datetime``'s range that
            its window falls outside it.

    .. versionadded:: 0.1.0
    .. versionchanged:: 0.2.0
       ``created_at``.
    """

    bc_order_id: int = attrs.field(converter=_bc_order_id)
    customer_id: int = attrs.field(converter=_customer_id)
    po_number: str | None = attrs.field(default=None, converter=_po_number)
    extra_fields: tuple[ExtraField, ...] = attrs.field(default=(), converter=to_extra_fields)
    created_at: datetime | None = attrs.field(
        default=None, converter=_created_at, metadata=wire(local=True)
    )

    @property
    def order_id(self) -> str:
        """The BigCommerce order id as text, the key bulk reports and journals use."""
        return str(self.bc_order_id)


@attrs.frozen
class V3OrderUpdate:
    """The body of V3 "Update an Order" (``PUT /orders/{bcOrderId}``): at least one field."""

    po_number: str | None = attrs.field(default=None, converter=_po_number)
    extra_fields: tuple[ExtraField, ...] = attrs.field(default=(), converter=to_extra_fields)

    def __attrs_post_init__(self) -> None:
        if self.po_number is None and not self.extra_fields:
            raise InvalidOrderError("an update needs po_number or extra_fields (or both)")


@attrs.frozen
class GroupMove:
    """The body of "Reassign Orders to a Different Company"."""

    bc_group_id: int


@attrs.frozen
class MovedOrders:
    """The answer of the two customer operations: how many orders moved."""

    total: int | None = None


def _raw() -> Any:
    return attrs.field(
        factory=dict, converter=ReadOnlyMapping, repr=False, hash=False, metadata=wire(raw=True)
    )


@attrs.frozen(kw_only=True)
class V3Order:
    """An order as V3 describes it: "Create an Order", "Get an Order", "Get All Orders".

    The typed attributes are the ones most integrations read; :attr:`raw` keeps the whole
    object as received (``money``, ``extraInfo``, the legacy ``extraInt1``... fields).

    Attributes:
        bc_order_id: the BigCommerce order id.
        b2b_order_id: B2B Edition's own id of the order (``id``); V3 never accepts it in
            place of ``bc_order_id``.
        customer_id: the customer who placed it, when known (V3 answers do not carry it; a
            registration's result takes it from what was sent).
        company_id: the B2B Edition company.
        total_inc_tax: the total including tax, in the order's currency.
        usd_inc_tax: the total including tax, converted to USD.
        po_number: the purchase-order number.
        status: the order status's default name.
        custom_status: the store's own name for the status.
        status_code: the BigCommerce order status id.
        cart_id: the id of the cart the order came from.
        items: the number of items.
        currency_code: the order's currency.
        is_archived: whether the order is archived.
        is_invoice_order: whether the order is an invoice payment ("Get an Order" only).
        invoice_id: the invoice of an invoice payment, if any.
        invoice_number: that invoice's number.
        invoice_status: that invoice's status (0 open, 1 partially paid, 2 paid).
        channel_id: the storefront channel.
        channel_name: the channel's name.
        extra_fields: the order's extra field values (listings carry them only when asked).
        created_at: when the order was created (aware, UTC).
        updated_at: when it was last updated (aware, UTC).
        already_registered: ``True`` when a registration found the order already registered
            by an earlier, uncertain attempt of the same call; the other attributes then hold
            what was sent.
        raw: the whole object as received (read-only; empty when nothing was received).

    .. versionadded:: 0.1.0
    """

    bc_order_id: int
    b2b_order_id: int | None = attrs.field(default=None, metadata=wire("id"))
    customer_id: int | None = None
    company_id: int | None = None
    total_inc_tax: Decimal | None = None
    usd_inc_tax: Decimal | None = None
    po_number: str | None = None
    status: str | None = None
    custom_status: str | None = None
    status_code: int | None = None
    cart_id: str | None = None
    items: int | None = None
    currency_code: str | None = None
    is_archived: bool | None = None
    is_invoice_order: bool | None = None
    invoice_id: int | None = None
    invoice_number: str | None = None
    invoice_status: int | None = None
    channel_id: int | None = None
    channel_name: str | None = None
    extra_fields: tuple[ExtraField, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    already_registered: bool = attrs.field(default=False, metadata=wire(local=True))
    raw: Mapping[str, Any] = _raw()

    @property
    def order_id(self) -> str:
        """The BigCommerce order id as text, as V2's created orders have it
        (:attr:`CreatedOrder.order_id <b2b_async.CreatedOrder.order_id>`)."""
        return str(self.bc_order_id)

    @classmethod
    def sent(cls, order: NewV3Order, *, already_registered: bool = False) -> V3Order:
        """The order as a registration sent it, for when no answer describes it.

        Args:
            order: the registration.
            already_registered: whether an earlier attempt registered it.

        Returns:
            A :class:`V3Order` holding the sent values; other attributes are ``None``.
        """
        return cls(
            bc_order_id=order.bc_order_id,
            customer_id=order.customer_id,
            po_number=order.po_number,
            extra_fields=order.extra_fields,
            already_registered=already_registered,
        )


#: What :meth:`V3Orders.ensure <b2b_async.V3Orders.ensure>` did: see :class:`EnsuredOrder`.
EnsureAction: TypeAlias = Literal["created", "updated", "unchanged"]
#: One request of an ``ensure``: "Create an Order", "Get an Order", "Update an Order", or
#: "Assign Customer Orders to Company".
EnsureStep: TypeAlias = Literal["create", "get", "update", "assign"]


@attrs.frozen(kw_only=True)
class EnsuredOrder:
    """What :meth:`V3Orders.ensure <b2b_async.V3Orders.ensure>` did to an order, and the result.

    Attributes:
        action: ``"created"``: registered within V3's window, with its PO number and extra
            fields; ``"updated"``: B2B Edition held the order already, and its PO number,
            extra fields or company were set; ``"unchanged"``: it held them already (also
            when this call's create took effect but its answer was lost: see ``steps``).
        order: the order as the last answer described it (an update's answer, else the
            read, with the values an update sent set when its answer did not describe the
            order; ``customer_id`` as given). After an assignment its ``company_id`` is still
            the one read: ``None``.
        steps: the operations tried, in order: ``"create"``, ``"get"``, ``"update"``,
            ``"assign"``. Each is one request, retries aside, but for a create that its
            window stopped before it was sent.
        changed: what the update set: ``"poNumber"`` and the names of the extra fields whose
            values differed; empty without an update.

    .. versionadded:: 0.2.0
    """

    action: EnsureAction
    order: V3Order
    steps: tuple[EnsureStep, ...]
    changed: tuple[str, ...] = ()

    @property
    def already_registered(self) -> bool:
        """Whether B2B Edition held the order before this call (``action`` is not created)."""
        return self.action != "created"

    @property
    def order_id(self) -> str:
        """The BigCommerce order id as text, the key bulk reports and journals use."""
        return self.order.order_id


@attrs.frozen(kw_only=True)
class V3ProductOption:
    """One chosen option of an ordered product, from V3 "Get Order Products".

    Attributes:
        option_id: the product option's id (``optionId``).
        product_option_id: the option's id within the order.
        display_name: the option's name as shown to the buyer.
        display_value: the chosen value as shown to the buyer.
        value: the chosen value's id.
        type: how the option is displayed ("Multiple choice", ...).
        name: the option's internal name.
        raw: the whole object as received (read-only).

    .. versionadded:: 0.1.0
    """

    option_id: int | None = None
    product_option_id: int | None = None
    display_name: str | None = None
    display_value: str | None = None
    value: str | None = None
    type: str | None = None
    name: str | None = None
    raw: Mapping[str, Any] = _raw()


@attrs.frozen(kw_only=True)
class V3OrderProduct:
    """A product line of an order, from V3 "Get Order Products".

    Attributes:
        id: the line's id.
        product_id: the BigCommerce product id.
        product_name: the product's name.
        variant_id: the variant's id.
        variant_sku: the variant's SKU.
        product_brand_name: the product's brand.
        quantity: how many were ordered.
        options: the chosen options.
        created_at: when the order was created (aware, UTC).
        updated_at: when the order was last updated (aware, UTC).
        raw: the whole object as received (read-only).

    .. versionadded:: 0.1.0
    """

    id: int | None = None
    product_id: int | None = None
    product_name: str | None = None
    variant_id: int | None = None
    variant_sku: str | None = None
    product_brand_name: str | None = None
    quantity: int | None = None
    options: tuple[V3ProductOption, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw: Mapping[str, Any] = _raw()


@attrs.frozen(kw_only=True)
class ExtraFieldConfig:
    """The configuration of one order extra field, from "Get Order Extra Field Configs".

    Attributes:
        field_name: the field's name, used in :class:`ExtraField`.
        id: the configuration's id.
        uuid: an external id given to the field (an ERP's, say).
        field_type: the kind of value: 0 text, 1 multi-line text, 2 number, 3 drop-down.
        is_required: whether every order must have a value (updates then must send it).
        is_unique: whether no two orders may share a value.
        visible_to_enduser: whether buyers see the field on the storefront.
        config_type: 1 for a built-in field, 2 for a user-defined one.
        default_value: the value used when none is given.
        label_name: the label buyers see.
        maximum_length: the longest text value (text fields).
        number_of_rows: the rows of a multi-line text value.
        maximum_value: the largest number (number fields).
        list_of_values: the choices (drop-down fields).
        raw: the whole object as received (read-only).

    .. versionadded:: 0.1.0
    """

    field_name: str
    id: int | None = None
    uuid: str | None = None
    field_type: int | None = None
    is_required: bool | None = None
    is_unique: bool | None = None
    visible_to_enduser: bool | None = None
    config_type: int | None = None
    default_value: str | None = None
    label_name: str | None = None
    maximum_length: int | None = None
    number_of_rows: int | None = None
    maximum_value: Decimal | None = None
    list_of_values: tuple[str, ...] = ()
    raw: Mapping[str, Any] = _raw()
