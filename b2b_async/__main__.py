"""``python -m b2b_async``: the command line, when the ``cli`` extra is installed."""

from __future__ import annotations

import sys

INSTALL_HINT = "the b2b-async command line needs the 'cli' extra: pip install 'b2b-async[cli]'"


def main() -> None:
    """Run the command line, or say how to install it."""
    try:
        from ._cli import cli
    except ImportError as exc:  # click or rich is missing
        if exc.name not in ("click", "rich") and not str(exc.name).startswith("rich."):
            raise
        sys.stderr.write(f"b2b-async: {INSTALL_HINT}\n")
        raise SystemExit(2) from None
    cli()


if __name__ == "__main__":
    main()
