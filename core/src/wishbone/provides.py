"""Which package provides a module that is not installed: hints for "no module X" errors.

Two hints, both read only when a lookup has already failed:

* the module is installed, but in another ``wishbone.*`` group (``show prometheus`` means
  ``--group wishbone.metrics``);
* this is a source tree of the monorepo (the core installed from ``core/``, or the working
  directory is the monorepo's root) and one of its ``modules/*/pyproject.toml`` declares the
  module: name the package and how to install it.
"""

from __future__ import annotations

import functools
import re
from importlib.metadata import entry_points
from pathlib import Path

__all__ = ["hint", "other_groups", "source_packages"]


def other_groups(name: str, group: str) -> list[str]:
    """The installed ``wishbone.*`` groups other than *group* that have a module *name*."""
    groups = {g for g in entry_points().groups if g.startswith("wishbone.") and g != group}
    return sorted(g for g in groups if any(ep.name == name for ep in entry_points(group=g)))


def _roots() -> list[Path]:
    import wishbone

    roots = []
    for candidate in (Path(wishbone.__file__).resolve().parents[3], Path.cwd()):
        if (candidate / "core" / "pyproject.toml").is_file() and (candidate / "modules").is_dir():
            if candidate not in roots:
                roots.append(candidate)
    return roots


_TABLE = re.compile(r"^\[\s*([^\]]+?)\s*\]\s*$")
_KEY = re.compile(r"^\s*\"?([A-Za-z0-9_.-]+)\"?\s*=\s*\"([^\"]*)\"")


def _entry_points_of(text: str) -> tuple[str, dict[str, list[str]]]:
    """The project name and ``{group: [names]}`` of a pyproject.toml's ``[project.entry-points.*]`` tables.

    A line reader, not a TOML parser: enough for the tables the template writes (and no
    dependency on Python 3.11's tomllib).
    """
    name, groups, table = "", {}, ""
    for line in text.splitlines():
        header = _TABLE.match(line)
        if header:
            table = header.group(1).replace("'", '"')
            continue
        key = _KEY.match(line)
        if not key:
            continue
        if table == "project" and key.group(1) == "name":
            name = key.group(2)
        elif table.startswith("project.entry-points."):
            groups.setdefault(table.removeprefix("project.entry-points.").strip('"'), []).append(key.group(1))
    return name, groups


@functools.cache
def source_packages() -> dict[tuple[str, str], tuple[str, Path]]:
    """``(group, module name) -> (distribution name, package folder)`` for every package under ``modules/``."""
    found: dict[tuple[str, str], tuple[str, Path]] = {}
    for root in _roots():
        for pyproject in sorted(root.glob("modules/*/pyproject.toml")):
            try:
                dist, groups = _entry_points_of(pyproject.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError):
                continue
            for group, names in groups.items():
                for name in names:
                    found.setdefault((group, name), (dist or pyproject.parent.name, pyproject.parent))
    return found


def hint(name: str, group: str, option: bool = False) -> str:
    """Where module *name* of *group* can be found (``"; ..."``, to append to an error), or ``""``.

    With *option* the other group is suggested as the command line's ``--group`` option.
    """
    groups = other_groups(name, group)
    if groups:
        if option:
            return f"; {name!r} is in group {', '.join(groups)}: add " + " or ".join(f"--group {g}" for g in groups)
        return f"; {name!r} is in group {' and '.join(repr(g) for g in groups)}"
    package = source_packages().get((group, name))
    if package is not None:
        dist, folder = package
        where = _relative(folder)
        return f"; it is provided by the package {dist} ({where}), not installed: pip install -e {where}"
    return ""


def _relative(folder: Path) -> str:
    try:
        return str(folder.relative_to(Path.cwd()))
    except ValueError:
        return str(folder)
