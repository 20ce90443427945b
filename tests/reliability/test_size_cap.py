"""The response size cap: an endless or a bomb-sized body is refused, not read to the end."""

from __future__ import annotations

import asyncio
import gzip
import time
from typing import Final

import pytest

from b2b_async import B2BClient, ResponseDecodeError, RetryPolicy
from tests.reliability._servers import EndlessServer, RawServer
from tests.reliability.conftest import Recorder

CAP: Final = 256 * 1024
RETRY: Final = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.05)
#: An envelope whose padding decompresses to 16 MiB: 64 times the cap, 16 KiB on the wire.
BOMB: Final = gzip.compress(
    b'{"code": 200, "data": {"orderId": "BC1", "padding": "'
    + b"0" * (16 << 20)
    + b'"}, "message": "Success"}',
    9,
)


def client_for(url: str) -> B2BClient:
    """A client with a 256 KiB cap and a timeout far longer than any of these tests."""
    return B2BClient(
        "t", base_url=url, rate_limit=None, retry=RETRY, timeout=30.0, max_response_bytes=CAP
    )


async def create(client: B2BClient) -> object:
    """Register one order."""
    return await client.orders.create(
        company_id=1, customer_id=1, order_id="BC1", total_inc_tax="1.00"
    )


ENDLESS = {
    "length": "huge Content-Length",
    "chunked": "chunked, no length",
    "close": "no length, until close",
}


@pytest.mark.parametrize("framing", list(ENDLESS), ids=list(ENDLESS.values()))
async def test_endless_body_is_cut_off_at_the_cap(framing: str, record: Recorder) -> None:
    """An endless 200 body raises ResponseDecodeError within seconds; the server sees the close."""
    async with EndlessServer(framing).running() as server:
        async with client_for(server.url) as client:
            started = time.monotonic()
            with pytest.raises(ResponseDecodeError, match="cap") as info:
                await create(client)
            elapsed = time.monotonic() - started
            async with asyncio.timeout(2.0):
                await server.hung_up.wait()
            hung_up = time.monotonic() - started
        record(
            "size_cap",
            case=f"endless body, {ENDLESS[framing]}",
            error=type(info.value).__name__,
            attempts=client.stats.requests,
            seconds=round(elapsed, 3),
            server_saw_close_after=round(hung_up, 3),
            bytes_sent_by_server=server.sent,
        )
    assert elapsed < 3.0
    assert client.stats.requests == 1  # a body past the cap is not worth a replay
    assert info.value.status == 200


FRAMED = {"length": "with Content-Length", "chunked": "chunked"}


def bomb(framing: str) -> bytes:
    """A gzip body that is 16 KiB on the wire and 16 MiB once decompressed."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
    if framing == "length":
        return head + b"Content-Length: %d\r\n\r\n" % len(BOMB) + BOMB
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(BOMB), BOMB)
    return head + b"Transfer-Encoding: chunked\r\n\r\n" + chunked


@pytest.mark.parametrize(
    "framing",
    [
        "length",
        "chunked",
    ],
    ids=["with Content-Length", "chunked"],
)
async def test_compressed_body_is_capped_after_decompression(
    framing: str, record: Recorder
) -> None:
    """A gzip body that decompresses past the cap is refused like any other large body."""
    outcome = "not run"
    async with RawServer().running() as server:
        server.response = bomb(framing)
        async with client_for(server.url) as client:
            try:
                with pytest.raises(ResponseDecodeError, match="cap"):
                    await create(client)
                outcome = "ResponseDecodeError"
            except BaseException:
                outcome = "accepted"
                raise
            finally:
                record(
                    "size_cap",
                    case=f"gzip bomb (16 KiB to 16 MiB), {FRAMED[framing]}",
                    error=outcome,
                    attempts=client.stats.requests,
                    seconds=None,
                    server_saw_close_after=None,
                    bytes_sent_by_server=len(BOMB),
                )
