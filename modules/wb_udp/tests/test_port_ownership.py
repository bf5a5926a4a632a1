"""Only the workers of one server share a UDP port: real ``wishbone debug`` processes on 127.0.0.1.

Each server runs ``udp_in -> udp_out``, forwarding what it receives to a receiver socket of its
own in this test, so the test sees which server got which datagram.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from wb_udp.ownership import PortClaim, lock_dir
from wishbone.testing import free_udp_port, write_bootstrap
from wishbone.testing.cli import kill_pidfile, read_pids, run_cli, start_debug, wait_until

WORKER = str(Path(__file__).parent / "udp_worker.py")


class Receiver:
    """A plain UDP socket on 127.0.0.1 that a server forwards to."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.got: list[bytes] = []

    def drain(self, expect: int = 0, timeout: float = 5.0) -> list[bytes]:
        """Read until *expect* datagrams have come (or *timeout* passed), then until 0.2 s pass quietly."""
        deadline = time.monotonic() + timeout
        while len(self.got) < expect and time.monotonic() < deadline:
            self._read()
        while self._read():
            pass
        return self.got

    def _read(self) -> bool:
        """Read one datagram (True), or wait 0.2 s for none (False)."""
        try:
            self.got.append(self.sock.recvfrom(65535)[0])
        except TimeoutError:
            return False
        return True


@pytest.fixture
def receivers():
    made: list[Receiver] = []
    yield lambda: made.append(Receiver()) or made[-1]
    for r in made:
        r.sock.close()


def forwarder(tmp_path: Path, name: str, port: int, to: int) -> str:
    """A bootstrap file: udp_in on *port* -> udp_out to 127.0.0.1:*to*."""
    return write_bootstrap(
        tmp_path / f"{name}.json",
        {"udp": ("udp_in", {"port": port}), "out": ("udp_out", {"port": to})},
        {"udp.outbox": ["out.inbox"]},
    )


def send_from_many_sockets(port: int, count: int) -> None:
    """One datagram from each of *count* sockets: SO_REUSEPORT would spread them over every socket."""
    for i in range(count):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"%d" % i, ("127.0.0.1", port))


def started(log: Path, timeout: float = 20) -> bool:
    return wait_until(lambda: "Started with pids" in log.read_text(), timeout)


