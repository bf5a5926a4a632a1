"""Helpers for the wb-udp tests: pipelines from a compact description, free ports, child processes."""

from __future__ import annotations

import pathlib
import select
import socket
import subprocess
import sys
import time
from collections.abc import Callable

import gevent
from wishbone import Pipeline

HERE = pathlib.Path(__file__).parent
SENDER = str(HERE / "udp_sender.py")
WORKER = str(HERE / "udp_worker.py")


def build(modules: dict, routes: dict) -> Pipeline:
    """A pipeline from ``{"name": ("module", {variables})}`` and a routing table."""
    doc = {
        "bootstrap": {name: {"module": m, "variables": v} for name, (m, v) in modules.items()},
        "routingtable": routes,
    }
    return Pipeline.from_dict(doc)


def free_port() -> int:
    """A UDP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_sender(port: int, count: int, *args: str) -> subprocess.Popen:
    """Start udp_sender.py in its own process."""
    cmd = [sys.executable, SENDER, str(port), str(count), *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_process(proc: subprocess.Popen, deadline: float) -> str:
    """Wait (cooperatively) for *proc* to exit within *deadline* seconds; return its stdout."""
    end = time.monotonic() + deadline
    while proc.poll() is None:
        if time.monotonic() > end:
            proc.kill()
            raise AssertionError(f"{proc.args} did not finish within {deadline}s")
        gevent.sleep(0.02)
    out, err = proc.communicate(timeout=5)
    assert proc.returncode == 0, err
    return out


def wait_until(condition: Callable[[], bool], deadline: float, what: str) -> None:
    """Yield to the hub until *condition()* holds, or fail after *deadline* seconds."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline}s waiting for {what}")
        gevent.sleep(0.01)


def read_line(proc: subprocess.Popen, deadline: float) -> str:
    """One line of *proc*'s stdout, within *deadline* seconds (blocking the whole process)."""
    ready, _, _ = select.select([proc.stdout], [], [], deadline)
    if not ready:
        proc.kill()
        raise AssertionError(f"{proc.args} printed nothing within {deadline}s")
    return proc.stdout.readline()
