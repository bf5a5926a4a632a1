"""The monorepo checks its packages: every folder under ``modules/`` is a complete module package.

A package has a ``pyproject.toml`` requiring ``wishbone>=4,<5``, a ``README.md``, a ``py.typed``
marker, ``wishbone.*`` entry points that load (read with :mod:`importlib.metadata` from the
environment, where ``nox -s integration`` installs every package), a ``tests/test_conformance.py``
that calls ``conformance(``, and the noxfile's discovery must pick it up. A package that lacks one
fails with a line per problem saying what is missing (CONTRIBUTING.md). The checker is proven on
the template rendered into a temp dir, broken one way at a time.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(p.name for p in (ROOT / "modules").iterdir() if p.is_dir() and not p.name.startswith((".", "_")))
REQUIREMENT = {">=4", "<5"}


def nox_discovers(root: Path) -> list[str]:
    """The package names the noxfile's own discovery expression (``MODULES = ...``) finds under *root*."""
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["MODULES"]:
            return list(eval(compile(ast.Expression(node.value), "noxfile.py", "eval"), {"ROOT": root}))
    raise AssertionError("noxfile.py has no MODULES = ... discovery")


def wishbone_requirement(dependencies: list[str]) -> set[str] | None:
    """The version specifiers of the ``wishbone`` requirement, or None when there is none."""
    for dependency in dependencies:
        m = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*(\[[^\]]*\])?\s*([^;]*?)\s*(;.*)?", dependency)
        if m and m.group(1).lower() == "wishbone":
            return {s.replace(" ", "") for s in m.group(3).split(",") if s.strip()}
    return None


def calls_conformance(path: Path) -> bool:
    """Whether the test file calls ``conformance(...)`` (a real call, not a comment)."""
    tree = ast.parse(path.read_text())
    return any(
        isinstance(n, ast.Call) and getattr(n.func, "id", getattr(n.func, "attr", None)) == "conformance"
        for n in ast.walk(tree)
    )


def load_target(value: str, src: Path | None) -> object:
    """Import an entry point's ``module:attr`` (from *src* when given, else as installed)."""
    module_name, _, attr = value.partition(":")
    if src is None:
        return getattr(importlib.import_module(module_name), attr)
    top = module_name.partition(".")[0]
    sys.path.insert(0, str(src))
    try:
        return getattr(importlib.import_module(module_name), attr)
    finally:
        sys.path.remove(str(src))
        for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
            del sys.modules[name]


def entry_point_problems(project: dict, installed: bool, src: Path) -> list[str]:
    """What is wrong with the package's ``wishbone.*`` entry points."""
    from wishbone.module import Module

    declared = {
        (group, name): value
        for group, points in project.get("entry-points", {}).items()
        if group.startswith("wishbone.")
        for name, value in points.items()
    }
    if not declared:
        return ['no wishbone.* entry point ([project.entry-points."wishbone.module"] name = "package:Class")']
    problems = []
    found: dict[tuple[str, str], importlib.metadata.EntryPoint] = {}
    if installed:
        try:
            dist = importlib.metadata.distribution(project["name"])
        except importlib.metadata.PackageNotFoundError:
            return [f"{project['name']} is not installed, so its entry points cannot load (nox -s integration)"]
        found = {(ep.group, ep.name): ep for ep in dist.entry_points}
    for (group, name), value in sorted(declared.items()):
        label = f'entry point {group}:{name} = "{value}"'
        if installed and (group, name) not in found:
            problems.append(f"{label} is declared but not installed (reinstall the package)")
            continue
        try:
            obj = found[(group, name)].load() if installed else load_target(value, src)
        except Exception as exc:
            problems.append(f"{label} does not load: {type(exc).__name__}: {exc}")
            continue
        if group == "wishbone.module" and not (isinstance(obj, type) and issubclass(obj, Module)):
            problems.append(f"{label} is not a wishbone Module class: {obj!r}")
    return problems


