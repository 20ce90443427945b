"""The package's front door: public names resolved on first use, a cheap import, a fast --help.

Which modules an import loads is checked in a fresh interpreter, since this one has long
loaded them all.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import os
import re
import subprocess
import sys
import typing
from collections.abc import Iterator
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from types import ModuleType

import attrs
import pytest

import b2b_async

INIT = Path(b2b_async.__file__)
DOCS = Path(__file__).resolve().parent.parent / "docs"
#: Modules a bare ``import b2b_async`` must leave alone: the heavy ones, and what pulls them in.
HEAVY = (
    "aiohttp",
    "cattrs",
    "b2b_async._bulk",
    "b2b_async._client",
    "b2b_async._serde",
    "b2b_async._v2_models",
    "b2b_async._v3_models",
)


def modules_loaded_by(code: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``code``."""
    report = "import json, sys; print(json.dumps(sorted(sys.modules)))"
    command = [sys.executable, "-c", f"{code}\n{report}"]
    done = subprocess.run(command, capture_output=True, text=True, check=True)  # noqa: S603
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_import_loads_none_of_the_heavy_modules() -> None:
    """``import b2b_async`` alone imports neither aiohttp nor the models, bulk or converter."""
    assert modules_loaded_by("import b2b_async") & set(HEAVY) == set()


def test_first_access_loads_only_what_the_name_needs() -> None:
    """Reading one light public name loads its module and not the client."""
    loaded = modules_loaded_by("import b2b_async; b2b_async.RateLimit; b2b_async.B2BError")
    assert {"b2b_async._config", "b2b_async._exceptions"} <= loaded
    assert loaded & set(HEAVY) == set()


def test_help_imports_neither_the_client_nor_rich() -> None:
    """``b2b-async --help`` draws its text without aiohttp, the journal or rich's console."""
    code = (
        "import sys, contextlib, io\n"
        "from b2b_async.__main__ import main\n"
        "sys.argv = ['b2b-async', 'orders', 'register', '--help']\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    main()"
    )
    loaded = modules_loaded_by(code)
    assert loaded & {*HEAVY, "b2b_async._journal", "rich.console", "rich.progress"} == set()


def test_every_public_name_resolves_and_is_documented() -> None:
    """Each name of __all__ resolves, has a docstring, and the docs name it."""
    documentation = " ".join(page.read_text(encoding="utf-8") for page in DOCS.glob("*.md"))
    for name in set(b2b_async.__all__) - {"__version__"}:
        value = getattr(b2b_async, name)
        assert value.__doc__, name
        assert re.search(rf"b2b_async\.{name}\b", documentation), name
    assert isinstance(b2b_async.__version__, str)


#: The modules whose public names the API reference documents.
DOCUMENTED_MODULES = ("b2b_async", "b2b_async.redis", "b2b_async.sandbox", "b2b_async.otel")


def public_docstrings() -> Iterator[tuple[str, str, str]]:
    """(name, docstring, kind) of every documented function, class, method and property,
    the kind as the documentation's Google-style reader takes it."""
    seen: set[int] = set()
    for module in map(importlib.import_module, DOCUMENTED_MODULES):
        for name in module.__all__:
            value = getattr(module, name)
            if id(value) in seen or not callable(value):
                continue
            seen.add(id(value))
            yield f"{module.__name__}.{name}", value.__doc__ or "", "class"
            members = vars(value).items() if isinstance(value, type) else ()
            for attribute, member in members:
                if isinstance(member, property) and not attribute.startswith("_"):
                    yield f"{name}.{attribute}", member.__doc__ or "", "property"
                elif inspect.isfunction(member) and not attribute.startswith("_"):
                    yield f"{name}.{attribute}", member.__doc__ or "", "method"


