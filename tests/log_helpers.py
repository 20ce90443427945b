"""Reading the client's log in tests."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

# The end of the line the client logs as it schedules a retry: "...; next attempt in 0.25 s".
_NEXT_ATTEMPT = re.compile(r"; next attempt in ([0-9.]+) s$")


def planned_waits(records: Iterable[logging.LogRecord]) -> list[float]:
    """The seconds before each retry, as the client's retry log lines plan them (to 0.01 s)."""
    return [
        float(found.group(1))
        for record in records
        if (found := _NEXT_ATTEMPT.search(record.getMessage()))
    ]
