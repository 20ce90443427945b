"""The package's structure: imports flow one way, private names stay private, functions stay
small, and every module has its tests where a reader looks for them.

These rules are what lets a reader follow one order from ``client.orders.create`` to the
socket and back (see ``docs/architecture.md``); each is checked on the source text, so a
change that breaks one fails here, not in review.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "b2b_async"
#: The modules an order crosses from ``client.orders.create`` to the socket and back: the
#: in-process limiter and the in-flight cap it queues for included (``redis.py``, an
#: optional limiter, keeps the general bound).
REQUEST_PATH = (
    "_v2.py",
    "_transport.py",
    "_priority.py",
    "_ratelimit.py",
    "_withdrawal.py",
    "_waking.py",
    "_protocol.py",
    "_retry.py",
    "_serde.py",
    "_routes.py",
)
#: The most lines of code (docstrings, comments and blank lines left out) of any function.
MOST_LINES = 50
#: The most lines of code of a function on the request path.
MOST_LINES_ON_REQUEST_PATH = 30
TESTS = Path(__file__).resolve().parent
#: The page that draws the layers, top to bottom.
ARCHITECTURE = TESTS.parent / "docs" / "architecture.md"
#: Modules with no test module of their own, and why.
UNTESTED_ALONE = {
    "b2b_async/_version.py": "one constant; tests/test_init.py checks the version it exports",
}


def module_name(path: Path) -> str:
    """The dotted name of a source file of the package."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported_from(name: str, node: ast.ImportFrom) -> str:
    """The absolute module an ``import from`` statement of module ``name`` reads."""
    if not node.level:
        return node.module or ""
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    base = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports(name: str) -> Iterator[tuple[str, str]]:
    """Each (module, imported name) pair that module ``name`` takes from the package."""
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.ImportFrom):
            source = imported_from(name, node)
            for alias in node.names:
                yield source, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ""


