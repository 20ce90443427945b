"""The store's order extra field configurations, fetched once and kept for every check.

A V3 create or update checks its extra field values (``_extra_fields``) against the store's
configurations before it is sent. The configurations change only when an administrator
edits them, so one :class:`ExtraFieldCache` per client keeps them for
:data:`~b2b_async._config.EXTRA_FIELD_CONFIGS_TTL` seconds and shares one fetch among its
callers. The fetch is a task of its own on the client's transport: a caller short of time
stops waiting for it without cutting it short. A failed fetch leaves values unchecked for
:data:`~b2b_async._config.EXTRA_FIELD_CONFIGS_RETRY` seconds (the API still checks them),
unless the call's own request would fail the same way, or configurations kept are still
fresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from operator import attrgetter

from ._bulk import could_not_connect
from ._config import (
    EXTRA_FIELD_CONFIGS_RECHECK,
    EXTRA_FIELD_CONFIGS_RETRY,
    EXTRA_FIELD_CONFIGS_TTL,
    MAX_EXTRA_FIELD_CONFIGS,
    MAX_V3_PAGE_SIZE,
    Priority,
    logger,
)
from ._exceptions import (
    CLIENT_CLOSED,
    OTHER_LOOP,
    AuthenticationError,
    B2BError,
    ClientClosedError,
    ResponseDecodeError,
)
from ._pagination import PageItems, V3PageReader, walk_offsets
from ._protocol import Envelope
from ._routes import v3_path
from ._transport import Transport
from ._v3_models import ExtraFieldConfig
from ._waking import cancel_requests

__all__ = ["ExtraFieldCache", "fetch_extra_field_configs"]

#: The clock that ages the kept configurations (monotonic seconds); tests replace it.
clock: Callable[[], float] = time.monotonic


async def fetch_extra_field_configs(
    transport: Transport, priority: Priority
) -> tuple[ExtraFieldConfig, ...]:
    """Fetch every page of the store's order extra field configurations.

    Raises:
        ResponseDecodeError: the listing did not end within
            :data:`~b2b_async._config.MAX_EXTRA_FIELD_CONFIGS` configurations, or changed
            while it was read (its count differs from page to page), or names a field twice:
            which configuration the API applies cannot be told.
        B2BError: a page could not be fetched.
    """
    path = v3_path("/orders/extra-fields")
    reader = _ConfigsReader()
    pages = walk_offsets(
        transport, path, (), reader, MAX_V3_PAGE_SIZE, priority, most=MAX_EXTRA_FIELD_CONFIGS
    )
    async with contextlib.aclosing(pages):
        configs = tuple([config async for config in pages])
    if len(reader.counts) > 1 or len({config.field_name for config in configs}) < len(configs):
        raise ResponseDecodeError(
            f"the listing {path} changed while it was read, or names a field twice"
        )
    return configs


class _ConfigsReader:
    """Reads the configurations' pages, as :class:`V3PageReader` does, and keeps every count
    they give: a count that differs from page to page is a listing that changed between
    them, whose offsets skipped or repeated a field."""

    def __init__(self) -> None:
        self._read = V3PageReader(ExtraFieldConfig, key=attrgetter("field_name"))
        self.key = self._read.key
        self.short_page_is_last = self._read.short_page_is_last
        self.counts: set[int] = set()

    def __call__(self, envelope: Envelope) -> PageItems[ExtraFieldConfig]:
        page = self._read(envelope)
        if page.total_count is not None:
            self.counts.add(page.total_count)
        return page


def _fails_every_request(exc: B2BError) -> bool:
    """Whether the call's own request would meet ``exc`` too: a refused token, a host that
    cannot be reached, a closed client. A 403 is not: a token may be refused the
    configurations and still be allowed to register orders."""
    return isinstance(exc, AuthenticationError | ClientClosedError) or could_not_connect(exc)


def _mark_retrieved(task: asyncio.Task[tuple[ExtraFieldConfig, ...]]) -> None:
    """See to the outcome of a fetch that nobody may wait for any more.

    A :class:`~b2b_async.B2BError` was logged by the fetch, and the cache keeps its time;
    anything else is a fault of the library's, logged here with its traceback.
    """
    error = None if task.cancelled() else task.exception()
    if error is not None and not isinstance(error, B2BError):
        logger.error("fetching the order extra field configurations failed", exc_info=error)


class ExtraFieldCache:
    """The store's order extra field configurations, kept for a while and shared.

    One per client, shared with its views: the configurations change only when an
    administrator edits them, the API's documentation asks integrations to cache them, and
    every fetch spends the store's shared budget. They are kept for
    :data:`~b2b_async._config.EXTRA_FIELD_CONFIGS_TTL` seconds (5 minutes); concurrent callers
    share one fetch. The fetch runs as a task of its own, on the client's transport (not on
    the view that asked), so a caller that stops waiting for it (a registration short of
    time, a cancelled call, a closed view) leaves it to the others and to the calls that
    follow; the owning client's :meth:`aclose` stops it. A failed fetch is logged at
    WARNING once, whoever waited for it.

    Args:
        transport: the client's transport, which the fetches use.
        check: whether creates and updates check their extra field values against the
            configurations before sending (``B2BClient(check_extra_fields=...)``).
    """

    __slots__ = (
        "_closed",
        "_configs",
        "_failed_at",
        "_fetched_at",
        "_fetching",
        "_fetching_at",
        "_refused_everywhere",
        "_running",
        "_slow_fetch",
        "_transport",
        "_warned",
        "check",
    )

    def __init__(self, transport: Transport, *, check: bool = True) -> None:
        self.check: bool = check
        self._transport = transport
        self._closed = False
        self._configs: tuple[ExtraFieldConfig, ...] | None = None
        self._fetched_at = -math.inf
        self._failed_at = -math.inf
        self._refused_everywhere = False  # the last failure would meet every request too
        self._fetching: asyncio.Task[tuple[ExtraFieldConfig, ...]] | None = None
        self._fetching_at = Priority.URGENT  # the priority of the fetch under way
        # Every fetch still running: the shared one, and any a more urgent caller overtook.
        self._running: set[asyncio.Task[tuple[ExtraFieldConfig, ...]]] = set()
        self._warned: B2BError | None = None
        self._slow_fetch: asyncio.Task[tuple[ExtraFieldConfig, ...]] | None = None

    def _recently_failed(self) -> bool:
        """Whether a fetch failed less than the retry time ago."""
        return clock() - self._failed_at < EXTRA_FIELD_CONFIGS_RETRY

    def _fresh(self) -> tuple[ExtraFieldConfig, ...] | None:
        """The kept configurations while they are younger than the TTL."""
        if clock() - self._fetched_at < EXTRA_FIELD_CONFIGS_TTL:
            return self._configs
        return None

    async def configs(
        self, priority: Priority, *, refresh: bool = False
    ) -> tuple[ExtraFieldConfig, ...]:
        """The configurations: the kept ones while fresh, else fetched at ``priority``.

        Callers that wait for the same fetch share its outcome, a failure included; with
        ``refresh``, a fetch already under way is the fresh one.

        Raises:
            ClientClosedError: the client was closed during the fetch.
            B2BError: the fetch failed, or was cancelled by someone else than the client's
                :meth:`aclose` (nothing is kept then).
        """
        configs = None if refresh else self._fresh()
        if configs is not None:
            return configs
        fetching = self._shared_fetch(priority)
        try:
            # Shielded: this caller's cancellation ends its wait, not the fetch others share.
            return await asyncio.shield(fetching)
        except asyncio.CancelledError:
            if fetching.cancelled() and not cancel_requests():  # the fetch, not this caller
                raise self._cut_off() from None
            raise

    def _cut_off(self) -> B2BError:
        """The error of a caller whose fetch was cancelled: by aclose, the client is closed;
        by anyone else (a sweep of the loop's tasks), the fetch failed, and the next caller
        starts another."""
        if self._closed:
            return ClientClosedError("the client was closed during the fetch")
        return B2BError("the fetch of the order extra field configurations was cancelled")

    def _shared_fetch(self, priority: Priority) -> asyncio.Task[tuple[ExtraFieldConfig, ...]]:
        """The fetch under way, or a new one at ``priority`` that the callers to come share.

        An urgent caller (a registration's check) does not share a fetch under way at a
        lower priority (a backfill's, started by
        :meth:`~b2b_async.V3Orders.extra_field_configs` at ``"bulk"``), which would keep it
        behind every call of that lane: an urgent fetch overtakes it and is the shared one
        from then on, and the other still ends for those who wait for it.

        Raises:
            ClientClosedError: the client is closed, or closing, or was first used on
                another event loop (whose fetch this one could not await).
        """
        if self._closed:
            raise ClientClosedError(CLIENT_CLOSED)
        fetching = self._fetching
        if fetching is not None and not fetching.done():
            if fetching.get_loop() is not asyncio.get_running_loop():
                raise ClientClosedError(OTHER_LOOP)  # a new fetch would meet it in the transport
            if self._fetching_at is Priority.URGENT or priority is not Priority.URGENT:
                return fetching
        self._fetching, self._fetching_at = self._start_fetch(priority), priority
        return self._fetching

    def _start_fetch(self, priority: Priority) -> asyncio.Task[tuple[ExtraFieldConfig, ...]]:
        """A fetch at ``priority``, as a task of its own that :meth:`aclose` stops."""
        fetching = asyncio.create_task(
            self._fetch(priority), name="b2b_async: order extra field configurations"
        )
        # Every outcome is kept (configurations or failure), whoever still waits for it.
        fetching.add_done_callback(_mark_retrieved)
        self._running.add(fetching)
        fetching.add_done_callback(self._running.discard)
        return fetching

    async def aclose(self) -> None:
        """Stop the fetches under way; the client that owns the cache calls it as it closes."""
        self._closed = True
        self._fetching = None
        running = [fetching for fetching in self._running if not fetching.done()]
        for fetching in running:
            fetching.cancel()
        if running:
            await asyncio.wait(running)

    async def _fetch(self, priority: Priority) -> tuple[ExtraFieldConfig, ...]:
        try:
            configs = await fetch_extra_field_configs(self._transport, priority)
        except ClientClosedError:
            # The client's state, not the store's: a call from another event loop must not
            # switch the check off for the client's own calls for the retry time.
            raise
        except B2BError as exc:
            self._failed_at = clock()
            self._refused_everywhere = _fails_every_request(exc)
            if not self._refused_everywhere:  # the check's to bear; the others are raised
                self._warn(exc)
            raise
        self._configs, self._fetched_at = configs, clock()
        return configs

    async def for_check(
        self, *, within: float | None = None
    ) -> tuple[ExtraFieldConfig, ...] | None:
        """The configurations to check values against, or ``None`` to send them unchecked.

        ``None`` when the check is off, or when the configurations cannot be fetched: a
        failed fetch is logged at WARNING and not tried again for
        :data:`~b2b_async._config.EXTRA_FIELD_CONFIGS_RETRY` seconds (configurations kept
        and still fresh, from before it or from a fetch since, check values meanwhile), so
        that a broken configuration endpoint costs neither every call a request nor a
        registration its window. The API still checks every value. A failure that every
        request would meet (a 401, a host that cannot be reached, a closed client) is raised
        instead: the call's own request would fail the same way. A 403 is not among them: a
        token may be refused the configurations and still be allowed to register orders.

        Every registration waits on the configurations, so a fetch started here runs at
        urgent priority, and one under way at a lower priority is overtaken by a new one
        (:meth:`_shared_fetch`): a backfill's bulk fetch would hold up a webhook's create.

        Args:
            within: the seconds the caller can wait for a fetch (``None``: as long as it
                takes). Past them the values go unchecked (logged at WARNING, once a
                fetch), and the fetch goes on for the calls that follow.

        Raises:
            B2BError: such a failure.
            TimeoutError: one the fetch raised itself (a custom limiter's), as it came.
        """
        if not self.check or (self._recently_failed() and self._fresh() is None):
            return None
        waiting = asyncio.timeout(within)
        try:
            async with waiting:  # kept configurations are read at once
                return await self.configs(Priority.URGENT)
        except TimeoutError:
            if not waiting.expired():  # the fetch's own (a custom limiter's), not the wait's
                raise
            self._warn_slow(within)
            return None
        except B2BError as exc:
            if _fails_every_request(exc):
                raise
            return None  # logged as the fetch failed

    async def for_recheck(
        self, *, within: float | None = None
    ) -> tuple[ExtraFieldConfig, ...] | None:
        """Configurations fetched again to confirm a refusal, or ``None`` to let it stand.

        The kept configurations may refuse a value an administrator has allowed since they
        were fetched (a new choice, a longer limit). When they are older than
        :data:`~b2b_async._config.EXTRA_FIELD_CONFIGS_RECHECK` seconds, they are fetched
        again (at urgent priority, shared as any fetch) and the new ones returned; younger
        ones stand. So do they when the fetch fails or does not arrive ``within`` seconds,
        and, a fetch having failed, for :data:`~b2b_async._config.EXTRA_FIELD_CONFIGS_RETRY`
        seconds after: a broken endpoint costs no refused value a request. A failure that
        every request would meet is no broken endpoint: the next recheck fetches again, and
        raises it as the call's own request would.

        Raises:
            B2BError: a failure the call's own request would meet too, as in
                :meth:`for_check`.
            TimeoutError: one the fetch raised itself, as in :meth:`for_check`.
        """
        if clock() - self._fetched_at < EXTRA_FIELD_CONFIGS_RECHECK:
            return None
        if self._recently_failed() and not self._refused_everywhere:
            return None
        waiting = asyncio.timeout(within)
        try:
            async with waiting:
                return await self.configs(Priority.URGENT, refresh=True)
        except TimeoutError:
            if not waiting.expired():  # the fetch's own, as in for_check
                raise
            return None
        except B2BError as exc:
            if _fails_every_request(exc):
                raise
            return None  # logged as the fetch failed

    def _warn_slow(self, within: float | None) -> None:
        """Log, once a fetch, that a caller could not wait for it."""
        if self._fetching is not self._slow_fetch:
            self._slow_fetch = self._fetching
            logger.warning(
                "the order extra field configurations did not arrive within the %.2f s a "
                "registration could spare; its extra fields are sent unchecked",
                within,
            )

    def _warn(self, exc: B2BError) -> None:
        """Log a failed fetch once, however many calls shared it, with what follows from it:
        values unchecked for the retry time, or checked by the configurations still kept."""
        if exc is not self._warned:
            self._warned = exc
            kept_for = EXTRA_FIELD_CONFIGS_TTL - (clock() - self._fetched_at)
            if self._fresh() is None:
                follows = f"extra fields are sent unchecked for {EXTRA_FIELD_CONFIGS_RETRY:.0f} s"
            else:
                follows = f"the configurations kept check extra fields for {kept_for:.0f} s more"
            logger.warning(
                "could not fetch the order extra field configurations (%s: %s); %s",
                type(exc).__name__,
                exc,
                follows,
            )
