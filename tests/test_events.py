"""The events of ``b2b_async._events``: routes, the ``Call`` description, the event values."""

from __future__ import annotations

import typing

import attrs
import pytest
from yarl import URL

from b2b_async import _events
from b2b_async._config import MAX_TARGETS, Priority
from b2b_async._events import (
    BudgetWaited,
    BulkOutcome,
    Call,
    CallStarted,
    Event,
    HookFactory,
    RequestSent,
    ResponseReceived,
    route_of,
)

SECRET = "tok-SECRET-9f8e7d6c5b4a"


def a_call() -> Call:
    """A call described field by field, as the transport's ``Call.of`` would."""
    return Call("GET", "https://h.example/api/v3/io/orders", "/api/v3/io/orders", "h.example", 443)


# --- route_of ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/api/v2/io/companies/12/user/34/orders", "/api/v2/io/companies/{id}/user/{id}/orders"),
        ("/api/v2/io/orders/BC%2E7/details", "/api/v2/io/orders/{id}/details"),
        ("/api/v3/io/orders/extra-fields", "/api/v3/io/orders/extra-fields"),
        ("/api/v3/io/customers/9/orders/b2b", "/api/v3/io/customers/{id}/orders/b2b"),
    ],
)
def test_route_keeps_words_and_hides_ids(path: str, route: str) -> None:
    """A route keeps the API prefix and the path's words; every id becomes {id}."""
    assert route_of(path) == route


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/api/v2/io/orders/BC123", "/api/v2/io/orders/{id}"),
        ("/api/v2/io/orders/order-7", "/api/v2/io/orders/order-7"),
        ("/api/v2/io/orders/_7", "/api/v2/io/orders/{id}"),
    ],
)
def test_a_segment_is_a_word_when_it_starts_with_a_lowercase_letter(path: str, route: str) -> None:
    """Upper-case and underscore-led ids are hidden; an id that reads as a word stays."""
    assert route_of(path) == route


def test_a_path_outside_the_api_prefixes_still_hides_its_ids() -> None:
    """Without a known prefix the whole path is read segment by segment."""
    assert route_of("/other/12/things/") == "/other/{id}/things/"


def test_route_of_remembers_a_bounded_number_of_paths() -> None:
    """Routes are cached for at most as many paths as a transport keeps URLs for."""
    assert route_of.cache_info().maxsize == MAX_TARGETS


# --- Call ----------------------------------------------------------------------------------


def test_call_of_redacts_secrets_from_the_url_and_its_query() -> None:
    """The full URL, query included, keeps no secret; the route hides the ids."""
    url = URL("https://api-b2b.bigcommerce.com/api/v2/io/companies/12/user/34/orders")
    call = Call.of("POST", url, {"token": SECRET, "q": "a b"}, (SECRET,), "urgent")
    assert call.url == f"{url}?token=***&q=a+b"
    assert call.route == "/api/v2/io/companies/{id}/user/{id}/orders"
    assert (call.method, call.priority) == ("POST", "urgent")


def test_call_of_names_the_priority_as_a_plain_str() -> None:
    """A Priority given is kept as its text: span attributes hold a plain str."""
    url = URL("https://api-b2b.bigcommerce.com/api/v3/io/orders")
    call = Call.of("GET", url, None, (), Priority.URGENT)
    assert type(call.priority) is str
    assert call.priority == "urgent"


def test_call_of_redacts_a_secret_in_a_segment_the_route_keeps() -> None:
    """A word-like segment stays in the route, so a secret in one is redacted there too."""
    url = URL(f"https://h.example/api/v3/io/orders/{SECRET}/products")
    call = Call.of("GET", url, None, (SECRET,), "normal")
    assert SECRET not in call.url + call.route
    assert call.route == "/api/v3/io/orders/***/products"


def test_call_of_takes_host_and_port_from_the_url() -> None:
    """The server's address is the URL's host; its port is the explicit or the scheme's one."""
    local = Call.of("GET", URL("http://127.0.0.1:8080/api/v3/io/orders"), None, (), "normal")
    production = Call.of("GET", URL("https://api-b2b.bigcommerce.com/api"), None, (), "bulk")
    assert (local.server_address, local.server_port) == ("127.0.0.1", 8080)
    assert (production.server_address, production.server_port) == ("api-b2b.bigcommerce.com", 443)


@pytest.mark.parametrize("query", [None, {}])
def test_call_of_adds_no_question_mark_without_a_query(query: dict[str, str] | None) -> None:
    """No query, or an empty one, leaves the URL as it was."""
    url = URL("http://127.0.0.1:8080/api/v3/io/orders")
    assert Call.of("GET", url, query, (SECRET,), "normal").url == str(url)


def test_a_call_is_normal_unless_told_otherwise() -> None:
    """A Call made without a priority carries "normal"."""
    assert a_call().priority == "normal"


def test_calls_compare_by_identity() -> None:
    """Two calls with the same fields are different calls; each keys its own state."""
    first, second = a_call(), a_call()
    assert first == first
    assert first != second
    state = {first: "first", second: "second"}
    assert (state[first], state[second]) == ("first", "second")


# --- the events ----------------------------------------------------------------------------


def test_events_compare_by_value_and_by_their_call() -> None:
    """Events with equal fields are equal; the same fields of another call are not."""
    call = a_call()
    assert RequestSent(call, 1) == RequestSent(call, 1)
    assert RequestSent(call, 1) != RequestSent(call, 2)
    assert RequestSent(call, 1) != RequestSent(a_call(), 1)


@pytest.mark.parametrize(
    "event",
    [
        CallStarted(a_call()),
        BudgetWaited(a_call(), attempt=1, seconds=0.0),
        ResponseReceived(a_call(), attempt=1, status=200, request_id=None),
        BulkOutcome(0, ok=True, already_registered=False, error=None),
    ],
    ids=lambda event: type(event).__name__,
)
def test_a_hook_cannot_change_an_event(event: Event) -> None:
    """Every hook gets the same event object, so none may alter what the next one sees."""
    field = attrs.fields(type(event))[0].name
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(event, field, None)


def test_event_names_every_event_class() -> None:
    """Each frozen class of the module but Call and HookFactory is a member of Event."""
    names = vars(_events).values()
    classes = {value for value in names if isinstance(value, type) and attrs.has(value)}
    assert set(typing.get_args(Event)) == classes - {Call, HookFactory}


def test_a_bulk_outcome_was_attempted_unless_told_otherwise() -> None:
    """A BulkOutcome made without ``attempted`` is of an input that was sent."""
    assert BulkOutcome(0, ok=False, already_registered=False, error=None).attempted is True
