"""Module packages use only the core's public API.

Every package under ``modules/`` (and the template) is read as Python source: a use of a core
object's internal members fails this test with the file, line and what to use instead. Internal
members are the queues' wiring (``source_queues``, ``destination_queues``), the ``_private``
members of the Module base classes used on ``self`` (a module setting its own ``self._errors``
would also clobber the base class's), the ``_private`` members of the core's other objects
(queues, pipeline, deliveries) used on any other object, and ``_private`` names imported from
``wishbone``. The core's built-in modules are modules like any other: their own names don't count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core" / "src" / "wishbone"
INTERNAL = {"source_queues", "destination_queues"}


def private_names(paths: list[Path]) -> set[str]:
    """Every ``_name`` *paths* define: attributes they assign and functions/methods they define."""
    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


MODULE_PRIVATE = private_names([CORE / "module.py"])
PRIVATE = private_names([p for p in CORE.rglob("*.py") if "builtin" not in p.parts])


def package_sources() -> list[Path]:
    return sorted(p for p in (ROOT / "modules").glob("*/src/**/*.py"))


def offences(path: Path) -> list[str]:
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Attribute):
            if node.attr in INTERNAL:
                found.append(f"{where}: .{node.attr} is the core's wiring; use emit/emit_batch/flush/is_routed")
            elif isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                if node.attr in MODULE_PRIVATE:
                    found.append(f"{where}: self.{node.attr} belongs to the Module base class (rename yours)")
            elif node.attr in PRIVATE:
                found.append(f"{where}: .{node.attr} is a private member of a core object")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("wishbone"):
            for alias in node.names:
                if alias.name.startswith("_"):
                    found.append(f"{where}: imports the private {node.module}.{alias.name}")
    return found


def test_there_are_packages_to_check():
    assert len(package_sources()) >= 6
    assert {"_producers", "_started", "_batch_size", "_errors"} <= MODULE_PRIVATE


@pytest.mark.parametrize("path", package_sources(), ids=lambda p: str(p.relative_to(ROOT / "modules")))
def test_uses_only_the_public_api(path):
    assert offences(path) == []


def test_the_check_catches_a_private_use(tmp_path):
    bad = ROOT / "modules" / "wb_zz_offender_probe.py"
    sample = tmp_path / "offender.py"
    sample.write_text(
        "from wishbone.module import _private_thing\n"
        "class X:\n"
        "    def f(self):\n"
        "        self.source_queues['outbox'].put(1)\n"
        "        other.pending._settle = 1\n"
        "        return self._producers\n"
    )
    assert not bad.exists()
    found = offences(sample.rename(ROOT / "modules" / "wb_zz_offender_probe.py"))
    (ROOT / "modules" / "wb_zz_offender_probe.py").unlink()
    assert len(found) == 4, found
