"""Typed keys for what the sandbox keeps on the application and on each request."""

from __future__ import annotations

from aiohttp import web

from ._records import RequestRecord
from ._state import SandboxState

STATE_KEY = web.AppKey("b2b_sandbox_state", SandboxState)
"""The application's store."""

RECORD_KEY = web.RequestKey("b2b_sandbox_record", RequestRecord)
"""The record of the request being served."""