def dependencies(name: str) -> set[str]:
    """The package's modules that module ``name`` imports."""
    found = set()
    for source, imported in imports(name):
        if f"{source}.{imported}" in MODULES:
            found.add(f"{source}.{imported}")
        elif source in MODULES:
            found.add(source)
    return found - {name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """A cycle of the import graph, or ``None`` when imports flow one way."""
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return [*path[path.index(name) :], name]
        if name in done:
            return None
        for neighbour in sorted(graph[name]):
            if cycle := visit(neighbour, [*path, name]):
                return cycle
        done.add(name)
        return None

    return next(filter(None, (visit(name, []) for name in sorted(graph))), None)


def docstring_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> range:
    """The line numbers of a function's docstring (empty when it has none)."""
    first = node.body[0]
    value = first.value if isinstance(first, ast.Expr) else None
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return range(first.lineno, (first.end_lineno or first.lineno) + 1)
    return range(0)


def functions(path: Path) -> Iterator[tuple[str, int]]:
    """Each function of a file with its lines of code, docstring, comments and blanks left out."""
    source = path.read_text().splitlines()
    for node in ast.walk(ast.parse("\n".join(source))):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            doc = docstring_lines(node)
            numbers = range(node.lineno, (node.end_lineno or node.lineno) + 1)
            code = [n for n in numbers if n not in doc and source[n - 1].strip()]
            code = [n for n in code if not source[n - 1].strip().startswith("#")]
            yield f"{path.name}:{node.lineno} {node.name}", len(code)


def layers(page: str) -> list[set[str]]:
    """The modules of each row of the page's table of layers, top row first."""
    table = page.split("| layer | modules |", 1)[1].split("\n\n", 1)[0]
    rows = [line.split("|") for line in table.splitlines()[2:]]
    return [{f"b2b_async.{name}" for name in re.findall(r"`(\w+)\.py`", row[2])} for row in rows]


def test_layers_reads_the_rows_in_order() -> None:
    """The table reader on a page of two rows and a paragraph after them."""
    page = (
        "| layer | modules | what |\n|---|---|---|\n| top | `_a.py`, `b.py` | x |\n"
        "| bottom | `_c.py` | y |\n\nprose naming `_d.py`\n"
    )
    assert layers(page) == [{"b2b_async._a", "b2b_async.b"}, {"b2b_async._c"}]


def test_imports_flow_down_the_architecture_page() -> None:
    """Every module of the package's top level stands in one row of the page's table of
    layers, and imports only from its own row or the rows below it."""
    rows = layers(ARCHITECTURE.read_text())
    row_of = {name: index for index, row in enumerate(rows) for name in row}
    top_level = {
        name
        for name, path in MODULES.items()
        if path.parent == PACKAGE and path.stem not in ("__init__", "__main__")
    }
    assert sorted(top_level ^ set(row_of)) == []  # none missing, none stale
    assert sum(len(row) for row in rows) == len(row_of)  # no module in two rows
    upward = [
        f"{name} imports {used}"
        for name in sorted(top_level)
        for used in sorted(dependencies(name))
        if used in row_of and row_of[used] < row_of[name]
    ]
    assert upward == []


def test_find_cycle_finds_a_cycle() -> None:
    """The cycle finder itself reports a loop and passes a one-way graph."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle() -> None:
    """Imports inside b2b_async flow one way."""
    assert find_cycle({name: dependencies(name) for name in MODULES}) is None


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_name_crosses_modules(name: str) -> None:
    """No module imports another module's underscore name (private modules are fine)."""
    crossing = [
        f"{source}.{imported}"
        for source, imported in imports(name)
        if source.startswith("b2b_async")
        and imported.startswith("_")
        and f"{source}.{imported}" not in MODULES
        and imported != "__version__"
    ]
    assert crossing == []


def exported(name: str) -> set[str] | None:
    """The names module ``name`` lists in its ``__all__``, or ``None`` when it has none."""
    for node in ast.parse(MODULES[name].read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            return set(ast.literal_eval(node.value))
    return None


@pytest.mark.parametrize("name", sorted(MODULES))
def test_what_crosses_modules_is_exported(name: str) -> None:
    """A name one module imports from another stands in that module's ``__all__``, which a
    reader trusts to list what the rest of the package uses."""
    unlisted = [
        f"{source}.{imported}"
        for source, imported in imports(name)
        if source in MODULES
        and f"{source}.{imported}" not in MODULES
        and (names := exported(source)) is not None
        and imported not in names
    ]
    assert unlisted == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_json_internals(name: str) -> None:
    """Nothing reaches into CPython's private JSON machinery to save microseconds."""
    tree = ast.parse(MODULES[name].read_text())
    used = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    imported = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert not {"c_make_encoder", "make_scanner"} & used
    assert not {"json.scanner", "json.encoder"} & imported


def test_functions_stay_small() -> None:
    """No function is over 50 lines of code; none on the request path is over 30."""
    too_long = []
    for path in MODULES.values():
        limit = MOST_LINES_ON_REQUEST_PATH if path.name in REQUEST_PATH else MOST_LINES
        too_long += [(name, size) for name, size in functions(path) if size > limit]
    assert too_long == []


def mirror_of(path: Path) -> Path:
    """Where the tests of a source file of the package live.

    ``b2b_async/_v2.py`` is tested by ``tests/test_v2.py``, ``b2b_async/sandbox/_auth.py`` by
    ``tests/sandbox/test_auth.py``; ``__init__.py`` by ``test_init.py`` and ``__main__.py`` by
    ``test_main.py`` in the same folder.
    """
    relative = path.relative_to(PACKAGE)
    stem = relative.stem.strip("_")
    return TESTS.joinpath(*relative.parent.parts, f"test_{stem}.py")


def test_tests_of_mirrors_the_package() -> None:
    """The mapping from source file to test module, on one file of each kind."""
    expected = {
        "_v2.py": "test_v2.py",
        "redis.py": "test_redis.py",
        "__init__.py": "test_init.py",
        "__main__.py": "test_main.py",
        "sandbox/_auth.py": "sandbox/test_auth.py",
        "sandbox/__init__.py": "sandbox/test_init.py",
    }
    found = {
        source: mirror_of(PACKAGE / source).relative_to(TESTS).as_posix() for source in expected
    }
    assert found == expected


def test_every_module_has_its_test_module() -> None:
    """Tests mirror the modules they test: a reader finds a module's tests by its name."""
    missing = [
        path.relative_to(PACKAGE.parent).as_posix()
        for path in MODULES.values()
        if not mirror_of(path).is_file()
        and path.relative_to(PACKAGE.parent).as_posix() not in UNTESTED_ALONE
    ]
    assert missing == []
