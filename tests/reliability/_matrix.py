"""The fault matrix: every case, the arena that plays it, and one way to run it.

A case names a failure, the server that produces it (the sandbox with a seeded fault, or a
:class:`~tests.reliability._servers.Store` of our own for answers the sandbox does not
give), and what the client must make of it: the result or error, the attempts, the time
spent and what the server registered. :func:`run_case` plays a case through a single
``create`` or inside ``create_many`` and returns what it observed, reprs and tracebacks
included, so ``test_secrets`` can scan the very same runs for the token.

Scopes say which requests meet the fault:

- ``first``: only the first request the server receives; in a bulk run, the order that
  request was for is the subject, and the other orders must pass untouched.
- ``all``: every request; in a bulk run, every order meets it.
- ``subject``: whatever the subject order (the first of the input) meets, such as an
  unknown company; the other orders must pass untouched.
"""

from __future__ import annotations

import contextlib
import email.utils
import math
import time
import traceback
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from decimal import Decimal
from typing import Final, Literal, Protocol

import attrs

from b2b_async import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    B2BClient,
    B2BError,
    BadRequestError,
    CreatedOrder,
    NewOrder,
    NotFoundError,
    OrderAlreadyExistsError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    RetryPolicy,
    ServerError,
    UnprocessableEntityError,
)
from b2b_async.sandbox import FaultKind, Faults, SandboxServer
from tests.reliability._servers import Reply, Store, envelope
from tests.sandbox_helpers import attempts_for, seed_for

Mode = Literal["create", "create_many"]
Scope = Literal["first", "all", "subject"]
MODES: Final[tuple[Mode, ...]] = ("create", "create_many")

#: Orders in a bulk run; they all run at once.
BULK: Final = 4
#: Fast retries, as the brief asks: three attempts, waits of at most 0.05 s.
RETRY: Final = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.05, max_retry_after=5.0)
#: The per-attempt timeout, except for the cases about timing out.
TIMEOUT: Final = 2.0
#: The per-attempt timeout of the hang and slow-body cases.
SHORT_TIMEOUT: Final = 0.3
#: How long a sandbox hang lasts: far past ``SHORT_TIMEOUT``.
HANG_SECONDS: Final = 5.0
#: Requests a seeded sandbox keeps clean after the faulty first one.
_CLEAN_AFTER: Final = 11


class Arena(Protocol):
    """What a case is played against: a server, and what it saw."""

    @property
    def url(self) -> str:
        """The host root."""
        ...

    def attempts(self, order_id: str) -> int:
        """Requests received for the order."""
        ...

    def registrations(self, order_id: str) -> int:
        """Requests that registered the order (more than 1 is a double registration)."""
        ...

    def exists(self, order_id: str) -> bool:
        """Whether the order is registered."""
        ...

    def first_order(self) -> str | None:
        """The order id of the first request received, or ``None`` when none arrived."""
        ...


@attrs.frozen
class SandboxArena:
    """The sandbox seen as an arena."""

    server: SandboxServer

    @property
    def url(self) -> str:
        """The host root."""
        return self.server.url

    def attempts(self, order_id: str) -> int:
        """Create requests received for the order."""
        return attempts_for(self.server, order_id)

    def registrations(self, order_id: str) -> int:
        """Requests that registered the order."""
        return self.server.registrations(order_id)

    def exists(self, order_id: str) -> bool:
        """Whether the order is registered."""
        return order_id in self.server.orders

    def first_order(self) -> str | None:
        """The order id of the first request received, or ``None`` when none arrived."""
        requests = self.server.requests
        return str(requests[0].body["orderId"]) if requests else None


#: Builds a case's arena from the client's token and the subject order's id.
ArenaFactory = Callable[[str, str], AbstractAsyncContextManager[Arena]]


