"""Every Python example of README.md and docs/*.md runs as written against a sandbox.

A page's examples run in order, in one fresh Python process and one namespace, as a reader
runs them in a session of IPython, Jupyter or ``python -m asyncio``: an example may use what
an earlier one on the same page defined, and top-level ``await`` runs on the page's event
loop. An example that calls ``asyncio.run`` is a whole program and runs as a script does.
Before the page runs, the test starts a sandbox and sets ``B2B_BASE_URL``, ``B2B_AUTH_TOKEN``
and ``B2B_STORE_HASH`` for it, which is how the examples find it.

A page's examples must also close what they open, as a reader's program has to: once they
have run and the names they defined are gone, a ``ResourceWarning`` (an unclosed aiohttp
session, say) fails the page.

An example with a ``:caption:`` naming a ``.py`` file is also written to that file, in the
page's working directory (which is on ``sys.path``), so later examples can import it.

The examples of ``docs/testing.md`` are tests of a reader's own suite: besides running as
a page, they are written out as test modules, with the page's pytest configuration, and
must pass under pytest.

An example that cannot run here is marked in the page, on the line right before its fence::

    % skip-example: serves until interrupted

(a MyST comment: visible in the source, absent from the built pages). The test lists every
skipped example with its reason, and no page may skip more than a few.

``docs/performance.md`` is generated: it must be what ``bench/results.json`` renders to; so
must ``docs/reliability.md`` be what ``docs/_generated/reliability.json`` renders to.
"""

from __future__ import annotations

import ast
import asyncio
import gc
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

import attrs
import pytest

from b2b_async.sandbox import DEFAULT_STORE_HASH, DEFAULT_TOKEN, SandboxServer
from bench.reliability_report import MODULES, render
from tests.redis_helpers import REDIS_SERVER, SKIP_REASON, RedisServer

ROOT: Final = Path(__file__).resolve().parent.parent
PAGES: Final = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
#: The page whose examples are tests of a reader's suite.
TESTING_PAGE: Final = ROOT / "docs" / "testing.md"
SKIP_MARK: Final = "% skip-example:"
#: At most this many skipped examples in the whole documentation: skipping is the exception.
MAX_SKIPPED: Final = 4
#: A page's examples together may take this long before the run is called hung.
PAGE_TIMEOUT: Final = 120.0

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>`{3,})(?P<info>[^`\n]*)$")
_PYTHON_INFO = re.compile(r"^(python|py|\{code-block\}\s+python)\s*$")
_OPTION = re.compile(r"^:(?P<name>[\w-]+):\s*(?P<value>.*)$")


@attrs.frozen
class Example:
    """One fenced Python block of a page."""

    page: Path
    line: int
    source: str
    caption: str | None = None
    skip_reason: str | None = None

    @property
    def where(self) -> str:
        """``page:line``, for test ids and messages."""
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def _fences(lines: list[str]) -> Iterator[tuple[int, int, str, str]]:
    """Yield (opening index, closing index, indent, info string) of each top-level fence."""
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        closing = _closing_fence(lines, index, opening["indent"], opening["ticks"])
        yield index, closing, opening["indent"], opening["info"].strip()
        index = closing + 1


def _closing_fence(lines: list[str], opening: int, indent: str, ticks: str) -> int:
    """The index of the fence that closes the one opened at ``opening``."""
    for index in range(opening + 1, len(lines)):
        if lines[index].strip() == ticks and lines[index].startswith(indent):
            return index
    raise ValueError(f"unclosed fence at line {opening + 1}")


def _body(block: list[str], indent: str) -> tuple[str, str | None]:
    """The source of a fence's body, its MyST options removed, and its caption if any."""
    lines = [line.removeprefix(indent) for line in block]
    caption = None
    while lines and (option := _OPTION.match(lines[0])):
        if option["name"] == "caption":
            caption = option["value"].strip()
        lines.pop(0)
    return "\n".join(lines) + "\n", caption


