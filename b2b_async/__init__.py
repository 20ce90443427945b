"""b2b-async: register BigCommerce orders with B2B Edition, from asyncio, safely and fast.

The public names are re-exported here; the modules behind them are private. Each is
imported on first use (PEP 562), so ``import b2b_async`` costs next to nothing and a
program, or the command line's ``--help``, pays only for what it touches.

PYTEST_DONT_REWRITE: pytest rewrites the assertions of a plugin's package (this one ships
the ``b2b_async.testing`` plugin) and warns when the package was imported first, as an
application that starts pytest itself has done; the package holds no test assertions.
"""

# Every module-level name other than the public ones starts with an underscore (or is a
# module), so that ``vars(b2b_async)`` holds the public names and nothing else.
import importlib as _importlib
import logging as _logging
import sys as _sys
import typing as _typing

# Which private module defines each public name: the one table the lazy lookup reads, and
# the one place that says which of a private module's names are public (so the module keeps
# no ``__all__`` repeating them). ``__all__`` and the TYPE_CHECKING block below restate it
# for tools that read only literals; tests/test_init.py holds the three together.
_EXPORTS: dict[str, tuple[str, ...]] = {
    "._bulk": ("BulkReport", "OrderOutcome", "OutcomeStream"),
    "._client": ("B2BClient",),
    "._config": ("Priority", "RateLimit", "RetryPolicy"),
    "._events": (
        "BudgetWaited",
        "BulkOutcome",
        "Call",
        "CallFinished",
        "CallStarted",
        "Event",
        "Hook",
        "HookFactory",
        "RateLimited",
        "RequestFailed",
        "RequestSent",
        "ResponseReceived",
        "RetryScheduled",
    ),
    "._exceptions": (
        "APIConnectionError",
        "APIError",
        "APITimeoutError",
        "AuthenticationError",
        "B2BError",
        "BadRequestError",
        "ClientClosedError",
        "DeadlineUnreachableError",
        "InvalidOrderError",
        "NotFoundError",
        "OrderAlreadyExistsError",
        "PermissionDeniedError",
        "RateLimitError",
        "RegistrationWindowClosedError",
        "ResponseDecodeError",
        "ServerError",
        "TransportError",
        "UnprocessableEntityError",
    ),
    "._hooks": ("ClientStats", "get_hooks", "set_hooks"),
    "._protocol": ("BudgetHint",),
    "._ratelimit": ("Limiter", "RateLimiter"),
    "._v2": ("Companies", "Orders"),
    "._v2_models": (
        "Address",
        "CompanyOrder",
        "CreatedOrder",
        "LineItem",
        "NewOrder",
        "OrderCompany",
        "OrderDetail",
        "OrderImage",
        "OrderProduct",
        "OrderUpdate",
        "ProductOption",
    ),
    "._v3": ("V3Orders", "V3Resources"),
    "._v3_models": (
        "EnsuredOrder",
        "ExtraField",
        "ExtraFieldConfig",
        "NewV3Order",
        "V3Order",
        "V3OrderProduct",
        "V3ProductOption",
    ),
    "._version": ("__version__",),
}
_MODULE_OF: dict[str, str] = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "Address",
    "AuthenticationError",
    "B2BClient",
    "B2BError",
    "BadRequestError",
    "BudgetHint",
    "BudgetWaited",
    "BulkOutcome",
    "BulkReport",
    "Call",
    "CallFinished",
    "CallStarted",
    "ClientClosedError",
    "ClientStats",
    "Companies",
    "CompanyOrder",
    "CreatedOrder",
    "DeadlineUnreachableError",
    "EnsuredOrder",
    "Event",
    "ExtraField",
    "ExtraFieldConfig",
    "Hook",
    "HookFactory",
    "InvalidOrderError",
    "Limiter",
    "LineItem",
    "NewOrder",
    "NewV3Order",
    "NotFoundError",
    "OrderAlreadyExistsError",
    "OrderCompany",
    "OrderDetail",
    "OrderImage",
    "OrderOutcome",
    "OrderProduct",
    "OrderUpdate",
    "Orders",
    "OutcomeStream",
    "PermissionDeniedError",
    "Priority",
    "ProductOption",
    "RateLimit",
    "RateLimitError",
    "RateLimited",
    "RateLimiter",
    "RegistrationWindowClosedError",
    "RequestFailed",
    "RequestSent",
    "ResponseDecodeError",
    "ResponseReceived",
    "RetryPolicy",
    "RetryScheduled",
    "ServerError",
    "TransportError",
    "UnprocessableEntityError",
    "V3Order",
    "V3OrderProduct",
    "V3Orders",
    "V3ProductOption",
    "V3Resources",
    "__version__",
    "get_hooks",
    "set_hooks",
]