def package_problems(package: Path, root: Path = ROOT, installed: bool = True) -> list[str]:
    """Every way *package* (a folder under ``root/modules``) falls short, one line each; [] when complete.

    *installed*: entry points are read from the installed distribution (the integration venv);
    otherwise their targets are imported from the package's ``src``.
    """
    problems = []
    pyproject = package / "pyproject.toml"
    project: dict = {}
    if not pyproject.is_file():
        problems.append("no pyproject.toml")
    else:
        project = tomllib.loads(pyproject.read_text()).get("project", {})
        specifiers = wishbone_requirement(project.get("dependencies", []))
        if specifiers != REQUIREMENT:
            got = "none" if specifiers is None else "wishbone" + ",".join(sorted(specifiers, reverse=True))
            problems.append(f'pyproject.toml must require "wishbone>=4,<5" in [project].dependencies (got {got})')
    readme = package / "README.md"
    if not readme.is_file() or not readme.read_text().strip():
        problems.append("no README.md (what it does, settings, delivery guarantee, metrics, an example)")
    if not list(package.glob("src/*/py.typed")):
        problems.append("no src/<package>/py.typed (the typing marker)")
    if project:
        problems += entry_point_problems(project, installed, package / "src")
    conformance = package / "tests" / "test_conformance.py"
    if not conformance.is_file():
        problems.append("no tests/test_conformance.py")
    elif not calls_conformance(conformance):
        problems.append("tests/test_conformance.py does not call conformance( from wishbone.testing")
    if package.name not in nox_discovers(root):
        problems.append("nox does not pick it up (its sessions run modules/*/pyproject.toml: modules(<package>))")
    return problems


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_package_is_complete(package):
    problems = package_problems(ROOT / "modules" / package)
    assert not problems, f"modules/{package} is incomplete:\n  " + "\n  ".join(problems)


def test_nox_runs_one_session_per_discovered_package():
    tree = ast.parse((ROOT / "noxfile.py").read_text())
    [session] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "modules"]
    sources = [ast.unparse(d) for d in session.decorator_list]
    assert any(s.startswith("nox.parametrize('package', MODULES") for s in sources), sources
    assert set(PACKAGES) <= set(nox_discovers(ROOT))


# ----------------------------------------------------------------------------- the checker fails
@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    """The template, rendered as a processor package into ``<tmp>/modules/wb_sample_module``."""
    pytest.importorskip("cookiecutter", reason="rendering the template needs cookiecutter")
    out = tmp_path_factory.mktemp("repo") / "modules"
    answers = ROOT / "template" / "answers" / "module.yaml"
    done = subprocess.run(
        [sys.executable, "-m", "cookiecutter", "--no-input", "--config-file", str(answers), "-o", str(out)]
        + [str(ROOT / "template")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    [package] = out.iterdir()
    return package


def _break(package: Path, how: str) -> None:
    pyproject = package / "pyproject.toml"
    if how == "requirement":
        pyproject.write_text(pyproject.read_text().replace("wishbone>=4,<5", "wishbone>=3"))
    elif how == "readme":
        (package / "README.md").unlink()
    elif how == "py.typed":
        next(package.glob("src/*/py.typed")).unlink()
    elif how == "entry point":
        text = pyproject.read_text()
        pyproject.write_text(
            re.sub(r'(\[project\.entry-points\."wishbone\.module"\]\n\w+ = ")[^"]+"', r'\1nope:Nope"', text)
        )
    elif how == "conformance":
        (package / "tests" / "test_conformance.py").write_text('"""Forgot the suite."""\n')
    elif how == "nox":
        pyproject.unlink()


BROKEN = {
    "requirement": 'must require "wishbone>=4,<5" in [project].dependencies (got wishbone>=3)',
    "readme": "no README.md",
    "py.typed": "no src/<package>/py.typed",
    "entry point": 'entry point wishbone.module:sample_module = "nope:Nope" does not load: ModuleNotFoundError',
    "conformance": "tests/test_conformance.py does not call conformance(",
    "nox": "nox does not pick it up",
}


def test_the_rendered_template_is_complete(rendered):
    assert package_problems(rendered, rendered.parent.parent, installed=False) == []


@pytest.mark.parametrize("how", list(BROKEN))
def test_a_package_missing_a_part_fails_saying_what(rendered, tmp_path, how):
    package = tmp_path / "modules" / rendered.name
    shutil.copytree(rendered, package)
    _break(package, how)
    problems = package_problems(package, tmp_path, installed=False)
    assert any(BROKEN[how] in p for p in problems), problems
    if how != "nox":  # a missing pyproject also hides its entry points and requirement
        assert len(problems) == 1, problems


@pytest.mark.parametrize("package", sorted(p.parent.name for p in ROOT.glob("modules/*/pyproject.toml")))
def test_the_readme_lists_every_package(package):
    """A user finds every package in the README's Packages table, with a link to its folder."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"[`modules/{package}`](modules/{package})" in readme, f"README.md's Packages table lacks {package}"
