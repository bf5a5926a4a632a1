"""Helpers shared by the cross-package tests: run the real ``wishbone`` command, wait for things."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from wishbone.pidfile import alive

BIN = Path(sys.executable).parent
WISHBONE = str(BIN / "wishbone")


def run_cli(*args: str, timeout: float = 30.0, program: list[str] | None = None) -> subprocess.CompletedProcess:
    """Run ``wishbone ARGS`` (or *program* ARGS) to completion; text output captured."""
    cmd = [*(program or [WISHBONE]), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll *predicate* until it is true (True) or *timeout* seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def write_bootstrap(path: Path, modules: dict, routes: dict, metrics: dict | None = None) -> str:
    """Write a bootstrap file: *modules* is ``{"name": ("module", {variables})}`` (group wishbone.module)."""
    doc: dict = {
        "bootstrap": {name: {"module": m, "variables": v} for name, (m, v) in modules.items()},
        "routingtable": routes,
    }
    if metrics is not None:
        doc["metrics"] = metrics
    path.write_text(json.dumps(doc, indent=2))
    return str(path)


def read_pids(path: Path) -> list[int]:
    """The pids of a pidfile ([] if it does not exist or is a symlink; words that are not pids are skipped)."""
    try:
        return [] if path.is_symlink() else [int(w) for w in path.read_text().split() if w.isdigit()]
    except FileNotFoundError:
        return []


@pytest.fixture
def pid_path(tmp_path: Path):
    """A pidfile path in the test's temp dir; whatever it names is killed after the test."""
    path = tmp_path / "wishbone.pid"
    seen: set[int] = set()
    yield path
    seen.update(read_pids(path))
    for pid in seen:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