def _skip_reason(lines: list[str], opening: int) -> str | None:
    """The reason given by a ``% skip-example:`` line right before a fence, if any."""
    before = lines[opening - 1].strip() if opening else ""
    return before.removeprefix(SKIP_MARK).strip() if before.startswith(SKIP_MARK) else None


def examples_of(page: Path) -> list[Example]:
    """Every fenced Python example of ``page``, in reading order."""
    lines = page.read_text(encoding="utf-8").splitlines()
    examples = []
    for opening, closing, indent, info in _fences(lines):
        if _PYTHON_INFO.match(info):
            source, caption = _body(lines[opening + 1 : closing], indent)
            reason = _skip_reason(lines, opening)
            examples.append(Example(page, opening + 2, source, caption, reason))
    return examples


def run_page(page: Path) -> None:
    """Run the examples of ``page`` in order in one namespace (the child process's job)."""
    namespace: dict[str, object] = {"__name__": "__main__"}
    sys.path.insert(0, os.getcwd())
    del sys.argv[1:]  # as a script run without arguments
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with asyncio.Runner() as runner:
            for example in examples_of(page):
                if example.skip_reason is None:
                    run_example(example, namespace, runner)
        namespace.clear()  # what the reader's session still holds, when it ends
        gc.collect()
    left_open = [str(warning.message) for warning in caught]
    if left_open:
        sys.exit(f"the examples leave resources open: {left_open}")


def run_example(example: Example, namespace: dict[str, object], runner: asyncio.Runner) -> None:
    """Run one example: top-level ``await`` on the page's loop, anything else as a script."""
    if example.caption is not None and example.caption.endswith(".py"):
        _write_module(Path(example.caption), example.source)
    code = compile(example.source, example.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    if code.co_flags & inspect.CO_COROUTINE:
        runner.run(eval(code, namespace))  # noqa: S307 - the documentation's own examples
    else:
        exec(code, namespace)  # noqa: S102 - the documentation's own examples


def _write_module(path: Path, source: str, root: Path = Path()) -> None:
    """Write an example that names its file (``path``, relative to ``root``), making its
    folders packages."""
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    for folder in path.parents:
        if folder != Path():
            (root / folder / "__init__.py").touch()
    (root / path).write_text(source, encoding="utf-8")


def pages_with_examples() -> list[Path]:
    """The pages that hold at least one Python example."""
    return [page for page in PAGES if examples_of(page)]


def skipped_examples() -> list[Example]:
    """Every example marked ``% skip-example:``, across the documentation."""
    return [ex for page in PAGES for ex in examples_of(page) if ex.skip_reason is not None]


def test_the_extractor_finds_fenced_and_directive_examples(tmp_path: Path) -> None:
    """Both fence forms are found, options and captions read, skip marks honoured."""
    page = tmp_path / "page.md"
    page.write_text(
        "```python\nx = 1\n```\n\n```console\n$ ls\n```\n\n% skip-example: needs a store\n"
        "```{code-block} python\n:caption: shop/orders.py\n\ny = 2\n```\n",
        encoding="utf-8",
    )
    first, second = examples_of(page)
    assert (first.line, first.source, first.skip_reason) == (2, "x = 1\n", None)
    assert (second.caption, second.source.strip()) == ("shop/orders.py", "y = 2")
    assert second.skip_reason == "needs a store"


def test_skipped_examples_are_few_and_give_a_reason(
    record_property: Callable[[str, object], None],
) -> None:
    """Every skip mark names its reason, and there are few of them (listed in the report)."""
    skipped = skipped_examples()
    listing = "\n".join(f"{ex.where}: {ex.skip_reason}" for ex in skipped)
    record_property("skipped_examples", f"{len(skipped)} skipped:\n{listing}")
    assert all(ex.skip_reason for ex in skipped), listing
    assert len(skipped) <= MAX_SKIPPED, listing


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str | None]:
    """The URL of a redis-server for the examples that need one, or None without one."""
    if REDIS_SERVER is None:
        yield None
        return
    server = RedisServer()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def _marked(page: Path) -> object:
    """The page as a test parameter, skipped where it needs a redis-server the machine lacks."""
    marks = []
    if "REDIS_URL" in page.read_text(encoding="utf-8"):
        marks.append(pytest.mark.skipif(REDIS_SERVER is None, reason=SKIP_REASON))
    return pytest.param(page, marks=marks, id=page.name)