def sandbox_fault(kind: FaultKind, scope: Scope) -> ArenaFactory:
    """The sandbox injecting ``kind`` into the first request only, or into all of them."""
    if scope == "all":
        faults = Faults(**{kind.field: 1.0}, hang_seconds=HANG_SECONDS)
        seed = 0
    else:
        faults = Faults(**{kind.field: 0.1}, hang_seconds=HANG_SECONDS)
        seed = seed_for(faults, [kind, *[None] * _CLEAN_AFTER])

    @contextlib.asynccontextmanager
    async def arena(token: str, subject: str) -> AsyncIterator[Arena]:
        async with SandboxServer(token=token, rate=None, faults=faults, seed=seed) as server:
            yield SandboxArena(server)

    return arena


def sandbox_with(*, token: str | None = None, registered: bool = False) -> ArenaFactory:
    """A clean sandbox that expects another token, or already holds the subject order."""

    @contextlib.asynccontextmanager
    async def arena(client_token: str, subject: str) -> AsyncIterator[Arena]:
        async with SandboxServer(token=token or client_token, rate=None) as server:
            if registered:
                server.state.register(
                    order_id=subject,
                    company_id=1,
                    customer_id=1,
                    total_inc_tax=Decimal("1"),
                    po_number=None,
                )
            yield SandboxArena(server)

    return arena


def store(reply: Reply | Callable[[], Reply], scope: Scope) -> ArenaFactory:
    """A :class:`Store` answering ``reply`` to the first request, or to all of them.

    ``reply`` may be a factory, for replies that must be built when the request arrives
    (an HTTP date relative to now).
    """

    def script(number: int) -> Reply | None:
        if scope == "first" and number > 1:
            return None
        return reply() if callable(reply) else reply

    @contextlib.asynccontextmanager
    async def arena(token: str, subject: str) -> AsyncIterator[Arena]:
        async with Store(script).running() as running:
            yield running

    return arena


def rate_limited(headers: dict[str, str] | Callable[[], dict[str, str]]) -> Callable[[], Reply]:
    """A 429 with the given wait headers (or a factory of them, called per answer)."""
    body = envelope(429, {"errMsg": "Too many requests"}, "Too Many Requests Error")
    return lambda: Reply(429, headers() if callable(headers) else headers, body)


def http_date_in(seconds: float) -> dict[str, str]:
    """``Retry-After`` as an HTTP date at least ``seconds`` from now (whole seconds)."""
    when = math.ceil(time.time() + seconds)
    return {"Retry-After": email.utils.formatdate(when, usegmt=True)}


def failure(status: int, code: int, message: str) -> Reply:
    """An error answer with the envelope."""
    return Reply(status, {"Content-Type": "application/json"}, envelope(code, {}, message))


def trickled(pause: float) -> Reply:
    """The normal success answer, sent a byte every ``pause`` seconds after registering.

    The body is some 60 bytes: at 0.005 s a byte it takes 0.3 s, at 0.05 s three seconds.
    """
    return Reply(200, register=True, trickle=pause)


@attrs.frozen(kw_only=True)
class Case:
    """One row of the fault matrix.

    Attributes:
        name: what happens, in a few words.
        arena: builds the server that makes it happen.
        scope: which requests meet it (see the module docstring).
        expected: the error the subject's call ends with, or ``None`` for success.
        status: the expected error's ``status``, when it has one.
        retry_after: the expected error's ``retry_after``, when it has one.
        attempts: requests the subject's call makes.
        registered: requests that register the subject order (0 or 1).
        elapsed: bounds, in seconds, on a single create's duration.
        already_registered: the expected result's flag, for a success.
        bulk_ok: in ``create_many``, the subject succeeds although ``create`` raises (an
            order registered before the run counts as registered).
        company: the subject order's company.
        timeout: the client's per-attempt timeout.
    """

    name: str
    arena: ArenaFactory
    scope: Scope = "first"
    expected: type[B2BError] | None = None
    status: int | None = None
    retry_after: float | None = None
    attempts: int = 2
    registered: int = 1
    elapsed: tuple[float, float] = (0.0, 1.0)
    already_registered: bool = False
    bulk_ok: bool = False
    company: int = 1
    timeout: float = TIMEOUT

    @property
    def slug(self) -> str:
        """The name as an id: ``"503 then 200"`` becomes ``"503-then-200"``."""
        return "-".join(self.name.replace("_", "-").split())


