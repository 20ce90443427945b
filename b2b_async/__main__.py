"""``python -m b2b_async``: the command line, when the ``cli`` extra is installed."""

from __future__ import annotations

import importlib.util
import signal
import sys
from typing import Final

INSTALL_HINT = "the b2b-async command line needs the 'cli' extra: pip install 'b2b-async[cli]'"
#: The modules of the ``cli`` extra the command line uses. The commands import rich only
#: when they draw, so it is looked up here, without importing it, to fail early and clearly.
EXTRA_MODULES: Final = ("click", "rich.console", "rich.progress", "rich.table", "rich.text")


def main() -> None:
    """Run the command line, or say how to install it."""
    try:
        check_cli_extra()
        from ._cli import STOP_SIGNALS, cli
    except ImportError as exc:  # click or rich is missing
        if exc.name not in ("click", "rich") and not str(exc.name).startswith("rich."):
            raise
        sys.stderr.write(f"b2b-async: {INSTALL_HINT}\n")
        raise SystemExit(2) from None
    try:
        cli()
    finally:
        ignore_stop_signals(STOP_SIGNALS)


def ignore_stop_signals(signals: tuple[signal.Signals, ...]) -> None:
    """Ignore SIGINT and SIGTERM while the interpreter exits: the command has set its exit
    code, and a second Ctrl-C or a service manager's second SIGTERM arriving now would
    otherwise kill the process by that signal instead (the interpreter puts the default
    handlers back as it finishes), turning an exit code of 130 (or 0) into a death by it."""
    for received in signals:
        signal.signal(received, signal.SIG_IGN)


def check_cli_extra() -> None:
    """Find every module of the ``cli`` extra, importing none but rich's small package.

    Raises:
        ModuleNotFoundError: one of them is not installed.
    """
    for name in EXTRA_MODULES:
        if importlib.util.find_spec(name) is None:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


if __name__ == "__main__":
    main()
