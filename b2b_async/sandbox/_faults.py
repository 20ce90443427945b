"""Fault injection: what can go wrong with a request, how often, and the textual spec for it.

Every request under ``/api/v2/io`` or ``/api/v3/io`` draws one number from the sandbox's seeded
:class:`random.Random` when it arrives, whatever the probabilities are, so the same seed and the
same request sequence give the same faults. The draw is compared against the cumulative
probabilities in the order of :class:`FaultKind`; a draw past their sum means no fault.
"""

from __future__ import annotations

import enum
import math
from typing import Final

import attrs

__all__ = ["FaultKind", "Faults", "parse_faults", "shown_number", "wide_float"]

_NO_FAULTS = frozenset({"", "none", "off"})


class FaultKind(enum.StrEnum):
    """One way a request can go wrong; the value is the name used in the textual spec.

    - ``500``, ``503``: the API answers with that status and a JSON error envelope; nothing is
      registered.
    - ``502``, ``504``: a proxy in front of the API answers with that status and an HTML page;
      nothing is registered.
    - ``429``: a spurious rate-limit answer with ``Retry-After: 1``; nothing is registered.
    - ``latency``: the request is processed normally after an extra delay
      (:attr:`Faults.latency_seconds`).
    - ``hang``: no answer for :attr:`Faults.hang_seconds` (past any sane client timeout), then the
      connection is closed; nothing is registered. Ends early when the client gives up or the
      sandbox stops.
    - ``reset_before``: the connection is reset before the request is processed.
    - ``reset_after``: the request is processed (the order IS registered), then the connection is
      reset instead of answering.
    - ``malformed``: the request is processed, then answered with HTTP 200 and the real body cut
      in half (not JSON).
    - ``error_200``: HTTP 200 whose body is a 40010 error envelope; nothing is registered.

    .. versionadded:: 0.1.0
    """

    HTTP_500 = "500"
    HTTP_502 = "502"
    HTTP_503 = "503"
    HTTP_504 = "504"
    HTTP_429 = "429"
    LATENCY = "latency"
    HANG = "hang"
    RESET_BEFORE = "reset_before"
    RESET_AFTER = "reset_after"
    MALFORMED = "malformed"
    ERROR_200 = "error_200"

    @property
    def field(self) -> str:
        """The :class:`Faults` attribute holding this kind's probability."""
        return f"http_{self.value}" if self.value.isdigit() else self.value


