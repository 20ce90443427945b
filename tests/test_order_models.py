"""The order models and their wire rules, without a network.

The recorded answers are BigCommerce's own: every example the published V2 document gives for
the Order operations (and "Get BC Order Id List By Company Id") is read from
``../shared/api/b2b-v2-openapi.yaml`` at test time, never copied here. Those tests skip when
the document or PyYAML is missing.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from cattrs.errors import IterableValidationError

from b2b_async import (
    Address,
    APIError,
    BadRequestError,
    CompanyOrder,
    InvalidOrderError,
    LineItem,
    NotFoundError,
    OrderCompany,
    OrderDetail,
    OrderImage,
    OrderProduct,
    OrderUpdate,
    ProductOption,
    ResponseDecodeError,
)
from b2b_async._pagination import Page, check_page_size
from b2b_async._protocol import RequestInfo, decode_response
from b2b_async._serde import first_problem, one_or_many, structure, unstructure, wire
from b2b_async._v2_models import CompanyIdAnswer, OrderRef, UpdatedOrder

SPEC = Path(__file__).resolve().parents[2] / "shared" / "api" / "b2b-v2-openapi.yaml"
INFO = RequestInfo("GET", "https://api-b2b.bigcommerce.com/api/v2/io/orders")


@functools.cache
def _spec() -> Mapping[str, Any]:
    yaml = pytest.importorskip("yaml")
    if not SPEC.exists():
        pytest.skip(f"{SPEC} is missing")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SPEC.open(encoding="utf-8") as handle:
        document: Mapping[str, Any] = yaml.load(handle, Loader=loader)
    return document


def example(path: str, method: str, status: str) -> Any:
    """The published example answer of one operation and status."""
    content = _spec()["paths"][path][method]["responses"][status]["content"]
    return content["application/json"]["example"]


def data_of(path: str, method: str, status: str = "200") -> Any:
    """The ``data`` member of a published success example, through the envelope decoder."""
    body = json.dumps(example(path, method, status)).encode()
    return decode_response(int(status), {}, body, INFO, 0.0).data


def error_of(path: str, method: str, status: str) -> APIError:
    """The error a published error example decodes to."""
    body = json.dumps(example(path, method, status)).encode()
    with pytest.raises(APIError) as info:
        decode_response(int(status), {}, body, INFO, 0.0)
    return info.value


# Recorded answers: BigCommerce's published examples.


def test_company_orders_example_parses_with_paginator_and_order_status() -> None:
    """Get Company Orders' example (paginator, orderStatus, int channelId) reads fully."""
    page = structure(data_of("/companies/{companyId}/orders", "get"), Page[CompanyOrder])
    assert [order.order_id for order in page.items] == ["126", "124", "125"]
    first = page.items[0]
    assert first.order_status == "Awaiting Payment"
    assert first.total_inc_tax == Decimal("100.0000")
    assert first.is_invoice_order is False
    assert first.channel_id == "1"
    assert first.created_at == datetime(2019, 10, 29, 4, 33, 30, tzinfo=UTC)
    assert page.pagination is not None
    assert page.pagination.total_count == 3


def test_order_id_list_example_parses() -> None:
    """Get BC Order Id List By Company Id's example reads as ids and a total."""
    page = structure(data_of("/companies/{companyId}/orderBCIds", "get"), Page[OrderRef])
    assert page.items == (OrderRef("1"),)
    assert page.pagination is not None
    assert page.pagination.total_count == 3


def test_update_answer_example_parses() -> None:
    """The update's example answers orderId as an integer; it becomes a str."""
    assert structure(data_of("/orders", "put"), UpdatedOrder) == UpdatedOrder("2")


@pytest.mark.parametrize("method", ["put", "post"])
def test_company_attribute_examples_are_plain_successes(method: str) -> None:
    """Both company-attribute operations answer an empty data object."""
    assert data_of("/orders/company", method) == {}


def test_images_example_parses() -> None:
    """Get Orders Images' example is a list of order ids and URLs."""
    [image] = one_or_many(data_of("/orders/images", "get"), OrderImage)
    assert image.order_id == "1"
    assert image.image_url is not None
    assert image.image_url.startswith("https://")