if _typing.TYPE_CHECKING:
    # Type checkers read the names from here; at run time __getattr__ imports them. Defining
    # __getattr__ only at run time keeps a misspelt name an error for mypy and pyright.
    from ._bulk import BulkReport, OrderOutcome, OutcomeStream
    from ._client import B2BClient
    from ._config import Priority, RateLimit, RetryPolicy
    from ._events import (
        BudgetWaited,
        BulkOutcome,
        Call,
        CallFinished,
        CallStarted,
        Event,
        Hook,
        HookFactory,
        RateLimited,
        RequestFailed,
        RequestSent,
        ResponseReceived,
        RetryScheduled,
    )
    from ._exceptions import (
        APIConnectionError,
        APIError,
        APITimeoutError,
        AuthenticationError,
        B2BError,
        BadRequestError,
        ClientClosedError,
        DeadlineUnreachableError,
        InvalidOrderError,
        NotFoundError,
        OrderAlreadyExistsError,
        PermissionDeniedError,
        RateLimitError,
        RegistrationWindowClosedError,
        ResponseDecodeError,
        ServerError,
        TransportError,
        UnprocessableEntityError,
    )
    from ._hooks import ClientStats, get_hooks, set_hooks
    from ._protocol import BudgetHint
    from ._ratelimit import Limiter, RateLimiter
    from ._v2 import Companies, Orders
    from ._v2_models import (
        Address,
        CompanyOrder,
        CreatedOrder,
        LineItem,
        NewOrder,
        OrderCompany,
        OrderDetail,
        OrderImage,
        OrderProduct,
        OrderUpdate,
        ProductOption,
    )
    from ._v3 import V3Orders, V3Resources
    from ._v3_models import (
        EnsuredOrder,
        ExtraField,
        ExtraFieldConfig,
        NewV3Order,
        V3Order,
        V3OrderProduct,
        V3ProductOption,
    )
    from ._version import __version__
else:

    def __getattr__(name: str) -> _typing.Any:
        """Import the module of public ``name`` on first access, and keep the value here.

        Raises:
            AttributeError: ``name`` is not a public name of the package.
        """
        module = _MODULE_OF.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        _importlib.import_module(module, __name__)
        _export_loaded()
        return globals()[name]


def __dir__() -> list[str]:
    """The package's attributes, the public names not imported yet included."""
    return sorted({*globals(), *__all__})


def _export_loaded() -> None:
    """Keep here every public name of the private modules imported so far."""
    for name, module in _MODULE_OF.items():
        defining = _sys.modules.get(__name__ + module)
        # A module still being imported may not define its names yet: a later access does.
        if name not in globals() and defining is not None and hasattr(defining, name):
            globals()[name] = _exported(getattr(defining, name))


def _exported(value: _typing.Any) -> _typing.Any:
    """Show a public class under the package itself, as it is documented.

    Public names are documented, pickled and shown in tracebacks under the package. Their
    annotations are resolved first, while the defining module is still known: to attrs,
    and to :func:`typing.get_type_hints`, which reads a class's annotations in the module
    its ``__module__`` names.
    """
    import attrs

    if isinstance(value, type):
        if attrs.has(value):
            attrs.resolve_types(value)
        _resolve_annotations(value)
        value.__module__ = __name__
    return value


def _resolve_annotations(cls: type) -> None:
    """Replace ``cls``'s own annotations, written as text, by the objects they name."""
    import inspect  # here: its import costs more than the package's own

    own = inspect.get_annotations(cls)
    if own:
        hints = _typing.get_type_hints(cls, include_extras=True)
        cls.__annotations__ = {name: hints[name] for name in own}


# A library never prints on its own: the application decides where b2b_async's records go.
_logging.getLogger(__name__).addHandler(_logging.NullHandler())