@pytest.mark.parametrize("page", [_marked(page) for page in pages_with_examples()])
async def test_examples_run_as_written(page: Path, tmp_path: Path, redis_url: str | None) -> None:
    """The page's Python examples run in order, unmodified, against a fresh sandbox."""
    async with SandboxServer(rate=None) as sandbox:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            str(page),
            cwd=tmp_path,
            env=_example_environment(sandbox, redis_url),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        async with asyncio.timeout(PAGE_TIMEOUT):
            output, _ = await process.communicate()
    assert process.returncode == 0, output.decode(errors="replace")


def page_suite(page: Path, folder: Path) -> int:
    """Write the page's examples into ``folder`` as a reader's test suite; return its tests.

    Examples that name their file are written to it; each other one is a test module of its
    own (``test_example_1.py``, ...); the page's TOML block is the suite's ``pyproject.toml``.
    """
    lines = page.read_text(encoding="utf-8").splitlines()
    (config,) = [
        "\n".join(lines[opening + 1 : closing])
        for opening, closing, _, info in _fences(lines)
        if info == "toml"
    ]
    (folder / "pyproject.toml").write_text(config + "\n", encoding="utf-8")
    modules = [ex for ex in examples_of(page) if ex.skip_reason is None]
    for example in modules:
        if example.caption is not None and example.caption.endswith(".py"):
            _write_module(Path(example.caption), example.source, folder)
    tests = [ex.source for ex in modules if ex.caption is None]
    for number, source in enumerate(tests, start=1):
        (folder / f"test_example_{number}.py").write_text(source, encoding="utf-8")
    return len(re.findall(r"^(?:async )?def test_", "".join(tests), flags=re.MULTILINE))


async def test_the_testing_pages_tests_pass(tmp_path: Path) -> None:
    """The tests docs/testing.md shows pass under pytest, as a reader's suite: the plugin
    found by its entry point, the page's own configuration, nothing of this project's."""
    count = page_suite(TESTING_PAGE, tmp_path)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(PAGE_TIMEOUT):
        output, _ = await process.communicate()
    text = output.decode(errors="replace")
    assert process.returncode == 0, text
    assert re.search(rf"\b{count} passed\b", text), text