def test_company_by_order_example_parses() -> None:
    """Get Company By BC OrderId's example reads into OrderCompany."""
    data = data_of("/orders/{orderBCId}/companyIdBCId", "get")
    assert structure(data, OrderCompany) == OrderCompany("2", "ABC.LLC", "11")


def test_company_id_example_parses() -> None:
    """Get Company Id By Order Id's example reads to a str id."""
    assert (
        structure(data_of("/orders/{orderId}/companyId", "get"), CompanyIdAnswer).company_id == "2"
    )


def test_order_detail_example_parses_both_spellings() -> None:
    """Get Order Detail's example (snake_case B2B members) reads, and nothing is lost."""
    data = data_of("/orders/{orderId}/details", "get")
    detail = structure(data, OrderDetail)
    assert detail.order_id == "126"
    assert detail.customer_id == "168"
    assert detail.status_id == 7
    assert detail.total_inc_tax == Decimal("100.0000")
    assert detail.items_total == 20
    assert detail.is_deleted is False
    assert detail.date_shipped is None
    assert detail.date_created == datetime(2019, 10, 29, 12, 33, 25, tzinfo=UTC)
    assert detail.po_number == "123456798"
    assert detail.channel_id == "1"
    assert detail.billing_address is not None
    assert detail.billing_address.first_name == "sdsdsd"
    assert detail.billing_address.street_one == "15440 Laguna Canyon Road, Ste 213"
    assert detail.billing_address.country_iso2 == "US"
    assert detail.shipping_address is not None
    assert detail.shipping_address.city == "Irvine"
    [line] = detail.products
    assert (line.product_id, line.variant_id, line.quantity) == ("97", "69", 20)
    assert line.price_inc_tax == Decimal("5.0000")
    assert line.product_options == ()
    assert detail.raw == data
    assert detail.raw["cart_id"] == "f6a167af-fdc2-4409-8282-0358c36b46c5"


def test_order_product_example_parses_as_one_item_list() -> None:
    """Get Order Product's single object becomes a one-item list, variantId included."""
    products = one_or_many(data_of("/orders/{orderId}/products", "get"), OrderProduct)
    assert products == [OrderProduct("97", "69", 20, ())]


@pytest.mark.parametrize(
    ("path", "method", "status", "error", "code"),
    [
        ("/companies/{companyId}/orders", "get", "404", NotFoundError, 404),
        ("/companies/{companyId}/orderBCIds", "get", "404", NotFoundError, 404),
        ("/orders", "put", "400", BadRequestError, 40010),
        ("/orders", "put", "404", NotFoundError, 404),
        ("/orders/company", "put", "400", BadRequestError, 40013),
        ("/orders/company", "post", "400", BadRequestError, 40013),
        ("/orders/{orderBCId}/companyIdBCId", "get", "400", BadRequestError, 40013),
        ("/orders/{orderId}/details", "get", "404", NotFoundError, 404),
        ("/orders/{orderId}/products", "get", "404", NotFoundError, 404),
    ],
)
def test_error_examples_decode_to_the_documented_errors(
    path: str, method: str, status: str, error: type[APIError], code: int
) -> None:
    """Each published error example raises its error class with the body code."""
    raised = error_of(path, method, status)
    assert type(raised) is error
    assert raised.code == code


def test_missing_order_on_company_lookup_is_a_400_not_a_404() -> None:
    """The documented answer for an unknown order is 400 "Order does not exist."."""
    raised = error_of("/orders/{orderBCId}/companyIdBCId", "get", "400")
    assert raised.status == 400
    assert raised.message == "Order does not exist."


def _published_update_body() -> Any:
    """The update body of the published JavaScript sample (``JSON.stringify({...})``)."""
    samples = _spec()["paths"]["/orders"]["put"]["x-code-samples"]
    source = next(sample["source"] for sample in samples if sample["lang"] == "JavaScript")
    match = re.search(r"JSON\.stringify\((\{.*\})\);", source)
    assert match is not None
    return json.loads(match.group(1))