def transient(
    kind: FaultKind,
    *,
    elapsed: tuple[float, float] = (0.0, 1.0),
    already_registered: bool = False,
    timeout: float = TIMEOUT,
) -> Case:
    """The sandbox faults the first request only; the retry registers the order."""
    return Case(
        name=f"{kind.value} then 200",
        arena=sandbox_fault(kind, "first"),
        elapsed=elapsed,
        already_registered=already_registered,
        timeout=timeout,
    )


def persistent(
    kind: FaultKind,
    expected: type[B2BError],
    *,
    status: int | None = None,
    registered: int = 0,
    elapsed: tuple[float, float] = (0.0, 1.0),
    timeout: float = TIMEOUT,
) -> Case:
    """The sandbox faults every request: every attempt is spent, then the error."""
    return Case(
        name=f"{kind.value} always",
        arena=sandbox_fault(kind, "all"),
        scope="all",
        expected=expected,
        status=status,
        attempts=RETRY.attempts,
        registered=registered,
        elapsed=elapsed,
        timeout=timeout,
    )


def refused(
    name: str,
    arena: ArenaFactory,
    expected: type[APIError],
    status: int,
    *,
    scope: Scope = "first",
    company: int = 1,
) -> Case:
    """An answer no replay can change: one request, the typed error, nothing registered."""
    return Case(
        name=name,
        arena=arena,
        scope=scope,
        expected=expected,
        status=status,
        attempts=1,
        registered=0,
        company=company,
    )


#: Bounds on a wait of 0.4 s, the hint the store's 429s give.
_HINTED = (0.38, 1.5)
_SHORT_HANG = (SHORT_TIMEOUT * 0.95, 1.5)
_LONG_HANG = (RETRY.attempts * SHORT_TIMEOUT * 0.95, 2.5)

