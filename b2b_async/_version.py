"""The installed distribution's version, read from its metadata."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("b2b-async")
except PackageNotFoundError:  # pragma: no cover - running from a tree that is not installed
    __version__ = "0.0.0"
