"""docs/cli.md's example commands run as shown, and docs/graphs.md is current.

Every ``$ wishbone ...`` line of a fenced block in docs/cli.md whose files exist in this
repository is run from the repository's root; it must exit 0 and print every line shown under
it (up to the next ``$`` line or the end of the block; ``...`` lines are elisions).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from wishbone.testing.cli import WISHBONE

ROOT = Path(__file__).resolve().parents[1]
CLI_MD = ROOT / "docs" / "cli.md"


def _examples() -> list[tuple[str, list[str]]]:
    found = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", CLI_MD.read_text(encoding="utf-8"), re.S):
        current: tuple[str, list[str]] | None = None
        for line in block.splitlines():
            if line.startswith("$ "):
                current = (line[2:], [])
                found.append(current)
            elif current is not None and line.strip() and not line.strip().startswith("..."):
                current[1].append(line.rstrip())
    runnable = []
    for command, shown in found:
        words = shlex.split(command.split(" | ")[0].split(" > ")[0])
        if words[0] != "wishbone" or words[1] not in ("validate", "test", "graph", "show", "list"):
            continue  # a running server, or another program
        files = [w for w in words[2:] if ("/" in w or w.endswith((".json", ".yaml", ".yml"))) and w[0] != "-"]
        if all((ROOT / f).exists() for f in files):
            runnable.append((command, shown))
    return runnable


EXAMPLES = _examples()


def test_the_examples_of_test_and_graph_are_among_those_run():
    run = " ".join(command for command, _ in EXAMPLES)
    assert "wishbone test --config examples/demo.json examples/tests/demo.test.yaml" in run
    assert "wishbone graph --config examples/demo.json" in run


@pytest.mark.parametrize(("command", "shown"), EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_a_documented_command_runs_as_shown(command, shown):
    words = shlex.split(command.split(" | ")[0].split(" > ")[0])
    done = subprocess.run(
        [WISHBONE, *words[1:]], cwd=ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 0, done.stderr
    output = (done.stdout + done.stderr).splitlines()
    for line in shown:
        assert line in output, f"{command!r} no longer prints {line!r}"


def test_docs_graphs_md_is_current():
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "update-graphs"), "--check"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