def test_published_update_sample_round_trips_as_strings() -> None:
    """The sample's numbers (orderId 117, prices) read into OrderUpdate and go out as strings."""
    body = _published_update_body()
    update = structure(body, OrderUpdate)
    assert update.order_id == "117"
    assert update.products[0].price_inc_tax == Decimal("10.98")
    sent = unstructure(update)
    assert sent["orderId"] == "117"
    assert sent["statusId"] == "0"
    assert sent["billingAddress"] == body["billingAddress"]
    assert sent["products"][0] == {
        "name": "BigCommerce Poster",
        "quantity": "1",
        "priceIncTax": "10.98",
        "priceExTax": "10",
    }


# Hand-written bodies: the leniency rules.


@pytest.mark.parametrize("key", ["pagination", "paginator"])
def test_pages_read_pagination_or_paginator(key: str) -> None:
    """Both spellings of a listing's pagination are read."""
    data = {"list": [{"orderId": 7}], key: {"limit": "10", "offset": 0, "totalCount": 1.0}}
    page = structure(data, Page[OrderRef])
    assert page.items == (OrderRef("7"),)
    assert page.pagination is not None
    assert (page.pagination.limit, page.pagination.offset, page.pagination.total_count) == (
        10,
        0,
        1,
    )


def test_documented_key_wins_over_its_alias() -> None:
    """When both spellings arrive, the schema's key is read."""
    data = {"list": [], "pagination": {"totalCount": 1}, "paginator": {"totalCount": 9}}
    page = structure(data, Page[OrderRef])
    assert page.pagination is not None
    assert page.pagination.total_count == 1


def test_page_without_list_or_pagination_is_empty() -> None:
    """A listing without members reads as an empty page."""
    assert structure({}, Page[OrderRef]) == Page[OrderRef]()


@pytest.mark.parametrize("key", ["orderStatus", "OrderStatus"])
def test_company_order_reads_either_status_key(key: str) -> None:
    """OrderStatus (schema) and orderStatus (example) both fill order_status."""
    order = structure({"orderId": "1", key: "Shipped"}, CompanyOrder)
    assert order.order_status == "Shipped"


@pytest.mark.parametrize(
    ("wire_value", "expected"),
    [("100.0000", Decimal("100.0000")), (100, Decimal(100)), (12.5, Decimal("12.5")), ("", None)],
)
def test_amounts_read_numbers_and_numeric_strings(wire_value: Any, expected: Any) -> None:
    """Numeric strings and numbers become Decimal; an empty string is no amount."""
    order = structure({"orderId": "1", "totalIncTax": wire_value}, CompanyOrder)
    assert order.total_inc_tax == expected


@pytest.mark.parametrize(
    ("wire_value", "expected"),
    [("20", 20), (20, 20), (20.0, 20), ("20.0000", 20), ("", None), (None, None)],
)
def test_counts_read_numbers_and_numeric_strings(wire_value: Any, expected: Any) -> None:
    """Whole numbers arrive as numbers or strings; an empty one is no count."""
    assert structure({"id": "1", "items_total": wire_value}, OrderDetail).items_total == expected


@pytest.mark.parametrize(
    ("wire_value", "expected"),
    [("0", False), ("1", True), (0, False), (1, True), (True, True), ("false", False), ("", None)],
)
def test_flags_read_booleans_numbers_and_strings(wire_value: Any, expected: Any) -> None:
    """isInvoiceOrder "0"/"1", 0/1 or true/false become bool."""
    order = structure({"orderId": "1", "isInvoiceOrder": wire_value}, CompanyOrder)
    assert order.is_invoice_order is expected


