"""Hot reload on the real command line: ``wishbone reload`` and SIGHUP, under load, counted exactly.

seqgen numbers every event and idsink writes each number it receives to a file, so the test
knows exactly what was accepted and what arrived, across reloads that change the processor in
the middle and add a branch.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

from wishbone.testing.cli import read_pids, run_cli, start_debug, wait_until, write_bootstrap

COUNT = 150_000


def _numbers(path: Path) -> list[int]:
    try:
        return [int(line) for line in path.read_text().split()]
    except FileNotFoundError:
        return []


def _flow(tmp_path: Path, maxsize: int = 10_000, branch: bool = False) -> str:
    modules = {
        "input": ("seqgen", {"count": COUNT, "progress": str(tmp_path / "progress")}),
        "pass": ("passthrough", {}, {"inbox": {"maxsize": maxsize}}),
        "output": ("idsink", {"path": str(tmp_path / "out.txt"), "delay": 0.002}),
    }
    routes = {"input.outbox": ["pass.inbox"], "pass.outbox": ["output.inbox"]}
    if branch:
        modules["extra"] = ("idsink", {"path": str(tmp_path / "extra.txt")})
        routes["input.outbox"] = ["pass.inbox", "extra.inbox"]
    return write_bootstrap(tmp_path / "flow.json", modules, routes)


def test_reloads_under_load_lose_nothing_and_keep_what_did_not_change(tmp_path):
    config = _flow(tmp_path)
    pid, log = tmp_path / "w.pid", tmp_path / "w.log"
    proc = start_debug(config, pid, log)
    try:
        assert wait_until(lambda: len(read_pids(pid)) == 2, 15), log.read_text()
        worker = read_pids(pid)[1]
        assert wait_until(lambda: len(_numbers(tmp_path / "out.txt")) > 5000, 20), log.read_text()
        _flow(tmp_path, maxsize=500)  # the passthrough changes
        done = run_cli("reload", "--pid", str(pid), "--config", config)
        assert done.returncode == 0, done.stderr
        assert wait_until(lambda: "Instance #0 reloaded." in log.read_text(), 20), log.read_text()
        _flow(tmp_path, maxsize=500, branch=True)  # a branch is added
        os.kill(proc.pid, signal.SIGHUP)  # SIGHUP does the same
        assert wait_until(lambda: log.read_text().count("Instance #0 reloaded.") == 2, 20), log.read_text()
        arrived_at_branch = len(_numbers(tmp_path / "out.txt"))
        assert arrived_at_branch < COUNT, "the input finished before the second reload: make it slower"
        assert read_pids(pid)[1] == worker  # reloaded in place, never restarted
        assert proc.wait(60) == 0  # seqgen finishes, the server drains and exits
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    text = log.read_text()
    assert "Reloaded: kept input, output; started pass; stopped pass." in text
    assert "Reloaded: kept input, output, pass; started extra; stopped none." in text
    assert text.count("SIGHUP: reopened log files") >= 4  # the parent and the worker, twice
    assert sorted(_numbers(tmp_path / "out.txt")) == list(range(COUNT))  # each exactly once
    extra = _numbers(tmp_path / "extra.txt")
    assert extra and extra == list(range(extra[0], COUNT))  # from the reload on, every one, in order


def test_a_file_that_does_not_load_is_refused_and_the_pipeline_goes_on(tmp_path):
    config = write_bootstrap(
        tmp_path / "b.json",
        {"input": ("testevent", {"interval": 0.01}), "output": ("testsink", {"path": str(tmp_path / "n")})},
        {"input.outbox": ["output.inbox"]},
    )
    pid, log = tmp_path / "w.pid", tmp_path / "w.log"
    proc = start_debug(config, pid, log)
    try:
        assert wait_until(lambda: "Server: Instance #0 started." in log.read_text(), 15), log.read_text()
        pids = read_pids(pid)
        Path(config).write_text(Path(config).read_text().replace('"interval": 0.01', '"interval": "fast"'))
        done = run_cli("reload", "--pid", str(pid), "--config", config)
        assert done.returncode == 78 and "bootstrap.input.variables.interval: expected float" in done.stderr
        assert "SIGHUP" not in log.read_text()  # nothing was sent
        os.kill(proc.pid, signal.SIGHUP)  # sent anyway: the parent checks the file itself
        assert wait_until(lambda: "refused the reload" in log.read_text(), 15), log.read_text()
        before = (tmp_path / "n").read_text().count("batch")
        assert wait_until(lambda: (tmp_path / "n").read_text().count("batch") > before + 5, 10)  # still flowing
        assert read_pids(pid) == pids and proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    text = log.read_text()
    assert (
        f"ERROR Server: Reload refused, the running pipeline goes on: {config}: "
        "bootstrap.input.variables.interval: expected float, got str 'fast'" in text
    )
    assert "Reloaded:" not in text


def test_workers_reload_one_at_a_time_and_an_unchanged_udp_port_stays_bound(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    def write(extra: bool) -> str:
        modules = {
            "udp": ("udp_in", {"port": port}),
            "pass": ("passthrough", {}),
            "output": ("testsink", {"path": str(tmp_path / "n")}),
        }
        routes = {"udp.outbox": ["pass.inbox"], "pass.outbox": ["output.inbox"]}
        if extra:
            modules["pass"] = ("passthrough", {}, {"inbox": {"maxsize": 100}})
        return write_bootstrap(tmp_path / "udp.json", modules, routes)

    config = write(False)
    pid, log = tmp_path / "w.pid", tmp_path / "w.log"
    proc = start_debug(config, pid, log, "--instances", "2")
    try:
        assert wait_until(lambda: len(read_pids(pid)) == 3, 15), log.read_text()
        assert wait_until(lambda: log.read_text().count("started.") >= 2, 15), log.read_text()
        workers = read_pids(pid)[1:]
        sockets = _udp_inodes(port)
        assert len(sockets) == 2  # one per worker (SO_REUSEPORT)
        write(True)
        assert run_cli("reload", "--pid", str(pid)).returncode == 0
        assert wait_until(lambda: "Reload done." in log.read_text(), 30), log.read_text()
        assert _udp_inodes(port) == sockets  # the very same sockets: never closed, never re-bound
        assert read_pids(pid)[1:] == workers
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
            for i in range(20):
                sender.sendto(b"after %d" % i, ("127.0.0.1", port))
                time.sleep(0.005)
        assert wait_until(lambda: _counted(tmp_path / "n") == 20, 10)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    lines = [line.split(" ", 3)[-1] for line in log.read_text().splitlines() if "nstance #" in line]
    order = [
        line
        for line in lines
        if line.startswith(
            ("Server: Reloading instance", "Server: Instance #0 reloaded", "Server: Instance #1 reloaded")
        )
    ]
    assert [o.split(" (")[0] for o in order] == [
        "Server: Reloading instance #0",
        "Server: Instance #0 reloaded.",
        "Server: Reloading instance #1",
        "Server: Instance #1 reloaded.",
    ]
    assert "Address already in use" not in log.read_text()


def _udp_inodes(port: int) -> list[str]:
    found = []
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            found.append(fields[9])
    return sorted(found)


def _counted(path: Path) -> int:
    try:
        return sum(int(line.split()[1]) for line in path.read_text().splitlines() if line.startswith("batch"))
    except FileNotFoundError:
        return 0
