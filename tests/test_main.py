"""``b2b_async.__main__``: ``python -m b2b_async`` runs the command line, or says how to get it.

The ``cli`` extra is installed wherever the tests run; its absence is simulated by hiding a
module from the import system, never by uninstalling it.
"""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from importlib.machinery import ModuleSpec
from pathlib import Path

import pytest

import b2b_async.__main__
import b2b_async._cli  # imported here, for tests to take it out of sys.modules
from b2b_async.__main__ import EXTRA_MODULES, INSTALL_HINT, check_cli_extra

real_find_spec = importlib.util.find_spec


def write_orders(path: Path, count: int) -> Path:
    """A CSV of ``count`` orders in the columns ``orders register`` reads."""
    rows = (f"1,1,BC{index:04d},10.50,PO-{index}\n" for index in range(count))
    header = "company_id,customer_id,order_id,total_inc_tax,po_number\n"
    path.write_text(header + "".join(rows), encoding="utf-8")
    return path


def hide(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    """Make ``importlib.util.find_spec`` find no module named ``missing``."""

    def find_spec(name: str, package: str | None = None) -> ModuleSpec | None:
        return None if name == missing else real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


# --- check_cli_extra -----------------------------------------------------------------------


def test_check_cli_extra_finds_every_module_of_the_installed_extra() -> None:
    """Each name it looks up is one the installed extra provides: it raises nothing."""
    check_cli_extra()


@pytest.mark.parametrize("missing", EXTRA_MODULES)
def test_check_cli_extra_names_the_missing_module(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    """A module of the extra that cannot be found is a ModuleNotFoundError naming it."""
    hide(monkeypatch, missing)
    with pytest.raises(ModuleNotFoundError, match=f"No module named '{missing}'") as info:
        check_cli_extra()
    assert info.value.name == missing


def test_check_cli_extra_imports_neither_click_nor_rich_s_modules() -> None:
    """Looking the extra up leaves click and every rich module it names unimported."""
    code = (
        "import json, sys\n"
        "from b2b_async.__main__ import check_cli_extra\n"
        "check_cli_extra()\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    command = [sys.executable, "-c", code]
    done = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
    assert set(json.loads(done.stdout)) & set(EXTRA_MODULES) == set()


# --- main ----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def stop_signals_restored() -> Iterator[None]:
    """main() leaves SIGINT and SIGTERM ignored for the interpreter's exit: put the test
    process's own handlers back after each test."""
    received_signals = (signal.SIGINT, signal.SIGTERM)
    previous = {received: signal.getsignal(received) for received in received_signals}
    yield
    for received, handler in previous.items():
        signal.signal(received, handler)


def test_main_leaves_sigint_and_sigterm_ignored_once_the_command_has_ended(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The command has set its exit code: a signal as the interpreter exits changes nothing."""
    monkeypatch.setattr(sys, "argv", ["b2b-async", "--version"])
    with pytest.raises(SystemExit):
        b2b_async.__main__.main()
    assert signal.getsignal(signal.SIGINT) == signal.getsignal(signal.SIGTERM) == signal.SIG_IGN


@pytest.mark.parametrize("missing", ["click", "rich.console", "rich.progress"])
def test_main_without_the_cli_extra_prints_the_install_hint(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], missing: str
) -> None:
    """Without click or rich, python -m b2b_async says how to install them and exits 2."""
    monkeypatch.delitem(sys.modules, "b2b_async._cli")
    monkeypatch.setitem(sys.modules, missing, None)
    with pytest.raises(SystemExit) as exit_info:
        b2b_async.__main__.main()
    assert exit_info.value.code == 2
    assert b2b_async.__main__.INSTALL_HINT in capsys.readouterr().err


@pytest.mark.parametrize("missing", EXTRA_MODULES)
def test_main_prints_only_the_hint_when_a_module_of_the_extra_is_not_found(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], missing: str
) -> None:
    """One line on standard error names the extra and the pip command; nothing else shows."""
    hide(monkeypatch, missing)
    with pytest.raises(SystemExit) as exit_info:
        b2b_async.__main__.main()
    out, err = capsys.readouterr()
    assert exit_info.value.code == 2
    assert (out, err) == ("", f"b2b-async: {INSTALL_HINT}\n")
    assert "pip install 'b2b-async[cli]'" in err


@pytest.mark.parametrize("name", ["rich", "rich.live"])
def test_main_takes_any_rich_module_for_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    """rich itself or any module under it, missing at import, is met with the hint."""

    def missing() -> None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)

    monkeypatch.setattr(b2b_async.__main__, "check_cli_extra", missing)
    with pytest.raises(SystemExit) as exit_info:
        b2b_async.__main__.main()
    assert exit_info.value.code == 2
    assert INSTALL_HINT in capsys.readouterr().err


@pytest.mark.parametrize("name", ["richer", "clicks", "b2b_async._cli", None])
def test_main_does_not_take_a_lookalike_module_for_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str | None
) -> None:
    """An import error about any other module, or none named, is raised as it is."""
    error = ImportError(f"cannot import {name!r}", name=name)

    def failing() -> None:
        raise error

    monkeypatch.setattr(b2b_async.__main__, "check_cli_extra", failing)
    with pytest.raises(ImportError) as info:
        b2b_async.__main__.main()
    assert info.value is error
    assert INSTALL_HINT not in capsys.readouterr().err


def test_main_reraises_other_import_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An ImportError that is not about the cli extra is not hidden behind the hint."""
    orders = write_orders(tmp_path / "orders.csv", 1)
    monkeypatch.setattr(sys, "argv", ["b2b-async", "orders", "register", str(orders)])
    monkeypatch.delitem(sys.modules, "b2b_async._cli")
    monkeypatch.setitem(sys.modules, "b2b_async._journal", None)
    with pytest.raises(ImportError, match="_journal"):
        b2b_async.__main__.main()


def test_main_runs_the_command_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the cli extra, main() (python -m b2b_async, the b2b-async script) runs the group."""
    monkeypatch.setattr(sys, "argv", ["b2b-async", "--version"])
    with pytest.raises(SystemExit) as exit_info:
        b2b_async.__main__.main()
    assert exit_info.value.code == 0
    assert "version" in capsys.readouterr().out
