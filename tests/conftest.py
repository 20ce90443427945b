"""Shared fixtures.

The ``mocked`` fixture wraps aioresponses for request-shape tests. aioresponses 0.7.9 builds
its fake responses without the ``stream_writer`` argument that aiohttp 3.14's
``ClientResponse`` requires (aioresponses issue #289), so every mocked request fails with a
``TypeError``. The fixture swaps in a ``ClientResponse`` subclass that supplies a writer
stub; ``tests/test_compat.py`` fails as soon as upstream no longer needs it, so the shim is
removed rather than forgotten.

Property tests run under a Hypothesis profile without its per-example deadline or its
"too slow" health check: both time examples by the wall clock, and on a busy machine a
scheduling pause alone can pass them. The properties assert outcomes, never durations.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses, core
from hypothesis import HealthCheck, settings

settings.register_profile(
    "loaded-machine", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("loaded-machine")


class _WriterStub:
    """Stands in for the request's stream writer of a request that was never written."""

    output_size = 0


class CompatClientResponse(aiohttp.ClientResponse):
    """A ClientResponse aioresponses 0.7.9 can construct on aiohttp 3.14."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", _WriterStub())
        super().__init__(*args, **kwargs)


def aioresponses_needs_compat() -> bool:
    """Whether aiohttp's ClientResponse requires an argument aioresponses does not pass."""
    parameter = inspect.signature(aiohttp.ClientResponse.__init__).parameters.get("stream_writer")
    return parameter is not None and parameter.default is inspect.Parameter.empty


@pytest.fixture
def mocked(monkeypatch: pytest.MonkeyPatch) -> Iterator[aioresponses]:
    """Intercept aiohttp requests with aioresponses (with the aiohttp 3.14 shim)."""
    if aioresponses_needs_compat():
        monkeypatch.setattr(core, "ClientResponse", CompatClientResponse)
    with aioresponses() as mock:
        yield mock
