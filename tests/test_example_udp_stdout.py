"""examples/udp_stdout.json run as the wb-udp README says: ``echo hello | nc -u`` prints ``udp: hello``,
and a second ``wishbone debug`` of the same file is refused instead of taking part of the traffic."""

from __future__ import annotations

import select
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from wishbone.testing.cli import WISHBONE, kill_pidfile, run_cli

EXAMPLE = str(Path(__file__).parent.parent / "examples" / "udp_stdout.json")
PORT = 19283  # the example's


def read_lines(proc: subprocess.Popen, count: int, timeout: float = 10.0) -> list[str]:
    """*count* lines of *proc*'s stdout, each within *timeout* seconds."""
    lines = []
    for _ in range(count):
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        assert ready, f"no line within {timeout}s; got {lines}"
        lines.append(proc.stdout.readline())
    return lines


@pytest.fixture
def example(tmp_path):
    """The example under ``wishbone debug``, its stdout on a pipe, started."""
    pid = tmp_path / "a.pid"
    log = tmp_path / "a.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [WISHBONE, "debug", "--config", EXAMPLE, "--pid", str(pid)],
            stdout=subprocess.PIPE,
            stderr=err,
            stdin=subprocess.DEVNULL,
            text=True,
        )
    try:
        for _ in range(200):
            if "Started with pids" in log.read_text() or proc.poll() is not None:
                break
            select.select([], [], [], 0.1)
        assert proc.poll() is None and "Started with pids" in log.read_text(), log.read_text()
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        kill_pidfile(pid)


def test_echo_through_nc_prints_one_clean_line_per_line(example):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"hello\n", ("127.0.0.1", PORT))  # what `echo hello | nc -u -w0 127.0.0.1 19283` sends
        s.sendto(b"one\r\ntwo\n", ("127.0.0.1", PORT))
        s.sendto(b"\x1b[2Jbad \xff\n", ("127.0.0.1", PORT))  # not UTF-8: to failed, routed to stdout too
    assert read_lines(example, 4) == ["udp: hello\n", "udp: one\n", "udp: two\n", "udp: \\x1b[2Jbad \\xff\n"]


def test_a_second_debug_of_the_example_is_refused_naming_the_port(example, tmp_path):
    second = run_cli("debug", "--config", EXAMPLE, "--pid", str(tmp_path / "b.pid"), timeout=30)
    assert second.returncode != 0
    assert f"cannot listen on udp 127.0.0.1:{PORT}: already used by another wishbone server (pid {example.pid}" in (
        second.stderr
    )
    for i in range(20):  # from one socket each: SO_REUSEPORT would have split them
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"%d\n" % i, ("127.0.0.1", PORT))
    assert sorted(read_lines(example, 20)) == sorted(f"udp: {i}\n" for i in range(20))