CASES: Final[tuple[Case, ...]] = (
    # 429 with each form of wait hint, then 200: the hint is waited, the order registered once.
    transient(FaultKind.HTTP_429, elapsed=(0.95, 2.5)),
    Case(
        name="429 Retry-After HTTP date then 200",
        arena=store(rate_limited(lambda: http_date_in(0.5)), "first"),
        elapsed=(0.45, 2.5),
    ),
    Case(
        name="429 X-Retry-After then 200",
        arena=store(rate_limited({"X-Retry-After": "0.4"}), "first"),
        elapsed=_HINTED,
    ),
    Case(
        name="429 X-Request-Window-Resets-After then 200",
        arena=store(rate_limited({"X-Request-Window-Resets-After": "0.4 s"}), "first"),
        elapsed=_HINTED,
    ),
    Case(
        name="429 X-Rate-Limit-Time-Reset-Ms then 200",
        arena=store(rate_limited({"X-Rate-Limit-Time-Reset-Ms": "400"}), "first"),
        elapsed=_HINTED,
    ),
    Case(name="429 without hint then 200", arena=store(rate_limited({}), "first")),
    Case(
        name="429 without hint always",
        arena=store(rate_limited({}), "all"),
        scope="all",
        expected=RateLimitError,
        status=429,
        attempts=RETRY.attempts,
        registered=0,
    ),
    Case(
        name="429 hint past max_retry_after",
        arena=store(rate_limited({"Retry-After": "3600"}), "first"),
        expected=RateLimitError,
        status=429,
        retry_after=3600.0,
        attempts=1,
        registered=0,
    ),
    # 5xx: retried; the proxy's 502 and 504 are HTML pages.
    transient(FaultKind.HTTP_500),
    transient(FaultKind.HTTP_502),
    transient(FaultKind.HTTP_503),
    transient(FaultKind.HTTP_504),
    persistent(FaultKind.HTTP_500, ServerError, status=500),
    persistent(FaultKind.HTTP_502, ServerError, status=502),
    persistent(FaultKind.HTTP_503, ServerError, status=503),
    persistent(FaultKind.HTTP_504, ServerError, status=504),
    # Connections cut before or after processing; answers that never come, or come garbled.
    transient(FaultKind.RESET_BEFORE),
    persistent(FaultKind.RESET_BEFORE, APIConnectionError),
    transient(FaultKind.RESET_AFTER, already_registered=True),
    persistent(FaultKind.RESET_AFTER, APIConnectionError, registered=1),
    transient(FaultKind.HANG, timeout=SHORT_TIMEOUT, elapsed=_SHORT_HANG),
    persistent(FaultKind.HANG, APITimeoutError, timeout=SHORT_TIMEOUT, elapsed=_LONG_HANG),
    transient(FaultKind.MALFORMED, already_registered=True),
    persistent(FaultKind.MALFORMED, ResponseDecodeError, registered=1),
    # A body that trickles in: fine within the timeout; past it, the replay finds the order.
    Case(
        name="slow body within the timeout",
        arena=store(trickled(0.005), "first"),
        attempts=1,
        elapsed=(0.25, 1.5),
    ),
    Case(
        name="slow body past the timeout then 200",
        arena=store(trickled(0.05), "first"),
        already_registered=True,
        timeout=SHORT_TIMEOUT,
        elapsed=_SHORT_HANG,
    ),
    Case(
        name="slow body always",
        arena=store(trickled(0.05), "all"),
        scope="all",
        expected=APITimeoutError,
        attempts=RETRY.attempts,
        timeout=SHORT_TIMEOUT,
        elapsed=_LONG_HANG,
    ),
    # Answers no replay can change: one request, the typed error.
    refused(
        "200 with error code 40010",
        sandbox_fault(FaultKind.ERROR_200, "first"),
        BadRequestError,
        400,
    ),
    refused(
        "400 field error",
        store(failure(400, 40010, "Bad Request Error"), "first"),
        BadRequestError,
        400,
    ),
    Case(
        name="400 already exists",
        arena=sandbox_with(registered=True),
        scope="subject",
        expected=OrderAlreadyExistsError,
        status=400,
        attempts=1,
        registered=0,
        bulk_ok=True,
    ),
    refused(
        "401 wrong token",
        sandbox_with(token="another-token"),
        AuthenticationError,
        401,
        scope="all",
    ),
    refused("403", store(failure(403, 403, "Forbidden"), "first"), PermissionDeniedError, 403),
    refused(
        "404 unknown company",
        sandbox_with(),
        NotFoundError,
        404,
        scope="subject",
        company=999,
    ),
    refused(
        "422",
        store(failure(422, 422, "Unprocessable Entity"), "first"),
        UnprocessableEntityError,
        422,
    ),
)


@attrs.frozen
class Outcome:
    """What one order's call ended with."""

    order_id: str
    result: CreatedOrder | None
    error: B2BError | None


@attrs.frozen
class Observation:
    """What a run of a case showed.

    Attributes:
        case: the case.
        mode: ``create`` or ``create_many``.
        elapsed: seconds the call (or the bulk run) took.
        subject: the order the case is about.
        outcomes: each order's outcome, in input order.
        attempts: requests the server received, per order.
        registrations: requests that registered each order.
        exists: whether each order is registered at the end.
        requests_sent: requests the client counted.
        texts: every repr, message and traceback the run produced (for the secret scan).
    """

    case: Case
    mode: Mode
    elapsed: float
    subject: str
    outcomes: tuple[Outcome, ...]
    attempts: dict[str, int]
    registrations: dict[str, int]
    exists: dict[str, bool]
    requests_sent: int
    texts: tuple[str, ...]

    def of(self, order_id: str) -> Outcome:
        """The outcome of one order."""
        return next(outcome for outcome in self.outcomes if outcome.order_id == order_id)

    def affected(self, order_id: str) -> bool:
        """Whether the order meets the case's fault (all do in a single create)."""
        return self.case.scope == "all" or order_id == self.subject

    def summary(self) -> str:
        """The subject's outcome in a few words: ``CreatedOrder(already_registered)``."""
        outcome = self.of(self.subject)
        if outcome.result is None:
            return type(outcome.error).__name__
        return "registered before" if outcome.result.already_registered else "registered"


