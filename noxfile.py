"""The test suite on every supported Python, and at the lowest and newest dependency versions.

``nox`` (``make matrix``) runs every session; ``nox -s tests-3.12`` runs one. Each session
installs the package with its extras and the ``test`` dependency group into a fresh virtual
environment, with uv, and runs the suite without coverage and without the contract tests:
``make test`` runs those, on the default interpreter. The interpreters are taken from pyenv
(``~/.pyenv/versions/3.1x.y``) where it has them, and from ``PATH`` otherwise.

``floors`` installs the lowest release that ``pyproject.toml`` allows of every direct
dependency (uv's ``--resolution lowest-direct``), on the oldest supported Python: the
floors are true when it passes. ``newest`` installs the newest releases, asking the index
afresh rather than trusting uv's cache, on the newest supported Python.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

PYTHONS = ["3.11", "3.12", "3.13"]
OLDEST, NEWEST = PYTHONS[0], PYTHONS[-1]
EXTRAS = ".[cli,redis]"
PYTEST_ARGS = ["-q", "-m", "not contract"]
# Prints every installed distribution and its version, so that a log shows what was tested.
SHOW_INSTALLED = (
    "from importlib import metadata; "
    "print(*sorted({f'{d.name}=={d.version}' for d in metadata.distributions()}, key=str.lower))"
)

nox.options.default_venv_backend = "uv"
nox.options.sessions = ["tests", "floors", "newest"]


def put_pyenv_interpreters_first() -> None:
    """Put the newest pyenv build of each supported version ahead of ``PATH``.

    pyenv's shims on ``PATH`` refuse a version that is not selected as the global one, so nox
    looks for ``python3.12`` in the build's own ``bin`` folder instead.
    """
    versions = Path.home() / ".pyenv" / "versions"
    found = [newest_build(versions, python) for python in PYTHONS]
    folders = [str(build / "bin") for build in found if build is not None]
    os.environ["PATH"] = os.pathsep.join([*folders, os.environ.get("PATH", "")])
    # uv must use these interpreters, never download one.
    os.environ.setdefault("UV_PYTHON_DOWNLOADS", "never")


def newest_build(versions: Path, python: str) -> Path | None:
    """The folder of the newest pyenv build of ``python`` (``3.12`` finds ``3.12.1``), if any.

    Args:
        versions: pyenv's ``versions`` folder.
        python: A ``major.minor`` version.

    Returns:
        The build's folder, or None when pyenv has no build of that version.
    """
    builds = [path for path in versions.glob(f"{python}.*") if (path / "bin" / "python").exists()]
    return max(builds, key=lambda path: release(path.name), default=None)


def release(name: str) -> tuple[int, ...]:
    """The numeric parts of a version such as ``3.12.1``, to order builds by."""
    return tuple(int(part) for part in name.split(".") if part.isdigit())


def run_suite(session: nox.Session, *install_options: str) -> None:
    """Install the package and the test group with ``install_options``, then run the suite."""
    session.install(*install_options, "-e", EXTRAS, "--group", "test")
    session.run("python", "--version")
    session.run("python", "-c", SHOW_INSTALLED)
    session.run("python", "-m", "pytest", *PYTEST_ARGS, *session.posargs)


put_pyenv_interpreters_first()


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The suite on one supported Python, with the newest compatible releases."""
    run_suite(session)


@nox.session(python=OLDEST)
def floors(session: nox.Session) -> None:
    """The suite with the lowest release of every dependency that pyproject.toml allows."""
    run_suite(session, "--resolution", "lowest-direct")


@nox.session(python=NEWEST)
def newest(session: nox.Session) -> None:
    """The suite with the newest release of every dependency, looked up afresh."""
    run_suite(session, "--resolution", "highest", "--upgrade", "--refresh")