def test_the_performance_page_is_what_the_benchmark_results_render_to() -> None:
    """docs/performance.md is rendered from bench/results.json, as `make bench` writes it."""
    page = pytest.importorskip("bench.page", reason="the benchmarks need the bench group")
    results = json.loads((ROOT / "bench" / "results.json").read_text(encoding="utf-8"))
    rendered = page.render(results)
    assert rendered == (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")


def test_the_performance_page_names_the_options_that_repeat_its_runs() -> None:
    """The page's latency, contention and bulk commands carry the sizes its results ran at."""
    page = pytest.importorskip("bench.page", reason="the benchmarks need the bench group")
    results = json.loads((ROOT / "bench" / "results.json").read_text(encoding="utf-8"))
    results["latency"] |= {"samples": 2000, "blocks": 10}
    results["contended"]["orders"] = 120
    results["bulk"]["repeats"] = 2
    rendered = page.render(results)
    assert "`python -m bench.latency --samples 2000 --blocks 10`" in rendered
    assert "`python -m bench.contention --orders 120`" in rendered
    assert "runs 2 times for throughput and client CPU, then once more under" in rendered
    assert "`python -m bench.bulk --repeats 2`" in rendered


def test_the_performance_page_names_the_orders_and_rounds_of_every_other_run() -> None:
    """The page's overhead, budget, comparison and urgent commands carry their sizes too."""
    page = pytest.importorskip("bench.page", reason="the benchmarks need the bench group")
    results = json.loads((ROOT / "bench" / "results.json").read_text(encoding="utf-8"))
    results["overhead"] |= {"requests_per_round": 1500, "rounds": 3}
    results["budget"]["runs"][0]["orders"] = 90
    results["comparison"]["orders"] = 70
    results["urgent"]["orders"] = 300
    results["multiprocess"] |= {"backfills": 2, "backfill_orders": 100}
    rendered = " ".join(page.render(results).split())
    assert "`python -m bench.overhead --requests 1500 --rounds 3` runs one" in rendered
    assert "`python -m bench.budget --orders 90`" in rendered
    assert "`python -m bench.budget --orders 70 --strategy client --strategy" in rendered
    assert "`python -m bench.urgent --orders 300 --latency" in rendered
    assert "`python -m bench.multiprocess urgent --orders 50`" in rendered


def _example_environment(sandbox: SandboxServer, redis_url: str | None) -> dict[str, str]:
    """The child's environment: the sandbox's URL, token and store hash, and this checkout."""
    environment = dict(os.environ)
    if redis_url is not None:
        environment["REDIS_URL"] = redis_url
    environment.update(
        B2B_BASE_URL=sandbox.url,
        B2B_AUTH_TOKEN=DEFAULT_TOKEN,
        B2B_STORE_HASH=DEFAULT_STORE_HASH,
        PYTHONPATH=os.pathsep.join([str(ROOT), environment.get("PYTHONPATH", "")]),
    )
    return environment


def test_the_reliability_page_covers_every_reliability_module() -> None:
    """The generated reliability page holds a run of every module of ``tests/reliability``,
    each under a title of its own: a module added since the last ``make reliability`` fails."""
    record = json.loads((ROOT / "docs" / "_generated" / "reliability.json").read_text())
    recorded = {Path(node.split("::")[0]).name for node in record["tests"]}
    present = {path.name for path in (ROOT / "tests" / "reliability").glob("test_*.py")}
    assert recorded == present
    assert present <= MODULES.keys()


def test_the_reliability_page_is_what_its_record_renders_to() -> None:
    """docs/reliability.md is what its record renders to, as `make reliability` writes it."""
    record = json.loads((ROOT / "docs" / "_generated" / "reliability.json").read_text())
    assert render(record) == (ROOT / "docs" / "reliability.md").read_text(encoding="utf-8")


if __name__ == "__main__":
    run_page(Path(sys.argv[1]))


def test_the_readme_and_the_makefile_name_the_oldest_python_pyproject_supports() -> None:
    """README.md's "Python 3.11+" and the Makefile's check are pyproject.toml's floor."""
    with (ROOT / "pyproject.toml").open("rb") as handle:
        floor = tomllib.load(handle)["project"]["requires-python"]
    found = re.fullmatch(r">=(\d+)\.(\d+)", floor)
    assert found is not None, floor
    major, minor = found.groups()
    assert f"Python {major}.{minor}+" in (ROOT / "README.md").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert f"sys.version_info < ({major}, {minor})" in makefile
    assert f"needs Python {major}.{minor} or newer" in makefile


def test_make_with_a_python_too_old_says_so_before_making_anything(tmp_path: Path) -> None:
    """A PYTHON older than the floor stops the set-up with a line naming it and the way out,
    and leaves no .venv behind that a later run with a newer one would trip over."""
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path)
    old = tmp_path / "python3.10"
    old.write_text('#!/bin/sh\n[ "$1" = -V ] && echo "Python 3.10.13" && exit 0\nexit 1\n')
    old.chmod(0o755)
    make = shutil.which("make")
    assert make is not None
    done = subprocess.run(  # noqa: S603 - make, the project's own Makefile
        [make, "--no-print-directory", "demo", f"PYTHON={old}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0
    assert "needs Python 3.11 or newer" in done.stderr
    assert "is Python 3.10.13" in done.stderr
    assert "PYTHON=python3.12" in done.stderr
    assert not (tmp_path / ".venv").exists()