def test_no_docstring_sentence_is_rendered_as_a_type() -> None:
    """The reference reads a property's first line ``words: more`` as ``type: text``, and
    a Returns section's ``words: more`` as a return type; no docstring leaves a sentence
    for it to take so (types come from the annotations)."""
    docstring = pytest.importorskip("sphinx.ext.napoleon.docstring")
    napoleon = pytest.importorskip("sphinx.ext.napoleon")
    config = napoleon.Config(napoleon_use_rtype=True, napoleon_attr_annotations=True)
    misread = []
    for name, text, kind in public_docstrings():
        parsed = docstring.GoogleDocstring(inspect.cleandoc(text), config, what=kind, name=name)
        misread += [
            f"{name}: {line}"
            for line in parsed.lines()
            if line.startswith(":rtype:") or (kind == "property" and line.startswith(":type:"))
        ]
    assert misread == []


def test_public_classes_live_under_the_package_with_resolved_types() -> None:
    """Public classes show as ``b2b_async.Name``; attrs classes have their annotations resolved."""
    for name in b2b_async.__all__:
        value = getattr(b2b_async, name)
        if isinstance(value, type):
            assert value.__module__ == "b2b_async", name
        if isinstance(value, type) and attrs.has(value):
            assert not any(isinstance(field.type, str) for field in attrs.fields(value)), name


def test_dir_and_vars_hold_exactly_the_public_names() -> None:
    """dir() lists every public name before first use; vars() holds no other public name."""
    assert b2b_async.__all__ == sorted(b2b_async.__all__)
    assert set(b2b_async.__all__) <= set(dir(b2b_async))
    for name in b2b_async.__all__:
        getattr(b2b_async, name)
    public = {
        name
        for name, value in vars(b2b_async).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    }
    assert public == set(b2b_async.__all__) - {"__version__"}


def test_an_unknown_name_is_an_attribute_error() -> None:
    """A name the package does not export raises AttributeError, as for any module."""
    with pytest.raises(AttributeError, match="has no attribute 'NoSuchName'"):
        b2b_async.NoSuchName  # type: ignore[attr-defined]  # noqa: B018


def static_imports() -> dict[str, set[str]]:
    """The names the ``TYPE_CHECKING`` block of ``__init__.py`` imports, by module."""
    found: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(INIT.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            found.setdefault(f".{node.module}", set()).update(a.name for a in node.names)
    return found


def lazy_table() -> dict[str, set[str]]:
    """The table ``__init__.py`` resolves names with, read from its source."""
    for node in ast.walk(ast.parse(INIT.read_text(encoding="utf-8"))):
        if isinstance(node, ast.AnnAssign) and ast.unparse(node.target) == "_EXPORTS":
            assert node.value is not None
            table = ast.literal_eval(node.value)
            return {module: set(names) for module, names in table.items()}
    raise AssertionError("no _EXPORTS table in __init__.py")


def test_type_checkers_and_the_lazy_table_agree() -> None:
    """What type checkers are told each name is, is where the package imports it from."""
    assert static_imports() == lazy_table()
    assert set().union(*lazy_table().values()) == set(b2b_async.__all__)


def test_the_version_is_the_one_the_distribution_was_built_with() -> None:
    """``__version__`` is written once, and the build reads it from there."""
    assert b2b_async.__version__ == metadata.version("b2b-async")


def test_public_classes_keep_annotations_typing_can_read() -> None:
    """get_type_hints reads a class's annotations in the module its __module__ names: the
    package, which does not define Decimal or the other names they use."""
    for name in b2b_async.__all__:
        value = getattr(b2b_async, name)
        if isinstance(value, type):
            typing.get_type_hints(value)
    assert typing.get_type_hints(b2b_async.NewOrder)["total_inc_tax"] is Decimal


def test_a_program_that_imports_the_package_before_pytest_runs_clean(tmp_path: Path) -> None:
    """pytest rewrites a plugin's package and warns, an error under filterwarnings, when it
    was imported first; the package asks not to be rewritten."""
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nfilterwarnings = error\nasyncio_default_fixture_loop_scope = function\n",
        encoding="utf-8",
    )
    (tmp_path / "test_one.py").write_text("def test_one():\n    assert 1\n", encoding="utf-8")
    script = (
        "import b2b_async, pytest, sys; sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider']))"
    )
    finished = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(b2b_async.__file__).resolve().parent.parent)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "1 passed" in finished.stdout
