"""docs/architecture.md stays true: the code names it uses exist, and it names every hook and kind."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from wishbone import hookspecs
from wishbone.module import KINDS

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"
TEXT = DOC.read_text(encoding="utf-8")
NAMES = sorted(set(re.findall(r"`(wishbone(?:\.\w+)+)`", TEXT)))


def resolve(dotted: str) -> object:
    """Import the longest module prefix of *dotted*, then walk attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ModuleNotFoundError(dotted)


def test_the_doc_names_code():
    assert len(NAMES) > 15, NAMES


@pytest.mark.parametrize("dotted", NAMES)
def test_every_code_name_exists(dotted):
    resolve(dotted)


def test_every_hook_is_named_and_every_named_hook_exists():
    hooks = {name for name in dir(hookspecs) if name.startswith("wishbone_")}
    named = set(re.findall(r"`(wishbone_\w+)`", TEXT))
    assert hooks - named == set(), "hooks the doc does not name"
    assert named - hooks == set(), "hooks the doc names that do not exist"


def test_every_kind_is_in_the_table():
    for kind in KINDS:
        assert f"| `{kind}` |" in TEXT, kind
