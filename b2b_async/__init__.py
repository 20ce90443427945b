"""b2b-async: register BigCommerce orders with B2B Edition, from asyncio, safely and fast.

The public names are re-exported here; the modules behind them are private.
"""

import logging as _logging

import attrs as _attrs

from ._bulk import BulkReport, OrderOutcome, OutcomeStream
from ._client import B2BClient
from ._config import RateLimit, RetryPolicy
from ._exceptions import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    B2BError,
    BadRequestError,
    ClientClosedError,
    InvalidOrderError,
    NotFoundError,
    OrderAlreadyExistsError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServerError,
    TransportError,
    UnprocessableEntityError,
)
from ._protocol import BudgetHint
from ._ratelimit import Limiter, RateLimiter
from ._transport import ClientStats
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
    ExtraField,
    ExtraFieldConfig,
    NewV3Order,
    V3Order,
    V3OrderProduct,
    V3ProductOption,
)
from ._version import __version__

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
    "BulkReport",
    "ClientClosedError",
    "ClientStats",
    "Companies",
    "CompanyOrder",
    "CreatedOrder",
    "ExtraField",
    "ExtraFieldConfig",
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
    "ProductOption",
    "RateLimit",
    "RateLimitError",
    "RateLimiter",
    "ResponseDecodeError",
    "RetryPolicy",
    "ServerError",
    "TransportError",
    "UnprocessableEntityError",
    "V3Order",
    "V3OrderProduct",
    "V3Orders",
    "V3ProductOption",
    "V3Resources",
    "__version__",
]

# Public names are documented, pickled and shown in tracebacks under the package itself.
# Annotations are resolved first, while the defining module is still known to attrs.
for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type):
        if _attrs.has(_value):
            _attrs.resolve_types(_value)
        _value.__module__ = __name__
del _name, _value

# A library never prints on its own: the application decides where b2b_async's records go.
_logging.getLogger(__name__).addHandler(_logging.NullHandler())