@pytest.mark.parametrize(
    ("wire_value", "expected"),
    [
        ("1572323610", datetime(2019, 10, 29, 4, 33, 30, tzinfo=UTC)),
        (1572323610, datetime(2019, 10, 29, 4, 33, 30, tzinfo=UTC)),
        ("Tue, 29 Oct 2019 12:33:25 +0000", datetime(2019, 10, 29, 12, 33, 25, tzinfo=UTC)),
        ("2019-10-29T12:33:25", datetime(2019, 10, 29, 12, 33, 25, tzinfo=UTC)),
        (
            "2019-10-29T12:33:25+02:00",
            datetime(2019, 10, 29, 12, 33, 25, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("", None),
    ],
)
def test_times_read_epoch_rfc2822_and_iso(wire_value: Any, expected: Any) -> None:
    """Times arrive as Unix seconds, RFC 2822 or ISO 8601; all become aware datetimes."""
    order = structure({"orderId": "1", "createdAt": wire_value}, CompanyOrder)
    assert order.created_at == expected
    assert order.created_at is None or order.created_at.tzinfo is not None


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"orderId": "1", "createdAt": "yesterday"}, "$.data.createdAt"),
        ({"orderId": "1", "createdAt": [1]}, "$.data.createdAt"),
        ({"orderId": "1", "isInvoiceOrder": "maybe"}, "$.data.isInvoiceOrder"),
        ({"orderId": "1", "isInvoiceOrder": 2.5}, "$.data.isInvoiceOrder"),
        ({"orderId": "1", "totalIncTax": "lots"}, "$.data.totalIncTax"),
        ({"orderId": "1", "extraFields": "x"}, "$.data.extraFields"),
        ({"orderId": "1", "extraFields": {"a": 1}}, "$.data.extraFields"),
        ({"orderStatus": "Shipped"}, "$.data.orderId"),
    ],
)
def test_company_order_that_does_not_fit_names_the_wire_path(data: Any, path: str) -> None:
    """A value that does not fit raises ResponseDecodeError naming its wire key."""
    with pytest.raises(ResponseDecodeError) as info:
        structure(data, CompanyOrder)
    assert info.value.path == path


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({"id": "1", "total_inc_tax": "x"}, "$.data.total_inc_tax"),
        ({"id": "1", "items_total": "2.5"}, "$.data.items_total"),
        (
            {"id": "1", "products": [{"quantity": "1"}, {"quantity": "x"}]},
            "$.data.products[1].quantity",
        ),
        ({"id": "1", "billingAddress": {"city": ["x"]}}, "$.data.billingAddress.city"),
    ],
)
def test_order_detail_errors_name_snake_and_camel_keys(data: Any, path: str) -> None:
    """Error paths use each field's wire key: snake_case core, camelCase B2B."""
    with pytest.raises(ResponseDecodeError) as info:
        structure(data, OrderDetail)
    assert info.value.path == path


def test_list_error_paths_name_the_index() -> None:
    """An item of a list answer that does not fit is named by its index."""
    with pytest.raises(ResponseDecodeError) as info:
        one_or_many([{"orderId": "1"}, {"imageUrl": "x"}], OrderImage)
    assert info.value.path == "$.data[1].orderId"


@pytest.mark.parametrize(
    ("data", "count"), [(None, 0), ({}, 0), ({"productId": 1}, 1), ([{"productId": 1}] * 2, 2)]
)
def test_one_or_many_normalises_to_a_list(data: Any, count: int) -> None:
    """One object, none, or a list: always a list."""
    assert len(one_or_many(data, OrderProduct)) == count


def test_one_or_many_refuses_other_shapes() -> None:
    """A scalar where an object or list is expected is a decode error."""
    with pytest.raises(ResponseDecodeError, match="expected a list or an object"):
        one_or_many("x", OrderProduct)


def test_detail_keeps_unknown_fields_read_only() -> None:
    """raw holds every key, unknown ones included, and cannot be changed."""
    detail = structure({"id": 5, "brand_new_field": {"x": 1}}, OrderDetail)
    assert detail.order_id == "5"
    assert detail.raw["brand_new_field"] == {"x": 1}
    with pytest.raises(TypeError):
        detail.raw["id"] = "6"  # type: ignore[index]
    assert "raw" not in repr(detail)
    assert hash(detail) == hash(structure({"id": 5}, OrderDetail))


def test_detail_raw_never_enters_a_body() -> None:
    """A model's raw mapping is not written back."""
    assert "raw" not in unstructure(OrderDetail(order_id="1", raw={"a": 1}))


