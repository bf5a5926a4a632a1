"""examples/udp_stdout.json run as the wb-udp README says: ``echo hello | nc -u`` prints ``udp: hello``,
and a second ``wishbone debug`` of the same file is refused instead of taking part of the traffic."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from wishbone.testing.cli import WISHBONE, kill_pidfile, run_cli

EXAMPLE = str(Path(__file__).parent.parent / "examples" / "udp_stdout.json")
PORT = 19283  # the example's


def read_lines(proc: subprocess.Popen, count: int, timeout: float = 10.0) -> list[str]:
    """*count* lines of *proc*'s stdout (read unbuffered: select sees what is left), within *timeout* s."""
    buffer = b""
    deadline = time.monotonic() + timeout
    while buffer.count(b"\n") < count:
        ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"no {count} lines within {timeout}s; got {buffer!r}"
        chunk = os.read(proc.stdout.fileno(), 65536)
        assert chunk, f"stdout closed; got {buffer!r}"
        buffer += chunk
    return [line + "\n" for line in buffer.decode().split("\n")[:-1]]


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
        proc.stdout.close()
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
