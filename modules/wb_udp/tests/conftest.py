"""Fixtures of the wb-udp tests: child processes (a datagram sender) and waiting inside gevent.

Each fixture is the helper function of its name (``start_sender(port, count, *args)`` ...): test
modules import no helper by file name, so any set of packages' tests collects in one pytest run.
Pipelines are built with :func:`wishbone.testing.bootstrap`.
"""

from __future__ import annotations

import pathlib
import select
import subprocess
import sys
import time
from collections.abc import Callable

import gevent
import pytest

SENDER = str(pathlib.Path(__file__).parent / "udp_sender.py")


def _start_sender(port: int, count: int, *args: str) -> subprocess.Popen:
    """Start udp_sender.py in its own process."""
    cmd = [sys.executable, SENDER, str(port), str(count), *args]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_process(proc: subprocess.Popen, deadline: float) -> str:
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


def _wait_until(condition: Callable[[], bool], deadline: float, what: str) -> None:
    """Yield to the hub until *condition()* holds, or fail after *deadline* seconds."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline}s waiting for {what}")
        gevent.sleep(0.01)


def _read_line(proc: subprocess.Popen, deadline: float) -> str:
    """One line of *proc*'s stdout, within *deadline* seconds (blocking the whole process)."""
    ready, _, _ = select.select([proc.stdout], [], [], deadline)
    if not ready:
        proc.kill()
        raise AssertionError(f"{proc.args} printed nothing within {deadline}s")
    return proc.stdout.readline()


@pytest.fixture
def start_sender():
    """``start_sender(port, count, *args) -> Popen``: udp_sender.py in its own process."""
    return _start_sender


@pytest.fixture
def wait_process():
    """``wait_process(proc, deadline) -> stdout``: wait cooperatively; fail on timeout or a non-zero exit."""
    return _wait_process


@pytest.fixture
def wait_until():
    """``wait_until(condition, deadline, what)``: yield to the hub until it holds; fail after *deadline* s."""
    return _wait_until


@pytest.fixture
def read_line():
    """``read_line(proc, deadline) -> str``: one line of a child's stdout, or fail."""
    return _read_line


@pytest.fixture(params=["recvmmsg", "recvfrom"])
def udp_reader(request, monkeypatch):
    """The test twice: udp_in reading a batch per ``recvmmsg`` (Linux), and one ``recvfrom`` per datagram.

    The second is what :mod:`wishbone.datagrams` does where ``recvmmsg`` is missing (not Linux).
    """
    from wishbone import datagrams

    if request.param == "recvfrom":
        monkeypatch.setattr(datagrams, "available", lambda: False)
    elif not datagrams.available():
        pytest.skip("recvmmsg is Linux only")
    return request.param
