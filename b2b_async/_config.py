"""Option objects and the defaults they start from, collected in one place."""

from __future__ import annotations

import math
from typing import Final

import attrs

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT",
    "RetryPolicy",
]

#: The production host of the B2B Edition REST API (a host root: paths start ``/api``).
DEFAULT_BASE_URL: Final = "https://api-b2b.bigcommerce.com"
#: Seconds one attempt may take, connecting and reading included.
DEFAULT_TIMEOUT: Final = 30.0
#: Requests in flight at once on one client; the store limits concurrency too.
DEFAULT_MAX_CONCURRENCY: Final = 8
#: A response body larger than this is refused rather than read to the end (4 MiB).
DEFAULT_MAX_RESPONSE_BYTES: Final = 4 * 1024 * 1024


def _positive(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ValueError(f"{attribute.name} must be a positive finite number, got {value!r}")


def _non_negative(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
        raise ValueError(f"{attribute.name} must be a non-negative finite number, got {value!r}")


def _attempts(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"attempts must be an int of at least 1, got {value!r}")


def _deadline(
    instance: object, attribute: attrs.Attribute[float | None], value: float | None
) -> None:
    if value is not None:
        _positive(instance, attribute, value)  # type: ignore[arg-type]


@attrs.frozen
class RetryPolicy:
    """How a call retries transient failures.

    Retried: 429, 500, 502, 503, 504, connection errors and timeouts. Never retried: any
    other 4xx, which cannot succeed by repetition.

    The wait before attempt *n + 1* is the server's hint when it gave one (the longest of
    ``Retry-After``, ``X-Retry-After``, ``X-Request-Window-Resets-After`` and
    ``X-Rate-Limit-Time-Reset-Ms``). Without a hint it is exponential backoff with jitter::

        wait = min(max_wait, initial_wait * 2 ** (n - 1)) * uniform(0.5, 1.0)

    The jitter keeps clients that failed together from retrying together.

    Args:
        attempts: the most requests one call may send, the first included.
        initial_wait: the backoff base in seconds.
        max_wait: the longest backoff wait in seconds.
        max_retry_after: the longest server hint the client will obey; a longer one makes
            the call fail at once with :class:`~b2b_async.RateLimitError` (its
            ``retry_after`` set) instead of hanging.
        deadline: seconds the whole call may take, waits and queueing included; ``None``
            for no bound beyond ``attempts``.

    Raises:
        ValueError: an option is out of range.

    .. versionadded:: 0.1.0
    """

    attempts: int = attrs.field(default=5, validator=_attempts)
    initial_wait: float = attrs.field(default=0.5, validator=_non_negative)
    max_wait: float = attrs.field(default=30.0, validator=_non_negative)
    max_retry_after: float = attrs.field(default=120.0, validator=_non_negative)
    deadline: float | None = attrs.field(default=None, validator=_deadline)

    def backoff(self, attempt: int, jitter: float) -> float:
        """The wait after failed attempt number ``attempt`` when the server gave no hint.

        Args:
            attempt: the 1-based number of the attempt that failed.
            jitter: a factor in ``[0.5, 1.0]``, random in real use.
        """
        exponent = min(attempt - 1, 64)  # 2**64 seconds is already far past any cap
        return min(self.max_wait, self.initial_wait * 2.0**exponent) * jitter
