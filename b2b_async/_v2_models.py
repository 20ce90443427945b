"""The models of the V2 Order API: what goes out, and what comes back.

:class:`NewOrder` is a registration and :class:`CreatedOrder` its confirmation. Request models
(:class:`NewOrder`, :class:`OrderUpdate` and the :class:`Address`, :class:`LineItem` and
:class:`ProductOption` inside it) check their values at construction, so a bad one raises
:class:`~b2b_async.InvalidOrderError` before anything is sent; the same classes read the
addresses and products of "Get Order Detail", where the checks are lenient enough for what
the API sends (a blank id is no id). Response models take whatever the API sends within
reason (see ``_serde``): ids as int or string, money as numbers or numeric strings, either
spelling where the published schema and its example disagree.

Wire spellings, recorded beside each field through ``wire()``:

- a registration's ``company_id`` and ``customer_id`` travel in the path, not the body;
- "Get Order Detail" is BigCommerce's core order object, snake_case (``total_inc_tax``), with
  camelCase B2B members (``poNumber``, ``channelId``, ``billingAddress``). The published
  example spells several B2B members in snake_case (``billing_address``, ``channel_id``,
  ``street_1``, ``product_id``): both spellings are read.
- "Update Company Order With BC OrderId" types every field of its body as a string while
  describing numbers as "Float, Float-As-String, Integer": numbers go out as decimal strings.
- ``customerID`` and ``customerGroupID`` are spelled with a capital ``ID``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal, cast, get_args

import attrs

from ._config import NOT_ITEMS, plain, shown
from ._exceptions import InvalidOrderError
from ._routes import sendable_text, strip_blanks, to_id
from ._serde import ReadOnlyMapping, json_decimal, number_text, wire

#: The sort keys of "Get Company Orders" (:meth:`Orders.list_by_company
#: <b2b_async.Orders.list_by_company>`).
OrderBy = Literal["bcOrderId", "totalIncTax", "createdAt"]
#: The same sort keys, for the check before sending.
ORDER_BY: Final = frozenset(get_args(OrderBy))

#: The most significant digits a total may have: a JSON number survives a round trip
#: through a double (as most JSON parsers read numbers) only up to 15 of them.
MAX_TOTAL_DIGITS: Final = 15
#: The place of a non-zero total's leading digit (its adjusted exponent) lies in this range:
#: a double holds every 15-digit number from 1E-307 up to (not including) 1E+308 exactly at
#: that precision. Below, doubles lose digits (1E-400 reads as 0.0); above, they overflow
#: (1E+400 reads as infinity). The amounts and counts of an update keep to it too.
TOTAL_EXPONENTS: Final = range(-307, 308)

#: BigCommerce's core order object: the wire key is the attribute's own snake_case name.
_CORE: Final = wire(verbatim=True)
#: Numbers in the update body: the schema types them as strings.
_TEXT: Final = wire(text=True)

Amount = Decimal | int | float | str

# Converters normalise what they can and pass anything else through unchanged, so that the
# validator, which knows the attribute's name, can refuse it with a message naming it. Each
# is annotated with what it takes and what it makes of a valid value, as type checkers read
# a field's constructor argument off its converter; a value passed through is cast.


def _to_id(given: str | int | None) -> str | None:
    value = plain(given)
    if isinstance(value, str):
        return strip_blanks(value) or None
    try:
        return to_id(value)  # an int becomes its digits, within the bounds of every id
    except InvalidOrderError:
        return cast("str | None", value)


def _to_required_id(given: str | int) -> str:
    return cast("str", _to_id(given))  # a blank one (None) is the validator's to refuse


def _option_value(value: str | int) -> str:
    # An int is a value id, checked as every id is (str() of a huge int raises a bare ValueError).
    if isinstance(value, int) and not isinstance(value, bool):
        return to_id(value, field="option_value")
    return cast("str", value)


def _to_amount(given: Amount | None) -> Decimal | None:
    value = plain(given)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return cast("Decimal | None", value)
    if isinstance(value, int):
        return Decimal(value)  # exact, and never through str(), which refuses huge ints
    if isinstance(value, float) and not math.isfinite(value):
        return cast("Decimal | None", value)
    try:
        return json_decimal(str(value).strip())
    except InvalidOperation:
        return cast("Decimal | None", value)


def _to_count(given: int | str | Decimal | None) -> int | None:
    value = plain(given)
    number = value if isinstance(value, Decimal) else _to_amount(given)
    if not (isinstance(number, Decimal) and number.is_finite() and number == number.to_integral()):
        return cast("int | None", value)
    # Out of range it stays a Decimal for the validator to refuse: int() of 1E+999999999
    # would fill the memory, and the str() of a 5000-digit int raises a bare ValueError.
    return int(number) if _in_range(number) else cast("int | None", number)


def _check_id(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    to_id(value, field=attribute.name, optional=True)


def _check_required_id(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        raise InvalidOrderError(f"{attribute.name} must not be empty")
    to_id(value, field=attribute.name)


def _check_text(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, str):
        raise InvalidOrderError(f"{attribute.name} must be a str, got {type(value).__name__}")
    if value is not None:
        sendable_text(value, field=attribute.name)


def _check_option_value(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    # An int was made a str by _option_value: what is left that is no str was neither.
    if not isinstance(value, str):
        raise InvalidOrderError(
            f"{attribute.name} must be a str or int, got {type(value).__name__}"
        )
    _check_text(instance, attribute, value)


def _check_amount(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if not (isinstance(value, Decimal) and value.is_finite()):
        raise InvalidOrderError(
            f"{attribute.name} must be a finite Decimal, int, float or numeric str, "
            f"got {shown(value)}"
        )
    _check_range(value, field=attribute.name)
    number_text(value, field=attribute.name)  # a zero may still be written out too long


def _check_count(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, Decimal):  # a whole number _to_count left out of range
        _check_range(value, field=attribute.name)
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return
    raise InvalidOrderError(
        f"{attribute.name} must be a non-negative whole number, got {shown(value)}"
    )


def _each(kind: type) -> Callable[[object, attrs.Attribute[Any], tuple[object, ...]], None]:
    def check(_: object, attribute: attrs.Attribute[Any], value: tuple[object, ...]) -> None:
        for index, item in enumerate(value):
            if not isinstance(item, kind):
                raise InvalidOrderError(
                    f"{attribute.name}[{index}] must be a {kind.__name__}, "
                    f"got {type(item).__name__}"
                )

    return check


def _items(value: Iterable[object]) -> tuple[Any, ...]:  # its field's validator checks each
    if isinstance(value, NOT_ITEMS) or not isinstance(value, Iterable):
        raise InvalidOrderError(f"expected an iterable of items, got {type(value).__name__}")
    return tuple(value)


# One converter per kind of item: a converter's parameter is the constructor's argument type
# to mypy and pyright, so each says which items a caller may pass.
def _product_options(value: Iterable[ProductOption]) -> tuple[ProductOption, ...]:
    return _items(value)


def _line_items(value: Iterable[LineItem]) -> tuple[LineItem, ...]:
    return _items(value)


def _text(**options: Any) -> Any:
    # Optional text needs no converter, so the annotation is the whole truth for type checkers.
    return attrs.field(default=None, validator=_check_text, **options)


def to_total(value: Decimal | int | float | str) -> Decimal:
    """Normalise a total given as ``Decimal``, ``int``, ``float`` or a numeric ``str``.

    The accepted totals are documented in :doc:`/errors`: zero or positive, finite, at most
    :data:`MAX_TOTAL_DIGITS` significant digits (counted exactly), a leading digit within
    :data:`TOTAL_EXPONENTS`, any number of decimal places. The value is kept as given, never
    rounded.

    Args:
        value: the total as given.

    Returns:
        The total as a finite, non-negative :class:`~decimal.Decimal`.

    Raises:
        InvalidOrderError: the value is not a number, is NaN or infinite, is negative, or
            is one a JSON number does not carry exactly (too many digits, too large or too
            small).
    """
    total = _total_as_decimal(value)
    if not total.is_finite():
        raise InvalidOrderError(f"total_inc_tax must be finite, got {total}")
    if total < 0:
        raise InvalidOrderError(f"total_inc_tax must not be negative, got {_excerpt(total)}")
    _check_total_precision(total)
    return total


def significant_digits(number: Decimal) -> int:
    """Count the significant digits of a finite ``number`` exactly, in no decimal context.

    Trailing zeros cost no precision (``1.000000000000000000`` is exact as a double), so they
    are not counted; zero has none.

    Args:
        number: a finite decimal.

    Returns:
        The digits between the first and the last non-zero one, both included.
    """
    # Not normalize(): it rounds to the context's 28 digits before counting.
    return len("".join(map(str, number.as_tuple().digits)).strip("0"))


def _check_total_precision(total: Decimal) -> None:
    if significant_digits(total) > MAX_TOTAL_DIGITS:
        raise InvalidOrderError(
            f"total_inc_tax has more than {MAX_TOTAL_DIGITS} significant digits: {_excerpt(total)}"
        )
    _check_range(total, field="total_inc_tax")


def _in_range(number: Decimal) -> bool:
    """Whether a finite ``number`` is zero or has its leading digit in :data:`TOTAL_EXPONENTS`."""
    return not number or number.adjusted() in TOTAL_EXPONENTS


def _check_range(number: Decimal, *, field: str) -> None:
    """Refuse a finite number a double cannot hold: every number sent must lie in range."""
    if not _in_range(number):
        raise InvalidOrderError(
            f"{field} must lie between 1E-307 and 1E+308 (1E+308 excluded), the range a JSON "
            f"number holds exactly, got {_excerpt(number)}"
        )


def _excerpt(number: Decimal) -> str:
    # Scientific notation keeps a 1E+5000 message short (and str(), unlike int(), never
    # meets Python's digit limit).
    text = str(number)
    return text if len(text) <= 40 else f"{text[:20]}...({len(text)} characters)"


def _total_as_decimal(given: object) -> Decimal:
    value = plain(given)
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise InvalidOrderError(
            f"total_inc_tax must be a Decimal, int, float or numeric str, "
            f"got {type(value).__name__}"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidOrderError(f"total_inc_tax must be finite, got {value!r}")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int):
        return Decimal(value)  # exact, and never through str(), which refuses huge ints
    text = str(value).strip()
    try:
        return json_decimal(text)
    except InvalidOperation:
        raise InvalidOrderError(f"total_inc_tax is not a number: {text[:40]!r}") from None


def _company_id(value: str | int | None) -> str | None:
    return to_id(value, field="company_id", optional=True)


def _customer_id(value: str | int) -> str:
    return to_id(value, field="customer_id")


def _order_id(value: str | int) -> str:
    return to_id(value, field="order_id")


def _channel_id(value: str | int | None) -> str | None:
    # Strict, unlike the ids of the models also read from answers: an update is only sent.
    return to_id(value, field="channel_id", optional=True)


def _po_number(given: str | None) -> str | None:
    value = plain(given)
    if value is not None and not isinstance(value, str):
        raise InvalidOrderError(f"po_number must be a str, got {type(value).__name__}")
    return value if value is None else sendable_text(value, field="po_number")


@attrs.frozen
class NewOrder:
    """A BigCommerce order to register with B2B Edition.

    Every value is checked and normalised at construction: ids become non-empty ``str``,
    the total a finite, non-negative :class:`~decimal.Decimal`.

    Attributes:
        company_id: the B2B Edition company; ``None`` lets the API derive it from the
            customer ("Create Order Without CompanyID").
        customer_id: the B2B Edition user (the buyer).
        order_id: the BigCommerce order id; the natural key of a registration.
        total_inc_tax: the order total including tax.
        po_number: the purchase-order number, if any.

    Raises:
        InvalidOrderError: a value is empty, of the wrong type, NaN, infinite or negative.

    .. versionadded:: 0.1.0
    """

    company_id: str | None = attrs.field(converter=_company_id, metadata=wire(path=True))
    customer_id: str = attrs.field(converter=_customer_id, metadata=wire(path=True))
    order_id: str = attrs.field(converter=_order_id)
    total_inc_tax: Decimal = attrs.field(converter=to_total)
    po_number: str | None = attrs.field(default=None, converter=_po_number)


@attrs.frozen
class CreatedOrder:
    """A registration the API confirmed.

    Attributes:
        order_id: the registered BigCommerce order id, always a ``str``.
        already_registered: ``True`` when the order turned out to be registered already by
            an earlier attempt of the same call (or, in bulk runs, by an earlier run).

    .. versionadded:: 0.1.0
    """

    order_id: str
    already_registered: bool = attrs.field(default=False, metadata=wire(local=True))


@attrs.frozen
class ProductOption:
    """One chosen option of an ordered product.

    Sent as ``{"id", "value"}`` (BigCommerce's order product options); read from that shape
    or from ``{"option_id", "option_value"}`` ("Get Order Product").

    Attributes:
        option_id: the product option's id.
        option_value: the chosen value (a value id or text).

    Raises:
        InvalidOrderError: an empty id, a value that is not a ``str`` or ``int``, or an
            ``int`` value that is no valid id (negative, or too long for an id).

    .. versionadded:: 0.1.0
    """

    option_id: str = attrs.field(
        converter=_to_required_id,
        validator=_check_required_id,
        metadata=wire("id", aliases=["option_id"]),
    )
    option_value: str = attrs.field(
        converter=_option_value,
        validator=_check_option_value,
        metadata=wire("value", aliases=["option_value"]),
    )


@attrs.frozen(kw_only=True)
class Address:
    """A postal address: the billing address of an update, or an address of an order's detail.

    Every attribute is optional text; ``None`` is left out of a request body.

    Attributes:
        first_name: the addressee's first name.
        last_name: the addressee's last name.
        company: the company name.
        street_one: the street address.
        street_two: the suite, office or other detail.
        city: the city.
        state: the state or other subdivision, by name.
        zip: the postal code.
        country: the country, by name.
        country_iso2: the country's ISO 3166-1 alpha-2 code.
        phone: the phone number.
        email: the email address.

    Raises:
        InvalidOrderError: a value that is not a ``str``.

    .. versionadded:: 0.1.0
    """

    first_name: str | None = _text(metadata=wire(aliases=["first_name"]))
    last_name: str | None = _text(metadata=wire(aliases=["last_name"]))
    company: str | None = _text()
    street_one: str | None = _text(metadata=wire(aliases=["street_1"]))
    street_two: str | None = _text(metadata=wire(aliases=["street_2"]))
    city: str | None = _text()
    state: str | None = _text()
    zip: str | None = _text()
    country: str | None = _text()
    country_iso2: str | None = _text(metadata=wire(aliases=["country_iso2"]))
    phone: str | None = _text()
    email: str | None = _text()


@attrs.frozen(kw_only=True)
class LineItem:
    """A product line of an order: sent by an update, read from an order's detail.

    Attributes:
        product_id: the BigCommerce product id.
        variant_id: the product variant's id (for products with variants).
        name: the product's name.
        sku: the stock-keeping unit.
        upc: the universal product code.
        quantity: how many were ordered.
        price_ex_tax: the unit price excluding tax.
        price_inc_tax: the unit price including tax.
        product_options: the chosen options.

    Raises:
        InvalidOrderError: an id, count or price of the wrong kind (a negative quantity, a
            NaN price) or beyond the range a JSON number holds (a quantity of ``"1e400"``),
            or text that is not a ``str``.

    .. versionadded:: 0.1.0
    """

    product_id: str | None = attrs.field(
        default=None, converter=_to_id, validator=_check_id, metadata=wire(aliases=["product_id"])
    )
    variant_id: str | None = attrs.field(
        default=None, converter=_to_id, validator=_check_id, metadata=wire(aliases=["variant_id"])
    )
    name: str | None = _text()
    sku: str | None = _text()
    upc: str | None = _text()
    quantity: int | None = attrs.field(
        default=None, converter=_to_count, validator=_check_count, metadata=_TEXT
    )
    price_ex_tax: Decimal | None = attrs.field(
        default=None,
        converter=_to_amount,
        validator=_check_amount,
        metadata=wire(aliases=["price_ex_tax"], text=True),
    )
    price_inc_tax: Decimal | None = attrs.field(
        default=None,
        converter=_to_amount,
        validator=_check_amount,
        metadata=wire(aliases=["price_inc_tax"], text=True),
    )
    # "Get Order Detail" types productOptions as a string: text there is read as no options.
    product_options: tuple[ProductOption, ...] = attrs.field(
        default=(),
        converter=_product_options,
        validator=_each(ProductOption),
        metadata=wire(text_in_answers=True),
    )


def _check_address(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, Address):
        raise InvalidOrderError(f"{attribute.name} must be an Address, got {type(value).__name__}")


@attrs.frozen(kw_only=True)
class OrderUpdate:
    """The body of "Update Company Order With BC OrderId" (``PUT /api/v2/io/orders``).

    ``order_id``, ``billing_address`` and ``products`` are required (the API refuses a body
    without the address or the products); every other attribute is left out of the body
    while ``None``. Numbers are sent as decimal strings, the type the schema gives them.

    Attributes:
        order_id: the BigCommerce order id.
        billing_address: the order's billing address.
        products: the order's product lines (an iterable of :class:`LineItem`).
        status_id: the BigCommerce order status id (for instance 11, "Awaiting Fulfillment").
        channel_id: the BigCommerce channel the order came from.
        po_number: the purchase-order number.
        customer_message: the customer's comment on the order.
        staff_notes: notes for staff.
        payment_method: the payment method's name ("Manual", "Credit Card", ...).
        payment_provider_id: the payment provider's transaction id.
        base_handling_cost: the base handling cost.
        base_shipping_cost: the base shipping cost.
        base_wrapping_cost: the base gift-wrapping cost.
        discount_amount: the discount.
        handling_cost_ex_tax: the handling cost excluding tax.
        handling_cost_inc_tax: the handling cost including tax.
        refunded_amount: the amount refunded.
        shipping_cost_ex_tax: the shipping cost excluding tax.
        shipping_cost_inc_tax: the shipping cost including tax.
        subtotal_ex_tax: the subtotal excluding tax (with ``subtotal_inc_tax``).
        subtotal_inc_tax: the subtotal including tax (with ``subtotal_ex_tax``).
        total_ex_tax: the total excluding tax.
        wrapping_cost_ex_tax: the gift-wrapping cost excluding tax.
        wrapping_cost_inc_tax: the gift-wrapping cost including tax.

    Raises:
        InvalidOrderError: a value is empty or of the wrong kind, a number lies beyond the
            range a JSON number holds (1E-307 to 1E+308, zero aside), or only one of the two
            subtotals is given (the API needs both).

    .. versionadded:: 0.1.0
    """

    order_id: str = attrs.field(converter=_to_required_id, validator=_check_required_id)
    billing_address: Address = attrs.field(validator=_check_address)
    products: tuple[LineItem, ...] = attrs.field(converter=_line_items, validator=_each(LineItem))
    status_id: int | None = attrs.field(
        default=None, converter=_to_count, validator=_check_count, metadata=_TEXT
    )
    channel_id: str | None = attrs.field(default=None, converter=_channel_id)
    po_number: str | None = _text()
    customer_message: str | None = _text()
    staff_notes: str | None = _text()
    payment_method: str | None = _text()
    payment_provider_id: str | None = _text()
    base_handling_cost: Decimal | None = attrs.field(
        default=None, converter=_to_amount, validator=_check_amount, metadata=_TEXT
    )
    base_shipping_cost: Decimal | None = attrs.field(
        default=None, converter=_to_amount, validator=_check_amount, metadata=_TEXT
    )
    base_wrapping_cost: Decimal | None = attrs.field(
        default=None, converter=_to_amount, validator=_check_amount, metadata=_TEXT
    )
    discount_amount: Decimal | None = attrs.field(
        default=None, converter=_to_amount, validator=_check_amount, metadata=_TEXT
    )
    handling_cost_ex_tax: Decimal | None = attrs.field(
        default=None, converter=_to_amount, validator=_check_amount, metadata=_TEXT
    )
    handling_cost_inc_tax: Decimal | None = attrs.field(
        default=None, converter=_to_amount, validator=_check_amount, metadata=_TEXT
    )
    refunded_amount: Decimal | None = attrs.field(
        default=None, converter=_to_amount, validator=_check_amount, metadata=_TEXT
    )
    shipping_cost_ex_tax: Decimal | None = attrs.field(
        default=None, converter=_to_amount, validator=_check_amount, metadata=_TEXT
    )
    shipping_cost_inc_tax: Decimal | None = attrs.field(
        default=None, converter=_to_amount, validator=_check_amount, metadata=_TEXT
    )
    subtotal_ex_tax: Decimal | None = attrs.field(
        default=None, converter=_to_amount, validator=_check_amount, metadata=_TEXT
    )
    subtotal_inc_tax: Decimal | None = attrs.field(
        default=None, converter=_to_amount, validator=_check_amount, metadata=_TEXT
    )
    total_ex_tax: Decimal | None = attrs.field(
        default=None, converter=_to_amount, validator=_check_amount, metadata=_TEXT
    )
    wrapping_cost_ex_tax: Decimal | None = attrs.field(
        default=None, converter=_to_amount, validator=_check_amount, metadata=_TEXT
    )
    wrapping_cost_inc_tax: Decimal | None = attrs.field(
        default=None, converter=_to_amount, validator=_check_amount, metadata=_TEXT
    )

    def __attrs_post_init__(self) -> None:
        if (self.subtotal_ex_tax is None) != (self.subtotal_inc_tax is None):
            raise InvalidOrderError("subtotal_ex_tax and subtotal_inc_tax go together")


@attrs.frozen
class CustomerOrders:
    """The body of "Update BC Order's company attribute" (``POST /orders/company``)."""

    customer_id: str = attrs.field(metadata=wire("customerID"))


@attrs.frozen
class CustomerOrdersMove:
    """The body of "Update B2BE user's orders' company attribute" (``PUT /orders/company``)."""

    customer_group_id: str = attrs.field(metadata=wire("customerGroupID"))
    customer_id: str = attrs.field(metadata=wire("customerID"))


@attrs.frozen
class OrderIdAnswer:
    """The answer of a registration or an update: the order's id, where it names one."""

    order_id: str | None = None


@attrs.frozen
class CompanyIdAnswer:
    """The answer of "Get Company Id By Order Id"."""

    company_id: str


@attrs.frozen
class OrderRef:
    """One item of "Get BC Order Id List By Company Id"."""

    order_id: str


@attrs.frozen(kw_only=True)
class CompanyOrder:
    """One order of "Get Company Orders" (:meth:`Orders.list_by_company
    <b2b_async.Orders.list_by_company>`).

    Attributes:
        order_id: the BigCommerce order id.
        company_name: the company's name.
        first_name: the buyer's first name.
        last_name: the buyer's last name.
        order_status: the status by name, e.g. ``"Awaiting Payment"`` (read from
            ``orderStatus`` or ``OrderStatus``).
        total_inc_tax: the total including tax.
        is_invoice_order: whether the order is an invoice order.
        created_at: when the order was created (aware, UTC).
        updated_at: when the order was last updated (aware, UTC).
        channel_id: the BigCommerce channel id.
        channel_name: the channel's name.
        extra_fields: the order's extra fields, as sent, when asked for with
            ``include_extra=True``.

    .. versionadded:: 0.1.0
    """

    order_id: str
    company_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    order_status: str | None = attrs.field(default=None, metadata=wire(aliases=["OrderStatus"]))
    total_inc_tax: Decimal | None = None
    is_invoice_order: bool | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    channel_id: str | None = None
    channel_name: str | None = None
    extra_fields: tuple[Mapping[str, Any], ...] = attrs.field(default=(), hash=False)


@attrs.frozen
class OrderImage:
    """An order's image, from "Get Orders Images".

    Attributes:
        order_id: the BigCommerce order id.
        image_url: the URL of the order's (first product's) image; empty when it has none.

    .. versionadded:: 0.1.0
    """

    order_id: str
    image_url: str | None = None


@attrs.frozen
class OrderCompany:
    """The company an order belongs to, from "Get Company By BC OrderId".

    Attributes:
        company_id: the B2B Edition company id.
        company_name: the company's name.
        customer_group_id: the BigCommerce customer group tied to the company.

    .. versionadded:: 0.1.0
    """

    company_id: str
    company_name: str | None = None
    customer_group_id: str | None = None


@attrs.frozen
class OrderProduct:
    """A product of an order, from "Get Order Product".

    Attributes:
        product_id: the BigCommerce product id.
        variant_id: the variant's id.
        quantity: how many were ordered.
        option_list: the chosen options.

    .. versionadded:: 0.1.0
    """

    product_id: str
    variant_id: str | None = None
    quantity: int | None = None
    option_list: tuple[ProductOption, ...] = ()


@attrs.frozen(kw_only=True)
class OrderDetail:
    """An order as "Get Order Detail" describes it: BigCommerce's core order plus B2B fields.

    The typed attributes are the ones most integrations read; :attr:`raw` keeps the whole
    ``data`` object as received, so any other field (``cart_id``, ``coupons``,
    ``shipping_addresses``, a field added later) is still at hand: ``detail.raw["cart_id"]``.

    Attributes:
        order_id: the BigCommerce order id (``id``).
        customer_id: the BigCommerce customer id.
        status_id: the order status id.
        status: the status by name.
        custom_status: the store's own name for the status.
        payment_status: the payment status.
        payment_method: the payment method.
        date_created: when the order was created (aware).
        date_modified: when the order was last modified (aware).
        date_shipped: when it shipped, or ``None``.
        currency_code: the transaction currency.
        subtotal_ex_tax: the subtotal excluding tax.
        subtotal_inc_tax: the subtotal including tax.
        subtotal_tax: the tax on the subtotal.
        total_ex_tax: the total excluding tax.
        total_inc_tax: the total including tax.
        total_tax: the tax.
        shipping_cost_ex_tax: the shipping cost excluding tax.
        shipping_cost_inc_tax: the shipping cost including tax.
        discount_amount: the discount.
        refunded_amount: the amount refunded.
        items_total: the number of items.
        items_shipped: the number of items shipped.
        is_deleted: whether the order is archived.
        customer_message: the customer's comment.
        staff_notes: notes for staff.
        po_number: the purchase-order number (B2B).
        channel_id: the BigCommerce channel id (B2B).
        channel_name: the channel's name (B2B).
        billing_address: the billing address (B2B).
        shipping_address: the shipping address (B2B).
        products: the product lines.
        raw: the whole ``data`` object, as received (read-only).

    .. versionadded:: 0.1.0
    """

    order_id: str = attrs.field(metadata=wire("id"))
    customer_id: str | None = attrs.field(default=None, metadata=_CORE)
    status_id: int | None = attrs.field(default=None, metadata=_CORE)
    status: str | None = None
    custom_status: str | None = attrs.field(default=None, metadata=_CORE)
    payment_status: str | None = attrs.field(default=None, metadata=_CORE)
    payment_method: str | None = attrs.field(default=None, metadata=_CORE)
    date_created: datetime | None = attrs.field(default=None, metadata=_CORE)
    date_modified: datetime | None = attrs.field(default=None, metadata=_CORE)
    date_shipped: datetime | None = attrs.field(default=None, metadata=_CORE)
    currency_code: str | None = attrs.field(default=None, metadata=_CORE)
    subtotal_ex_tax: Decimal | None = attrs.field(default=None, metadata=_CORE)
    subtotal_inc_tax: Decimal | None = attrs.field(default=None, metadata=_CORE)
    subtotal_tax: Decimal | None = attrs.field(default=None, metadata=_CORE)
    total_ex_tax: Decimal | None = attrs.field(default=None, metadata=_CORE)
    total_inc_tax: Decimal | None = attrs.field(default=None, metadata=_CORE)
    total_tax: Decimal | None = attrs.field(default=None, metadata=_CORE)
    shipping_cost_ex_tax: Decimal | None = attrs.field(default=None, metadata=_CORE)
    shipping_cost_inc_tax: Decimal | None = attrs.field(default=None, metadata=_CORE)
    discount_amount: Decimal | None = attrs.field(default=None, metadata=_CORE)
    refunded_amount: Decimal | None = attrs.field(default=None, metadata=_CORE)
    items_total: int | None = attrs.field(default=None, metadata=_CORE)
    items_shipped: int | None = attrs.field(default=None, metadata=_CORE)
    is_deleted: bool | None = attrs.field(default=None, metadata=_CORE)
    customer_message: str | None = attrs.field(default=None, metadata=_CORE)
    staff_notes: str | None = attrs.field(default=None, metadata=_CORE)
    po_number: str | None = None
    channel_id: str | None = attrs.field(default=None, metadata=wire(aliases=["channel_id"]))
    channel_name: str | None = None
    billing_address: Address | None = attrs.field(
        default=None, metadata=wire(aliases=["billing_address"])
    )
    shipping_address: Address | None = attrs.field(
        default=None, metadata=wire(aliases=["shipping_address"])
    )
    products: tuple[LineItem, ...] = ()
    raw: Mapping[str, Any] = attrs.field(
        factory=dict,
        converter=ReadOnlyMapping,
        repr=False,
        hash=False,
        metadata=wire(raw=True),
    )
