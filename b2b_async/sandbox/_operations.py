"""What an API version is made of: operations, each a handler method that carries its route.

:func:`operation` marks a method of an :class:`Api` with its HTTP method and path (relative to
the version's prefix); :meth:`Api.operations` lists the marked methods, bound, in the order the
class defines them. That order is the order of registration, and aiohttp's router takes the first
route that matches: a literal path must come before a path parameter that would match it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import FunctionType
from typing import Any, TypeVar, cast

from aiohttp import web
from aiohttp.typedefs import Handler

from ._state import SandboxState

__all__ = ["Api", "operation"]

_Method = TypeVar("_Method", bound=Callable[..., Awaitable[web.StreamResponse]])

# Each marked function and its (HTTP method, path).
_ROUTES: dict[Callable[..., Any], tuple[str, str]] = {}


def operation(method: str, path: str) -> Callable[[_Method], _Method]:
    """Mark a handler method with the route that serves it.

    Args:
        method: the HTTP method.
        path: the path under the API version's prefix, with aiohttp's ``{name}`` parameters.

    Returns:
        A decorator that returns the method unchanged.
    """

    def mark(function: _Method) -> _Method:
        _ROUTES[function] = (method, path)
        return function

    return mark


class Api:
    """The operations of one API version, served from one store.

    Each operation is an aiohttp handler; the pipeline answers the :class:`InvalidInputError`
    they raise with a 400 in the version's envelope.

    Args:
        state: the store.
    """

    def __init__(self, state: SandboxState) -> None:
        self.state: SandboxState = state

    def operations(self) -> list[tuple[str, str, Handler]]:
        """Every operation, bound to this object, in the order the class defines them.

        Returns:
            ``(HTTP method, path, handler)`` for each operation.
        """
        return [
            (*_ROUTES[function], cast(Handler, getattr(self, name)))
            for klass in reversed(type(self).__mro__)
            for name, function in vars(klass).items()
            if isinstance(function, FunctionType) and function in _ROUTES
        ]
