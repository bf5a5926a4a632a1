"""Every package in the monorepo, tested against the local core.

Packages are discovered: ``core`` and every ``modules/*/pyproject.toml``. A new module
package is tested by being there. ``nox`` runs the default sessions (lint, one test
session per package, the cross-package tests); ``nox -s build`` fills ``dist/``.
"""

from __future__ import annotations

import os
import pathlib

import nox

ROOT = pathlib.Path(__file__).parent
MODULES = sorted(p.parent.name for p in ROOT.glob("modules/*/pyproject.toml"))
PYTEST = ["pytest", "-p", "no:cacheprovider"]

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "core", "modules", "integration"]
nox.options.error_on_missing_interpreters = True


def install_local(session: nox.Session, *packages: str) -> None:
    """Install the local core (with its test extras) and *packages* from this tree."""
    session.install("-e", f"{ROOT / 'core'}[test]", *[arg for p in packages for arg in ("-e", str(ROOT / p))])


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole tree."""
    session.install("ruff>=0.5")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def core(session: nox.Session) -> None:
    """The core's own tests."""
    install_local(session)
    session.run(*PYTEST, "core/tests", *session.posargs)


@nox.session
@nox.parametrize("package", MODULES, ids=MODULES)
def modules(session: nox.Session, package: str) -> None:
    """One module package's tests, against the local core."""
    install_local(session, f"modules/{package}")
    session.run(*PYTEST, f"modules/{package}/tests", *session.posargs)


@nox.session
def integration(session: nox.Session) -> None:
    """Cross-package tests: the real CLI, every package installed together."""
    install_local(session, *[f"modules/{p}" for p in MODULES])
    session.install("cookiecutter>=2.5")
    session.run(*PYTEST, "tests", *session.posargs)


@nox.session
def build(session: nox.Session) -> None:
    """A wheel and an sdist of every package into dist/."""
    session.install("build>=1.0")
    dist = ROOT / "dist"
    for package in ["core", *[f"modules/{p}" for p in MODULES]]:
        session.run("python", "-m", "build", "--outdir", str(dist), str(ROOT / package))


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark, each next to its bare-gevent baseline (prints events/s)."""
    install_local(session, *[f"modules/{p}" for p in MODULES])
    for script in sorted((ROOT / "bench").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs, env={"PYTHONHASHSEED": "0", **os.environ})
