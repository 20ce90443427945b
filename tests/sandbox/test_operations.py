"""Tests of ``b2b_async/sandbox/_operations.py``: handler methods marked with their routes, and
listed, bound, in the order their class defines them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import ClassVar

import aiohttp
import pytest
from aiohttp import web

from b2b_async.sandbox import SandboxData
from b2b_async.sandbox._operations import Api, operation
from b2b_async.sandbox._state import SandboxState
from b2b_async.sandbox._v2 import V2Api
from b2b_async.sandbox._v3 import V3Api
from tests.loopback import serving


class Shelf(Api):
    """An API whose literal path is defined before the path parameter that also matches it."""

    @operation("GET", "/items/featured")
    async def featured(self, request: web.Request) -> web.Response:
        return web.json_response({"handler": "featured"})

    async def unmarked(self, request: web.Request) -> web.Response:
        return web.json_response({"handler": "unmarked"})

    @operation("GET", "/items/{itemId}")
    async def item(self, request: web.Request) -> web.Response:
        return web.json_response({"handler": "item", "id": request.match_info["itemId"]})


class Catalogue(Api):
    """An API whose class also holds values that cannot be hashed: a list, its annotations."""

    sizes: ClassVar[list[str]] = ["S", "M"]

    @operation("GET", "/sizes")
    async def list_sizes(self, request: web.Request) -> web.Response:
        return web.json_response(self.sizes)


class Shop(Shelf):
    """An API that adds an operation to the ones it inherits."""

    @operation("POST", "/items")
    async def add(self, request: web.Request) -> web.Response:
        return web.json_response({"handler": "add"}, status=201)


def new_state() -> SandboxState:
    """A store with one company and one customer."""
    return SandboxState(SandboxData.default(companies=1, customers=1))


def routes(api: Api) -> list[tuple[str, str]]:
    """The (method, path) of each operation an API lists, in its order."""
    return [(method, path) for method, path, _ in api.operations()]


@pytest.fixture
async def shop_url() -> AsyncIterator[str]:
    """A :class:`Shop` served on loopback, its routes added in the order it lists them."""
    app = web.Application()
    for method, path, handler in Shop(new_state()).operations():
        app.router.add_route(method, path, handler)
    async with serving(app) as url:
        yield url


def test_operation_returns_the_method_it_marks() -> None:
    """The decorator only records the route: the function it returns is the one it was given."""

    async def handler(request: web.Request) -> web.Response:
        return web.Response()

    assert operation("GET", "/anything")(handler) is handler


def test_operations_are_the_marked_methods_in_definition_order() -> None:
    """Unmarked methods are left out; the marked ones keep the order the class defines them."""
    assert routes(Shelf(new_state())) == [("GET", "/items/featured"), ("GET", "/items/{itemId}")]


def test_operations_are_bound_to_the_api_that_lists_them() -> None:
    """Each handler is the method of the object asked, so it serves that object's store."""
    first, second = Shelf(new_state()), Shelf(new_state())
    owners = [getattr(handler, "__self__", None) for _, _, handler in first.operations()]
    assert owners == [first, first]
    assert all(owner is not second for owner in owners)


def test_a_subclass_lists_its_bases_operations_before_its_own() -> None:
    """Inherited operations come first, in their class's order, then the subclass's."""
    assert routes(Shop(new_state())) == [
        ("GET", "/items/featured"),
        ("GET", "/items/{itemId}"),
        ("POST", "/items"),
    ]


async def test_the_listing_order_lets_a_literal_path_win_over_a_parameter(
    shop_url: str,
) -> None:
    """Served in the listed order, the literal path reaches its own handler, not the
    parameter's, and the parameter still serves every other id."""
    async with aiohttp.ClientSession() as session:
        async with session.get(shop_url + "/items/featured") as featured:
            featured_body = await featured.json()
        async with session.get(shop_url + "/items/42") as item:
            item_body = await item.json()
        async with session.post(shop_url + "/items") as added:
            added_status = added.status
    assert featured_body == {"handler": "featured"}
    assert item_body == {"handler": "item", "id": "42"}
    assert added_status == 201


def test_class_attributes_that_cannot_be_hashed_are_passed_over() -> None:
    """A list or the annotations among a class's attributes leave its operations listed."""
    assert routes(Catalogue(new_state())) == [("GET", "/sizes")]


@pytest.mark.parametrize("api_class", [V2Api, V3Api])
def test_each_sandbox_route_is_defined_once(api_class: type[Api]) -> None:
    """No two operations of a version share a method and a path (the router would serve only
    the first)."""
    listed = routes(api_class(new_state()))
    assert len(listed) == len(set(listed))


def test_v3_lists_its_literal_path_before_the_order_id_that_would_match_it() -> None:
    """``/orders/extra-fields`` comes before ``/orders/{bcOrderId}``, as the router needs."""
    listed = routes(V3Api(new_state()))
    extra_fields = listed.index(("GET", "/orders/extra-fields"))
    by_id = listed.index(("GET", "/orders/{bcOrderId}"))
    assert extra_fields < by_id