def test_product_options_read_both_shapes_and_blank() -> None:
    """Options read from {option_id, option_value} or {id, value}; "" is none."""
    product = structure(
        {"productId": "1", "optionList": [{"option_id": 3, "option_value": "L"}]}, OrderProduct
    )
    assert product.option_list == (ProductOption("3", "L"),)
    line = structure({"productOptions": [{"id": "3", "value": 7}]}, LineItem)
    assert line.product_options == (ProductOption("3", "7"),)
    assert structure({"productOptions": ""}, LineItem).product_options == ()


def test_line_item_reads_blank_ids_as_none() -> None:
    """An empty variant id in a detail is no variant, not a decode error."""
    assert structure({"productId": "1", "variantId": ""}, LineItem).variant_id is None


# Request models: checked at construction, written as the schema types them.


def test_update_body_is_camel_case_strings_without_none() -> None:
    """An update goes out with camelCase keys, numbers as strings, None left out."""
    update = OrderUpdate(
        order_id=126,
        billing_address=Address(first_name="Jane", street_one="1 Main St", country_iso2="US"),
        products=[
            LineItem(
                product_id=97,
                quantity=2,
                price_ex_tax=Decimal("1E+1"),
                price_inc_tax="10.98",
                product_options=[ProductOption(12, 34)],
            )
        ],
        status_id=11,
        channel_id=1,
        discount_amount=0,
    )
    assert unstructure(update) == {
        "orderId": "126",
        "billingAddress": {"firstName": "Jane", "streetOne": "1 Main St", "countryIso2": "US"},
        "products": [
            {
                "productId": "97",
                "quantity": "2",
                "priceExTax": "10",
                "priceIncTax": "10.98",
                "productOptions": [{"id": "12", "value": "34"}],
            }
        ],
        "statusId": "11",
        "channelId": "1",
        "discountAmount": "0",
    }


def test_update_accepts_any_iterable_of_lines() -> None:
    """products takes any iterable of LineItem, a generator included."""
    line = LineItem(name="x")
    address = Address()
    generated = OrderUpdate(order_id="1", billing_address=address, products=(x for x in [line]))
    assert generated.products == (line,)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"order_id": ""}, "order_id must not be empty"),
        ({"order_id": "  "}, "order_id must not be empty"),
        ({"order_id": -1}, "order_id must not be negative"),
        ({"order_id": 1.5}, "order_id must be a str or int"),
        ({"order_id": "a\nb"}, "order_id must not contain control characters"),
        ({"billing_address": {"city": "x"}}, "billing_address must be an Address"),
        ({"products": [{"name": "x"}]}, r"products\[0\] must be a LineItem"),
        ({"products": "abc"}, "expected an iterable of items"),
        ({"products": 3}, "expected an iterable of items"),
        ({"products": LineItem()}, "expected an iterable of items"),
        ({"status_id": -1}, "status_id must be a non-negative whole number"),
        ({"status_id": 1.5}, "status_id must be a non-negative whole number"),
        ({"status_id": True}, "status_id must be a non-negative whole number"),
        ({"channel_id": "a/\x00"}, "channel_id must not contain control characters"),
        ({"po_number": 7}, "po_number must be a str"),
        ({"discount_amount": "NaN"}, "discount_amount must be a finite"),
        ({"discount_amount": float("inf")}, "discount_amount must be a finite"),
        ({"discount_amount": "ten"}, "discount_amount must be a finite"),
        ({"discount_amount": [1]}, "discount_amount must be a finite"),
        ({"subtotal_ex_tax": 1}, "go together"),
    ],
)
def test_update_refuses_bad_values_naming_the_field(changes: dict[str, Any], message: str) -> None:
    """Bad values raise InvalidOrderError (a ValueError) naming the attribute."""
    values: dict[str, Any] = {"order_id": "1", "billing_address": Address(), "products": []}
    values.update(changes)
    with pytest.raises(InvalidOrderError, match=message):
        OrderUpdate(**values)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"quantity": -2}, "quantity must be a non-negative whole number"),
        ({"quantity": "1.5"}, "quantity must be a non-negative whole number"),
        ({"price_inc_tax": True}, "price_inc_tax must be a finite"),
        ({"product_options": [("1", "2")]}, r"product_options\[0\] must be a ProductOption"),
        ({"name": 5}, "name must be a str"),
    ],
)
def test_line_item_refuses_bad_values(changes: dict[str, Any], message: str) -> None:
    """A bad quantity, price, option or name raises InvalidOrderError."""
    with pytest.raises(InvalidOrderError, match=message):
        LineItem(**changes)