def error_texts(error: BaseException) -> list[str]:
    """Messages, reprs and the formatted traceback of an error and its whole chain."""
    texts = ["".join(traceback.format_exception(error))]
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        texts += [str(current), repr(current), repr(current.args)]
        current = current.__cause__ or current.__context__
    return texts


def _new_order(case: Case, order_id: str, subject: bool) -> NewOrder:
    company = case.company if subject else 1
    return NewOrder(company, 1, order_id, Decimal("10.50"), po_number="PO-1")


async def _create(client: B2BClient, order: NewOrder) -> Outcome:
    try:
        result = await client.orders.create(
            company_id=order.company_id,
            customer_id=order.customer_id,
            order_id=order.order_id,
            total_inc_tax=order.total_inc_tax,
            po_number=order.po_number,
        )
    except B2BError as exc:  # anything else is a failure of the test, raised as is
        return Outcome(order.order_id, None, exc)
    return Outcome(order.order_id, result, None)


async def _play(client: B2BClient, case: Case, mode: Mode, ids: Sequence[str]) -> list[Outcome]:
    orders = [_new_order(case, order_id, index == 0) for index, order_id in enumerate(ids)]
    if mode == "create":
        return [await _create(client, orders[0])]
    report = await client.orders.create_many(orders, concurrency=BULK)
    outcomes = []
    for outcome in report.outcomes:
        assert outcome.result is None or isinstance(outcome.result, CreatedOrder)
        outcomes.append(Outcome(outcome.order.order_id, outcome.result, outcome.error))
    return outcomes


async def run_case(case: Case, mode: Mode, token: str) -> Observation:
    """Play ``case`` through ``mode`` with ``token`` and return what was observed."""
    ids = [f"{case.slug}-{mode}-{index}" for index in range(1 if mode == "create" else BULK)]
    async with case.arena(token, ids[0]) as arena:
        client = B2BClient(
            token,
            base_url=arena.url,
            retry=RETRY,
            rate_limit=None,
            timeout=case.timeout,
            max_concurrency=BULK,
        )
        async with client:
            started = time.monotonic()
            outcomes = await _play(client, case, mode, ids)
            elapsed = time.monotonic() - started
            texts = [repr(client), repr(client.stats), *map(repr, outcomes)]
        texts.append(repr(client))
        # With every request faulted, any order is the subject; under load a slow-body case
        # can time out on every attempt before the server has recorded a single arrival.
        first = None if case.scope == "subject" else arena.first_order()
        subject = first if first is not None else ids[0]
        for outcome in outcomes:
            if outcome.error is not None:
                texts += error_texts(outcome.error)
        return Observation(
            case=case,
            mode=mode,
            elapsed=elapsed,
            subject=subject,
            outcomes=tuple(outcomes),
            attempts={order_id: arena.attempts(order_id) for order_id in ids},
            registrations={order_id: arena.registrations(order_id) for order_id in ids},
            exists={order_id: arena.exists(order_id) for order_id in ids},
            requests_sent=client.stats.requests,
            texts=tuple(texts),
        )


def check_outcome(observed: Observation, outcome: Outcome) -> None:
    """Assert that an affected order ended as the case says."""
    case = observed.case
    if case.expected is None or (case.bulk_ok and observed.mode == "create_many"):
        already = case.already_registered or case.bulk_ok
        assert outcome.error is None, f"{outcome.order_id}: {outcome.error!r}"
        assert outcome.result == CreatedOrder(outcome.order_id, already_registered=already)
        return
    assert isinstance(outcome.error, case.expected), f"{outcome.order_id}: {outcome.error!r}"
    if case.status is not None:
        assert isinstance(outcome.error, APIError)
        assert outcome.error.status == case.status
    if case.retry_after is not None:
        assert isinstance(outcome.error, APIError)
        assert outcome.error.retry_after == case.retry_after
