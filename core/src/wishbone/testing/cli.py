"""Test the real ``wishbone`` command: run it in a subprocess, write its bootstrap file, read its pidfile.

For end-to-end tests of packages installed together (this repo's ``tests/`` and ``reliability/``
use it)::

    from wishbone.testing.cli import read_pids, run_cli, wait_until, write_bootstrap

    config = write_bootstrap(tmp_path / "b.json", {"input": ("testevent", {})}, {})
    assert run_cli("start", "--config", config, "--pid", str(pid), timeout=30).returncode == 0
    assert wait_until(lambda: len(read_pids(pid)) == 1, 10)

Every call that waits has a timeout. Nothing here needs pytest or gevent.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from wishbone.pidfile import alive
from wishbone.testing.builder import write_bootstrap  # here too: the file the command reads

__all__ = [
    "WISHBONE",
    "kill_pidfile",
    "kill_quietly",
    "read_pids",
    "run_cli",
    "start_debug",
    "wait_until",
    "write_bootstrap",
]

#: The ``wishbone`` script of the running interpreter's environment.
WISHBONE = str(Path(sys.executable).parent / "wishbone")


def run_cli(*args: str, timeout: float = 30.0, program: list[str] | None = None) -> subprocess.CompletedProcess:
    """Run ``wishbone ARGS`` (or *program* ARGS) to completion, stdin closed; text output captured.

    ``subprocess.TimeoutExpired`` after *timeout* seconds.
    """
    cmd = [*(program or [WISHBONE]), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def start_debug(config: str, pid_path: Path, log: Path, *args: str, append: bool = False) -> subprocess.Popen:
    """Start ``wishbone debug --config CONFIG --pid PID_PATH ARGS`` in the background; return the process.

    Its log (stderr) goes to *log* (truncated first unless *append*), stdout is discarded, stdin
    closed. The caller stops it and waits for it with a timeout.
    """
    with open(log, "a" if append else "w") as err:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [WISHBONE, "debug", "--config", config, "--pid", str(pid_path), *args],
            stderr=err,
            stdout=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll *predicate* until it is true (True) or *timeout* seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def read_pids(path: Path) -> list[int]:
    """The pids of a pidfile ([] if it is missing, unreadable or a symlink; words that are not pids are skipped)."""
    try:
        return [] if path.is_symlink() else [int(w) for w in path.read_text().split() if w.isdigit()]
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        return []


def kill_quietly(pid: int, sig: int) -> None:
    """Send *sig* to *pid* unless it is already gone."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def kill_pidfile(path: Path) -> None:
    """SIGKILL every live process the pidfile at *path* names (a test's cleanup)."""
    for pid in read_pids(path):
        if alive(pid):
            kill_quietly(pid, signal.SIGKILL)
