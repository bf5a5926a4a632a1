"""Every package in the monorepo, tested against the local core.

Packages are discovered: ``core`` and every ``modules/*/pyproject.toml``. A new module
package is tested by being there. ``nox`` runs the default sessions (lint, one test
session per package, the cross-package tests); ``nox -s build`` fills ``dist/``.
"""

from __future__ import annotations

import pathlib
import shutil
import tempfile

import nox

ROOT = pathlib.Path(__file__).parent
MODULES = sorted(p.parent.name for p in ROOT.glob("modules/*/pyproject.toml"))
PYTEST = ["pytest", "-p", "no:cacheprovider"]
TEMPLATE_KINDS = ("module", "input", "output")

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["lint", "core", "modules", "integration", "reliability", "build", "templates"]
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
    # tests/fixtures/wb_testsink: a counting sink the CLI tests read back
    install_local(session, *[f"modules/{p}" for p in MODULES], "tests/fixtures/wb_testsink")
    session.install("cookiecutter>=2.5", "ruff>=0.5")  # test_template lints what it renders
    session.run(*PYTEST, "tests", *session.posargs)


@nox.session
def reliability(session: nox.Session) -> None:
    """Faults, bad input and security (reliability/): real processes, sockets and broker, a few minutes.

    Each scenario's figures go to ``<session tmp>/reliability-results.jsonl`` (docs/reliability.md).
    """
    install_local(session, *[f"modules/{p}" for p in MODULES], "tests/fixtures/wb_testsink")
    session.install("hypothesis>=6.100")
    results = pathlib.Path(session.create_tmp()) / "reliability-results.jsonl"
    results.unlink(missing_ok=True)
    session.run(*PYTEST, "reliability", *session.posargs, env={"WB_RELIABILITY_RESULTS": str(results)})
    session.log(f"figures: {results}")


@nox.session
def soak(session: nox.Session) -> None:
    """The soaks, on demand (not run by default): a steady stream for 10 minutes each, through memory
    queues and through a durable inbox; RSS sampled every second must stay flat, the durable
    queue's disk bounded. ``nox -s soak -- 60`` runs them for 60 seconds; pytest arguments may
    follow (``nox -s soak -- 600 -k durable``: the durable one alone)."""
    seconds = session.posargs[0] if session.posargs else "600"
    install_local(session, "tests/fixtures/wb_testsink")
    session.run(*PYTEST, "-rA", "reliability/test_soak.py", *session.posargs[1:], env={"WB_SOAK_SECONDS": seconds})


@nox.session
def templates(session: nox.Session) -> None:
    """The module template: each kind rendered, tested untouched, built and listed.

    Each kind is rendered from its saved answers (template/answers/KIND.yaml) and installed
    against the local core; its tests must pass as rendered, its wheel must build, and
    ``wishbone list`` must show it once the wheel is installed.
    """
    install_local(session)
    session.install("cookiecutter>=2.5", "build[uv]>=1.2", "ruff>=0.5")
    # Outside .nox: ruff skips files under .nox, and the rendered code must be linted.
    out = pathlib.Path(tempfile.mkdtemp(prefix="wishbone-templates-"))
    try:
        for kind in TEMPLATE_KINDS:
            check_rendered(session, kind, out)
        # Rendered code meets the house style (the lint session skips template/, which is Jinja).
        rendered = [str(out / f"wb_sample_{kind}") for kind in TEMPLATE_KINDS]
        session.run("ruff", "check", "--config", str(ROOT / "pyproject.toml"), *rendered)
        session.run("ruff", "format", "--check", "--config", str(ROOT / "pyproject.toml"), *rendered)
        session.log(f"wheels: {', '.join(sorted(p.name for p in (out / 'dist').glob('*.whl')))}")
    finally:
        shutil.rmtree(out, ignore_errors=True)


def check_rendered(session: nox.Session, kind: str, out: pathlib.Path) -> None:
    """Render *kind* into *out*, run its tests, build and install its wheel, find it listed."""
    answers = ROOT / "template" / "answers" / f"{kind}.yaml"
    session.run("cookiecutter", "--no-input", "--config-file", str(answers), "-o", str(out), str(ROOT / "template"))
    package = out / f"wb_sample_{kind}"
    session.install("-e", str(package))
    with session.chdir(package):
        session.run(*PYTEST, *session.posargs)
    dist = out / "dist"
    session.run("python", "-m", "build", "--installer", "uv", "--wheel", "--outdir", str(dist), str(package))
    # The wheel, not the source tree, must carry the entry point: install it over the editable one.
    [wheel] = dist.glob(f"wb_sample_{kind}-*.whl")
    reinstall = "--reinstall" if session.venv_backend == "uv" else "--force-reinstall"
    session.install(reinstall, "--no-deps", str(wheel))
    listed = session.run("wishbone", "list", silent=True) or ""
    if f"sample_{kind}" not in listed:
        session.error(f"wishbone list does not show sample_{kind}:\n{listed}")


@nox.session
def build(session: nox.Session) -> None:
    """A wheel and an sdist of every package into dist/, then install them by name in a fresh venv."""
    session.install("build>=1.0", "uv")
    dist = ROOT / "dist"
    packages = ["core", *[f"modules/{p}" for p in MODULES]]
    for package in packages:
        session.run("python", "-m", "build", "--installer", "uv", "--outdir", str(dist), str(ROOT / package))
    # What a user does next: install the module packages by name, the core coming along as a dependency.
    venv = pathlib.Path(session.create_tmp()) / "fresh"
    shutil.rmtree(venv, ignore_errors=True)
    session.run("python", "-m", "venv", str(venv))
    names = [p.replace("_", "-") for p in MODULES]
    session.run(str(venv / "bin" / "pip"), "install", "-q", "--find-links", str(dist), *names, external=True)
    listing = session.run(str(venv / "bin" / "wishbone"), "list", external=True, silent=True)
    for expected in ("testevent", *names):
        if expected not in listing:
            session.error(f"wishbone list in a fresh venv does not show {expected}:\n{listing}")


@nox.session
def bench(session: nox.Session) -> None:
    """Every benchmark next to its same-run baseline; writes docs/performance.md (bench/run.py)."""
    install_local(session, *[f"modules/{p}" for p in MODULES])
    session.run("python", str(ROOT / "bench" / "run.py"), *session.posargs)
