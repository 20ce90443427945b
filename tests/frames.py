"""What a traceback shows of its frames' local variables, for the tests that keep secrets
out of them: ``pytest --showlocals``, an error tracker that captures frame variables and
rich's ``show_locals`` render every local of every frame of an error's whole chain."""

from __future__ import annotations

import traceback
from collections.abc import Iterator


def chain(error: BaseException) -> Iterator[BaseException]:
    """The error, then every cause and context, suppressed ones included."""
    seen: set[int] = set()
    queue: list[BaseException | None] = [error]
    while queue:
        current = queue.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        queue += [current.__cause__, current.__context__]


def frame_locals(error: BaseException) -> Iterator[tuple[str, object]]:
    """Every frame local in the tracebacks of ``error``'s whole chain, each with where it is:
    ``"<error type>: <function>.<name>"``."""
    for link in chain(error):
        tb = link.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            for name, value in frame.f_locals.items():
                yield f"{type(link).__name__}: {frame.f_code.co_name}.{name}", value
            tb = tb.tb_next


def holders(error: BaseException, *secrets: str) -> list[str]:
    """Every frame local, in the tracebacks of ``error``'s whole chain, whose repr shows a
    secret: what a tool that captures locals would show or send."""
    return [where for where, value in frame_locals(error) if shows_a_secret(value, secrets)]


def shows_a_secret(value: object, secrets: tuple[str, ...]) -> bool:
    """Whether the repr of ``value`` shows any of ``secrets``."""
    shown = repr(value)
    return any(secret in shown for secret in secrets)


def rendered(error: BaseException) -> str:
    """The traceback as ``pytest --showlocals`` or an error tracker renders it."""
    shown = traceback.TracebackException.from_exception(error, capture_locals=True)
    return "".join(shown.format())


def bodies(error: BaseException, size: int) -> list[str]:
    """Every frame local, in the tracebacks of ``error``'s whole chain, that holds bytes of
    at least ``size``, itself or as one of its items (an answer's status, headers and body):
    what keeping the error keeps alive."""
    return [where for where, value in frame_locals(error) if holds_bytes(value, size)]


def holds_bytes(value: object, size: int) -> bool:
    """Whether ``value`` is, or directly holds as an item, bytes of at least ``size``."""
    items = value if isinstance(value, tuple | list) else (value,)
    return any(isinstance(item, bytes) and len(item) >= size for item in items)
