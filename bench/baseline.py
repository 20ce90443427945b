"""The competent hand-written baseline: aiohttp, tenacity honouring ``Retry-After``, aiolimiter.

What a careful user writes without the library, and the honest comparison for it:

* one :class:`aiohttp.ClientSession` for every call;
* one ``aiolimiter.AsyncLimiter(requests, per)`` that every attempt, retries included, passes
  before it is sent (a leaky bucket: up to ``requests`` at once, then ``requests / per`` a
  second);
* tenacity's retry around each POST: 429, 5xx and connection errors are retried; the wait is
  the ``Retry-After`` header's seconds when the answer has one, else exponential backoff with
  full jitter; a bounded number of attempts.

It has no priorities: a single call made during a backfill queues in the limiter behind it.

``python -m bench.budget --strategy competent`` runs it alone and prints its figures.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

import aiohttp
import attrs
import tenacity
from aiolimiter import AsyncLimiter

from b2b_async.sandbox import DEFAULT_TOKEN, RateWindow
from bench.ratelimit import Strategy, order_id

PATH: Final = "/api/v2/io/companies/1/user/1/orders"
HEADERS: Final = {"authToken": DEFAULT_TOKEN, "Accept": "application/json"}
#: Answers worth another attempt: the window is spent, or the server failed for now.
RETRYABLE_STATUSES: Final = frozenset({429, 500, 502, 503, 504})


@attrs.frozen
class Backoff:
    """The fallback waits and the attempts, in seconds of the time-scaled window.

    With the window scaled 60 times (1 s for the store's minute), these stand for a backoff
    of up to 6 s doubling to at most 2 minutes, jittered, over 10 attempts: the same scale as
    the naive baseline's, so that only ``Retry-After`` and the limiter differ.
    """

    multiplier: float = 0.1
    max_wait: float = 2.0
    attempts: int = 10


BACKOFF: Final = Backoff()


def retry_after(error: BaseException | None) -> float | None:
    """The seconds an answer's ``Retry-After`` header asks for, if it gives a number.

    The sandbox, like B2B Edition, sends whole seconds; an HTTP date is not parsed here.
    """
    if not isinstance(error, aiohttp.ClientResponseError) or error.headers is None:
        return None
    try:
        return float(error.headers["Retry-After"])
    except (KeyError, ValueError):
        return None


def is_retryable(error: BaseException) -> bool:
    """Whether another attempt may succeed: a retryable status or a connection failure."""
    if isinstance(error, aiohttp.ClientResponseError):
        return error.status in RETRYABLE_STATUSES
    return isinstance(error, aiohttp.ClientConnectionError | asyncio.TimeoutError)


@attrs.frozen
class WaitRetryAfter:
    """tenacity's wait: the ``Retry-After`` seconds when present, else the fallback's wait."""

    fallback: tenacity.wait.wait_base

    def __call__(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        hinted = retry_after(error)
        return self.fallback(state) if hinted is None else hinted


def retrying(backoff: Backoff) -> tenacity.AsyncRetrying:
    """The tenacity controller every create runs under."""
    fallback = tenacity.wait_random_exponential(multiplier=backoff.multiplier, max=backoff.max_wait)
    return tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception(is_retryable),
        wait=WaitRetryAfter(fallback),
        stop=tenacity.stop_after_attempt(backoff.attempts),
        reraise=True,
    )


@attrs.frozen
class CompetentClient:
    """One session and one limiter shared by every create, each create retried by tenacity."""

    session: aiohttp.ClientSession
    limiter: AsyncLimiter
    url: str
    backoff: Backoff = BACKOFF

    async def create(self, order: str) -> Any:
        """Register order ``order``; the answer's JSON, or the last attempt's error."""
        return await retrying(self.backoff)(self.post, order)

    async def post(self, order: str) -> Any:
        """One attempt: wait for the limiter, then POST the registration."""
        async with self.limiter:
            body = {"orderId": order, "totalIncTax": 9}
            async with self.session.post(self.url + PATH, json=body, headers=HEADERS) as answer:
                answer.raise_for_status()
                return await answer.json()


@asynccontextmanager
async def competent_client(url: str, window: RateWindow) -> AsyncIterator[CompetentClient]:
    """A :class:`CompetentClient` for the sandbox at ``url``, its limiter set to ``window``."""
    async with aiohttp.ClientSession() as session:
        yield CompetentClient(session, AsyncLimiter(window.requests, window.per), url)


def competent_strategy(window: RateWindow) -> Strategy:
    """Gather every create through one :class:`CompetentClient`.

    ``return_exceptions=True`` lets every call finish, so that lost orders can be counted.
    """

    async def register(url: str, orders: int) -> None:
        async with competent_client(url, window) as client:
            creates = (client.create(order_id(i)) for i in range(orders))
            await asyncio.gather(*creates, return_exceptions=True)

    return register
