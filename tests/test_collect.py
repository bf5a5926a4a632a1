"""Every package's tests collect in one pytest run.

Each package has a ``tests/test_conformance.py``, and helpers are shared through fixtures and
installed modules, never imported by file name: with ``--import-mode=importlib`` (the root
pyproject) one process can collect any combination. This runs the real ``pytest --collect-only``
over all of them at once, in a subprocess, from the repository root (the ``pytest`` script, as
nox runs it: ``python -m pytest`` would put the root on ``sys.path`` and hide what is not importable).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_s_tests_collect_in_one_run():
    modules = sorted(p.parent for p in ROOT.glob("modules/*/pyproject.toml"))
    suites = [ROOT / "core" / "tests", *(m / "tests" for m in modules), ROOT / "tests", ROOT / "reliability"]
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "pytest"),
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            *map(str, suites),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    collected = done.stdout
    for module in modules:  # the file every package has, once each, under its own path
        conformance = (module / "tests" / "test_conformance.py").relative_to(ROOT).as_posix()
        assert f"{conformance}::" in collected, f"{conformance} was not collected:\n{collected[-3000:]}"
    assert "core/tests/test_testing_conformance.py::" in collected