def _probability(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{attribute.name} must be a probability in [0, 1], got {value!r}")


def _seconds(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{attribute.name} must be a finite number of seconds >= 0, got {value!r}")


def wide_float(value: float) -> float:
    """``value`` as a ``float``; an int past a float's range reads as an infinity, which the
    field's check then refuses by its name (``float()`` would raise a bare OverflowError)."""
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


#: The widest ``int`` a message writes out, in bits (about 60 digits).
_MAX_SHOWN_BITS: Final = 200


def shown_number(value: object) -> str:
    """``value`` as a message shows it: its ``repr``, or the width of an ``int`` too wide to
    write out (past Python's digit limit an ``int`` has no ``repr`` at all)."""
    if isinstance(value, int) and value.bit_length() > _MAX_SHOWN_BITS:
        return f"an int of {value.bit_length()} bits"
    return repr(value)


def _chance() -> float:
    return attrs.field(default=0.0, converter=wide_float, validator=_probability)


@attrs.frozen(kw_only=True)
class Faults:
    """How often each fault happens, and how long the slow ones last.

    Each probability is per request; their sum must not exceed 1, since one draw picks at most one
    fault. ``Faults()`` injects nothing. See :class:`FaultKind` for what each fault does.

    Args:
        http_500: probability of a 500 answer.
        http_502: probability of a proxy's 502 page.
        http_503: probability of a 503 answer.
        http_504: probability of a proxy's 504 page.
        http_429: probability of a spurious 429.
        latency: probability of an extra delay before a normal answer.
        hang: probability of no answer at all.
        reset_before: probability of a connection reset before processing.
        reset_after: probability of a connection reset after processing (the order is registered).
        malformed: probability of a truncated 200 body after processing.
        error_200: probability of an error envelope with HTTP 200.
        latency_seconds: the delay a ``latency`` fault adds.
        hang_seconds: how long a ``hang`` lasts before the connection is closed.

    Raises:
        ValueError: a probability outside [0, 1], probabilities summing past 1, or a negative or
            infinite duration.

    .. versionadded:: 0.1.0
    """

    http_500: float = _chance()
    http_502: float = _chance()
    http_503: float = _chance()
    http_504: float = _chance()
    http_429: float = _chance()
    latency: float = _chance()
    hang: float = _chance()
    reset_before: float = _chance()
    reset_after: float = _chance()
    malformed: float = _chance()
    error_200: float = _chance()
    latency_seconds: float = attrs.field(default=0.5, converter=wide_float, validator=_seconds)
    hang_seconds: float = attrs.field(default=60.0, converter=wide_float, validator=_seconds)

    def __attrs_post_init__(self) -> None:
        total = sum(self.probability(kind) for kind in FaultKind)
        # A little slack so that "0.1,0.2,0.7" is not refused over a float rounding error.
        if total > 1.0 + 1e-9:
            raise ValueError(f"fault probabilities sum to {total:g}, more than 1")

    def __str__(self) -> str:
        """The textual spec that :func:`parse_faults` reads back into an equal value."""
        if self == type(self)():
            return "none"
        chosen = [f"{kind.value}={p!r}" for kind in FaultKind if (p := self.probability(kind))]
        durations = [f"{name}={getattr(self, name)!r}" for name in _DURATIONS]
        return ",".join(chosen + durations)

    def probability(self, kind: FaultKind) -> float:
        """The probability of one fault kind.

        Args:
            kind: the fault.

        Returns:
            Its probability per request.
        """
        value: float = getattr(self, kind.field)
        return value

    def pick(self, draw: float) -> FaultKind | None:
        """Turn one uniform draw in [0, 1) into the fault it selects, if any.

        Args:
            draw: a number from :meth:`random.Random.random`.

        Returns:
            The fault, or ``None`` when the draw falls past every probability.
        """
        ceiling = 0.0
        for kind in FaultKind:
            ceiling += self.probability(kind)
            if draw < ceiling:
                return kind
        return None


_DURATIONS = ("latency_seconds", "hang_seconds")
_KEYS = {kind.value: kind.field for kind in FaultKind} | {name: name for name in _DURATIONS}


def _parse_item(item: str) -> tuple[str, float]:
    key, equals, value = item.partition("=")
    key = key.strip().lower()
    if not equals:
        raise ValueError(f"{item.strip()!r}: expected KIND=PROBABILITY or NAME_seconds=SECONDS")
    if key not in _KEYS:
        raise ValueError(f"unknown fault {key!r}; expected one of {', '.join(_KEYS)}")
    try:
        return _KEYS[key], float(value)
    except ValueError:
        raise ValueError(f"{key}: {value.strip()!r} is not a number") from None


def parse_faults(text: str) -> Faults:
    """Parse a textual fault spec such as ``"500=0.05,reset_after=0.02,latency=0.1"``.

    The spec is a comma-separated list of ``KIND=PROBABILITY`` items, KIND being a
    :class:`FaultKind` value (``500``, ``502``, ``503``, ``504``, ``429``, ``latency``, ``hang``,
    ``reset_before``, ``reset_after``, ``malformed``, ``error_200``), plus optional
    ``latency_seconds=S`` and ``hang_seconds=S``. An empty spec, ``none`` or ``off`` means no
    faults. Each key may appear once.

    Args:
        text: the spec.

    Returns:
        The faults.

    Raises:
        ValueError: an unknown kind, a repeated key, a value that is not a number, or values out
            of range; the message names the culprit.

    .. versionadded:: 0.1.0
    """
    if text.strip().lower() in _NO_FAULTS:
        return Faults()
    values: dict[str, float] = {}
    for item in text.split(","):
        field, value = _parse_item(item)
        if field in values:
            raise ValueError(f"fault spec {text!r}: {item.strip()!r} repeats a key")
        values[field] = value
    try:
        return Faults(**values)
    except ValueError as exc:
        raise ValueError(f"fault spec {text!r}: {exc}") from exc