def stop(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(20)


@pytest.fixture
def cleanup():
    pidfiles: list[Path] = []
    procs: list[subprocess.Popen] = []
    yield pidfiles, procs
    for p in procs:
        if p.poll() is None:
            p.kill()
            p.wait(5)
    for path in pidfiles:
        kill_pidfile(path)


def test_a_second_server_on_the_same_port_is_refused_and_takes_no_traffic(tmp_path, receivers, cleanup):
    pidfiles, procs = cleanup
    port = free_udp_port()
    a, b = receivers(), receivers()
    pid_a, pid_b = tmp_path / "a.pid", tmp_path / "b.pid"
    pidfiles += [pid_a, pid_b]
    server_a = start_debug(forwarder(tmp_path, "a", port, a.port), pid_a, tmp_path / "a.log")
    procs.append(server_a)
    assert started(tmp_path / "a.log"), (tmp_path / "a.log").read_text()

    second = run_cli("debug", "--config", forwarder(tmp_path, "b", port, b.port), "--pid", str(pid_b), timeout=30)
    assert second.returncode != 0
    assert f"cannot listen on udp 127.0.0.1:{port}: already used by another wishbone server (pid {server_a.pid}" in (
        second.stderr
    )

    send_from_many_sockets(port, 20)
    assert sorted(a.drain(20)) == sorted(b"%d" % i for i in range(20))  # all 20, none split off
    assert b.drain() == []
    assert stop(server_a) == 0


def test_the_workers_of_one_server_share_the_port(tmp_path, receivers, cleanup):
    pidfiles, procs = cleanup
    port = free_udp_port()
    a = receivers()
    pid_a = tmp_path / "a.pid"
    pidfiles.append(pid_a)
    server = start_debug(forwarder(tmp_path, "a", port, a.port), pid_a, tmp_path / "a.log", "--instances", "2")
    procs.append(server)
    assert started(tmp_path / "a.log"), (tmp_path / "a.log").read_text()
    log = (tmp_path / "a.log").read_text()
    assert log.count(f"Listening on udp 127.0.0.1:{port}") == 2, log
    send_from_many_sockets(port, 200)
    assert len(a.drain(200)) == 200
    assert stop(server) == 0


def test_a_killed_server_is_stale_and_its_port_is_taken_over(tmp_path, receivers, cleanup):
    pidfiles, procs = cleanup
    port = free_udp_port()
    a, b = receivers(), receivers()
    pid_a, pid_b = tmp_path / "a.pid", tmp_path / "b.pid"
    pidfiles += [pid_a, pid_b]
    server_a = start_debug(forwarder(tmp_path, "a", port, a.port), pid_a, tmp_path / "a.log")
    procs.append(server_a)
    assert started(tmp_path / "a.log")
    for pid in read_pids(pid_a)[::-1]:  # worker first, then the supervisor: no clean release
        os.kill(pid, signal.SIGKILL)
    server_a.wait(10)
    claim = json.loads(Path(lock_dir(), f"udp-127.0.0.1-{port}.lock").read_text())
    assert claim["pid"] == server_a.pid  # the record of the dead server is still there

    server_b = start_debug(forwarder(tmp_path, "b", port, b.port), pid_b, tmp_path / "b.log")
    procs.append(server_b)
    assert started(tmp_path / "b.log"), (tmp_path / "b.log").read_text()
    send_from_many_sockets(port, 10)
    assert len(b.drain(10)) == 10
    assert stop(server_b) == 0
    assert Path(lock_dir(), f"udp-127.0.0.1-{port}.lock").read_text() == ""  # a clean stop clears it


def test_a_worker_being_restarted_keeps_its_servers_port(tmp_path, receivers, cleanup):
    pidfiles, procs = cleanup
    port = free_udp_port()
    a, b = receivers(), receivers()
    pid_a, pid_b = tmp_path / "a.pid", tmp_path / "b.pid"
    pidfiles += [pid_a, pid_b]
    server_a = start_debug(forwarder(tmp_path, "a", port, a.port), pid_a, tmp_path / "a.log")
    procs.append(server_a)
    assert started(tmp_path / "a.log")
    [_, worker] = read_pids(pid_a)
    os.kill(worker, signal.SIGKILL)  # nobody holds the port until the supervisor restarts it
    second = run_cli("debug", "--config", forwarder(tmp_path, "b", port, b.port), "--pid", str(pid_b), timeout=30)
    assert second.returncode != 0
    assert re.search(
        rf"udp 127.0.0.1:{port}: already used by another wishbone server \(pid {server_a.pid}", second.stderr
    )
    assert wait_until(lambda: len(read_pids(pid_a)) == 2 and read_pids(pid_a)[1] != worker, 20)
    assert wait_until(lambda: (tmp_path / "a.log").read_text().count(f"Listening on udp 127.0.0.1:{port}") == 2, 20)
    send_from_many_sockets(port, 10)
    assert len(a.drain(10)) == 10
    assert stop(server_a) == 0


def test_a_foreign_socket_on_the_port_is_refused_even_with_so_reuseport(tmp_path, receivers):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as foreign:
        foreign.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        foreign.bind(("127.0.0.1", 0))
        port = foreign.getsockname()[1]
        config = forwarder(tmp_path, "a", port, receivers().port)
        result = run_cli("debug", "--config", config, "--pid", str(tmp_path / "a.pid"), timeout=30)
    assert result.returncode != 0
    assert f"cannot listen on udp 127.0.0.1:{port}: Address already in use by another process" in result.stderr


def test_two_plain_processes_are_two_servers_unless_one_supervisor_runs_them(read_line):
    port = free_udp_port()
    first = subprocess.Popen(
        [sys.executable, WORKER, str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert read_line(first, 20).strip() == "ready"
        second = subprocess.run([sys.executable, WORKER, str(port)], capture_output=True, text=True, timeout=30)
        assert second.returncode != 0
        assert f"udp 127.0.0.1:{port}: already used by another wishbone server (pid {first.pid}" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=20)


def test_a_claim_in_this_process_is_shared_by_its_own_modules_and_cleared_by_the_last():
    port = free_udp_port()
    one, two = PortClaim(socket.AF_INET, "127.0.0.1", port), PortClaim(socket.AF_INET, "127.0.0.1", port)
    one.acquire()
    two.acquire()  # the same server (this process): shared
    path = Path(one.path)
    assert json.loads(path.read_text())["pid"] == os.getpid()
    one.release()
    assert json.loads(path.read_text())["pid"] == os.getpid()  # two still holds it
    two.release()
    assert path.read_text() == ""
    two.release()  # idempotent


def test_an_unsafe_lock_directory_is_refused(tmp_path, monkeypatch):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (tmp_path / "link").symlink_to(target)
    monkeypatch.setenv("WISHBONE_LOCK_DIR", str(tmp_path / "link"))
    with pytest.raises(OSError, match="not a directory"):
        lock_dir()
    open_dir = tmp_path / "open"
    open_dir.mkdir(mode=0o777)
    open_dir.chmod(0o777)
    monkeypatch.setenv("WISHBONE_LOCK_DIR", str(open_dir))
    with pytest.raises(OSError, match="writable by others"):
        lock_dir()
