"""Authentication: which credentials a request may carry, and why the others answer 401.

Both API versions accept either scheme: the legacy ``authToken`` header, or BigCommerce's
current ``X-Auth-Token`` with ``X-Store-Hash`` (the sandbox accepts its one token in either
header). A missing or wrong token, an ``X-Auth-Token`` without the store hash or with another
store's hash, and ``X-Store-Hash`` beside ``authToken`` are refused. The last one is the
sandbox's choice: BigCommerce says never to send the two together and documents no answer for
it, so the sandbox refuses the mix outright, and a client that mixes the schemes fails its tests
instead of depending on what the platform might make of it.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

__all__ = ["credentials_problem"]


def _same(sent: str, expected: str) -> bool:
    # Constant-time: the token is a secret, even in a sandbox.
    return hmac.compare_digest(sent.encode("utf-8", "surrogateescape"), expected.encode("utf-8"))


def credentials_problem(
    headers: Mapping[str, str], *, token: str, store_hash: str, unauthenticated: str
) -> str | None:
    """Why a request's credentials are refused, or ``None`` when they are accepted.

    Args:
        headers: the request's headers (case-insensitive).
        token: the token the sandbox accepts, in ``authToken`` or in ``X-Auth-Token``.
        store_hash: the ``X-Store-Hash`` it accepts beside ``X-Auth-Token``.
        unauthenticated: the message when no token was sent, in the version's wording.

    Returns:
        The 401's message, or ``None``.
    """
    legacy = headers.get("authToken")
    sent_hash = headers.get("X-Store-Hash")
    if legacy is not None and sent_hash is not None:
        return "authToken cannot be combined with X-Store-Hash; send X-Auth-Token instead"
    if legacy is not None:
        return None if _same(legacy, token) else "Invalid authToken"
    sent_token = headers.get("X-Auth-Token")
    if sent_token is None:
        return unauthenticated
    if sent_hash is None:
        return "X-Store-Hash is required with X-Auth-Token"
    if not _same(sent_token, token):
        return "Invalid X-Auth-Token"
    return None if _same(sent_hash, store_hash) else "Invalid X-Store-Hash"