def test_line_item_normalises_counts_and_amounts() -> None:
    """Counts given as numeric strings or Decimals become int; amounts become Decimal."""
    line = LineItem(quantity=Decimal("3.0"), price_ex_tax=" 4.50 ")
    assert line.quantity == 3
    assert line.price_ex_tax == Decimal("4.50")
    assert LineItem(quantity="7").quantity == 7


@pytest.mark.parametrize(
    ("option_id", "value", "message"),
    [("", "x", "option_id must not be empty"), ("1", None, "option_value must be a str")],
)
def test_product_option_refuses_bad_values(option_id: Any, value: Any, message: str) -> None:
    """An option needs an id and a text or integer value."""
    with pytest.raises(InvalidOrderError, match=message):
        ProductOption(option_id, value)


def test_address_refuses_non_text() -> None:
    """Address values are text."""
    with pytest.raises(InvalidOrderError, match="zip must be a str"):
        Address(zip=92618)  # type: ignore[arg-type]


def test_models_are_frozen_and_hashable() -> None:
    """Models are immutable values."""
    order = CompanyOrder(order_id="1")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        order.order_id = "2"  # type: ignore[misc]
    assert hash(order) == hash(CompanyOrder(order_id="1"))


def test_dates_go_out_as_month_day_year() -> None:
    """A date is written MM/DD/YYYY, the documented query format."""
    assert unstructure(date(2019, 12, 31)) == "12/31/2019"


def test_wire_metadata_defaults() -> None:
    """wire() with no arguments keeps the camelCase default."""

    @attrs.frozen
    class Sample:
        order_id: str = attrs.field(metadata=wire())
        other: str = attrs.field(default="", metadata={"unrelated": True})

    assert unstructure(Sample("1", "2")) == {"orderId": "1", "other": "2"}
    assert structure({"orderId": 3}, Sample) == Sample("3")


@pytest.mark.parametrize("size", [0, -1, True, 2.5, "10"])
def test_page_size_must_be_a_positive_int(size: Any) -> None:
    """page_size is a positive int."""
    with pytest.raises(InvalidOrderError, match="page_size"):
        check_page_size(size)


@pytest.mark.parametrize("wire_value", ["NaN", "Infinity", float("inf"), float("nan"), [1], True])
def test_amounts_refuse_non_finite_and_non_numbers(wire_value: Any) -> None:
    """NaN, infinities, lists and booleans are not amounts."""
    with pytest.raises(ResponseDecodeError) as info:
        structure({"orderId": "1", "totalIncTax": wire_value}, CompanyOrder)
    assert info.value.path == "$.data.totalIncTax"


def test_nested_model_that_is_not_an_object_names_its_key() -> None:
    """A pagination member that is not an object is named by its wire key."""
    with pytest.raises(ResponseDecodeError) as info:
        structure({"list": [], "paginator": "x"}, Page[OrderRef])
    assert info.value.path == "$.data.pagination"


def test_scalar_answer_that_does_not_fit_names_data() -> None:
    """A scalar that does not fit its type names $.data with the hook's message."""
    with pytest.raises(ResponseDecodeError, match="expected a numeric value") as info:
        structure("lots", Decimal)
    assert info.value.path == "$.data"


def test_model_level_refusal_names_the_object() -> None:
    """A refusal by the model itself (not one field) names the object's path."""
    with pytest.raises(ResponseDecodeError, match="option_id must not be empty") as info:
        structure({"productOptions": [{"id": "", "value": "x"}]}, LineItem)
    assert info.value.path == "$.data.productOptions[0]"


def test_first_problem_of_a_list_error_without_index() -> None:
    """A list error that names no item is reported at the list's own path."""
    error = IterableValidationError("While structuring", [ValueError("bad")], list[int])
    assert first_problem(error, "$.data") == ("bad", "$.data")
