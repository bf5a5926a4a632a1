"""The ``wishbone`` command's process lifecycle, run for real: a finite input ends the server with 0,
SIGHUP reopens the logs and stops nothing, a foreground run takes no pidfile unless asked, process
titles say what each process is, and the debug level says what a debugging user needs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from wishbone.pidfile import alive
from wishbone.testing.cli import WISHBONE, read_pids, run_cli, wait_until, write_bootstrap


def _counted(tmp_path: Path, count: int = 5000) -> str:
    """testevent (count, as fast as it goes) -> stdout, metrics off."""
    return write_bootstrap(
        tmp_path / "count.json",
        {"input": ("testevent", {"count": count, "interval": 0}), "output": ("stdout", {})},
        {"input.outbox": ["output.inbox"]},
    )


def _endless(tmp_path: Path, interval: float = 0.05, payload: object = "test") -> str:
    return write_bootstrap(
        tmp_path / "endless.json",
        {"input": ("testevent", {"interval": interval, "payload": payload}), "output": ("null", {})},
        {"input.outbox": ["output.inbox"]},
    )


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return sorted(found)


# --------------------------------------------------------------------------------- 12.1 a finite input
def test_a_counted_input_prints_each_event_once_and_the_server_exits_0(tmp_path):
    result = run_cli("debug", "--config", _counted(tmp_path), timeout=30)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 5000 and set(lines) == {"test"}
    err = result.stderr
    assert "LoopExit" not in err and "Traceback" not in err and "restarting" not in err
    assert "Server: Instance #0 finished (status 0); not restarted." in err
    assert "Server: Every instance has finished its work." in err
    assert "Server: Stopped (exit status 0)." in err


def test_with_two_instances_each_prints_its_events_once_and_the_server_exits_0(tmp_path, pid_path):
    result = run_cli("debug", "--config", _counted(tmp_path), "--instances", "2", "--pid", str(pid_path), timeout=30)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 10000 and set(lines) == {"test"}
    for k in (0, 1):
        assert f"Server: Instance #{k} finished (status 0); not restarted." in result.stderr
    assert "restarting" not in result.stderr and "Traceback" not in result.stderr
    assert not pid_path.exists()  # the parent removed its pidfile


def test_a_finished_daemon_exits_and_removes_its_pidfile(tmp_path, pid_path):
    log = tmp_path / "w.log"
    out = tmp_path / "out.txt"
    config = write_bootstrap(
        tmp_path / "c.json",
        {"input": ("testevent", {"count": 300, "interval": 0}), "output": ("stdout", {"path": str(out)})},
        {"input.outbox": ["output.inbox"]},
    )
    result = run_cli("start", "--config", config, "--pid", str(pid_path), "--logfile", str(log), timeout=30)
    assert result.returncode == 0, result.stderr
    assert wait_until(lambda: not pid_path.exists(), 15), log.read_text()
    assert wait_until(lambda: "Stopped (exit status 0)." in log.read_text(), 5), log.read_text()
    assert out.read_text().count("\n") == 300


# --------------------------------------------------------------------------------- 12.6 SIGHUP
def test_sighup_reopens_the_log_files_and_stops_nothing(tmp_path, pid_path):
    log = tmp_path / "w.log"
    cmd = [WISHBONE, "debug", "--config", _endless(tmp_path), "--instances", "2"]
    proc = subprocess.Popen(
        [*cmd, "--pid", str(pid_path), "--logfile", str(log)], stdin=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        assert wait_until(lambda: len(read_pids(pid_path)) == 3 and "Started with pids" in log.read_text(), 15)
        pids = read_pids(pid_path)
        log.rename(tmp_path / "w.log.1")  # logrotate, then its postrotate `kill -HUP`
        os.kill(pids[0], signal.SIGHUP)
        assert wait_until(lambda: log.exists() and log.read_text().count("SIGHUP: reopened log files") == 3, 10)
        text = log.read_text()
        assert f"INFO Server: SIGHUP: reopened log files ({log})." in text
        for k in (0, 1):
            assert f"INFO Instance #{k}: SIGHUP: reopened log files ({log})." in text
        os.kill(pids[1], signal.SIGHUP)  # a worker signalled alone (a terminal hangup reaches them all)
        assert wait_until(lambda: log.read_text().count("SIGHUP") == 4, 10)
        time.sleep(0.3)
        assert proc.poll() is None and all(alive(p) for p in pids) and read_pids(pid_path) == pids
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()
        proc.stderr.close()
    assert "Stopped (exit status 0)." in log.read_text() and not pid_path.exists()


def test_sighup_in_the_foreground_without_a_log_file_says_so(tmp_path):
    err = tmp_path / "err.txt"
    with open(err, "w") as stderr:
        proc = subprocess.Popen(
            [WISHBONE, "debug", "--config", _endless(tmp_path)], stdin=subprocess.DEVNULL, stderr=stderr
        )
    try:
        assert wait_until(lambda: "Started with pids" in err.read_text(), 15)
        proc.send_signal(signal.SIGHUP)
        assert wait_until(lambda: err.read_text().count("SIGHUP: reopened log files (none") == 2, 10)
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
    finally:
        proc.kill()


# --------------------------------------------------------------------------------- 12.8 no pidfile in debug
def test_debug_takes_no_pidfile_unless_one_is_given(tmp_path):
    env = {**os.environ, "TMPDIR": str(tmp_path)}  # where the default pidfile would be
    foreign = tmp_path / "wishbone.pid"
    foreign.write_text("999999\n")  # somebody else's stale pidfile: not ours to remove
    config = _endless(tmp_path)
    procs = []
    for k in range(2):
        with open(tmp_path / f"err{k}.txt", "w") as stderr:  # the child keeps its own descriptor
            procs.append(
                subprocess.Popen(
                    [WISHBONE, "debug", "--config", config],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=stderr,
                )
            )
    try:
        for k in range(2):
            assert wait_until(lambda k=k: "Started with pids" in (tmp_path / f"err{k}.txt").read_text(), 15)
        assert all(p.poll() is None for p in procs)  # the second foreground run was not refused
        assert sorted(p.name for p in tmp_path.glob("*.pid")) == ["wishbone.pid"]
        assert foreign.read_text() == "999999\n"
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT)
        codes = [p.wait(timeout=20) for p in procs]
    assert codes == [0, 0]


# --------------------------------------------------------------------------------- 12.15 process titles
def test_processes_are_titled_and_stop_still_finds_them(tmp_path, pid_path):
    config = _endless(tmp_path, interval=0.5)
    os.chdir(tmp_path)  # the title shows the file as it was named
    result = run_cli("start", "--config", "endless.json", "--instances", "2", "--pid", str(pid_path), timeout=30)
    assert result.returncode == 0, result.stderr
    pids = read_pids(pid_path)
    assert _cmdline(pids[0]) == "wishbone: supervisor endless.json"
    assert sorted(_cmdline(p) for p in pids[1:]) == [
        "wishbone: worker #0 endless.json",
        "wishbone: worker #1 endless.json",
    ]
    assert _children(pids[0]) == sorted(pids[1:])
    assert Path(config).exists()
    stopped = run_cli("stop", "--pid", str(pid_path), timeout=30)
    assert stopped.returncode == 0, stopped.stderr  # pidfile.runs() recognised the titled processes


def test_a_branded_server_titles_its_processes_with_its_own_name(tmp_path, pid_path):
    brokertest = [sys.executable, str(Path(__file__).resolve().parent.parent / "examples" / "brokertest")]
    config = _endless(tmp_path, interval=0.5)
    result = run_cli("start", "--config", config, "--pid", str(pid_path), program=brokertest, timeout=30)
    assert result.returncode == 0, result.stderr
    pids = read_pids(pid_path)
    assert _cmdline(pids[0]) == f"BrokerTest: supervisor {config}"
    assert _cmdline(pids[1]) == f"BrokerTest: worker #0 {config}"
    assert run_cli("stop", "--pid", str(pid_path), program=brokertest, timeout=30).returncode == 0


# --------------------------------------------------------------------------------- 12.10 log levels
def test_loglevel_is_case_insensitive_and_debug_says_what_a_debugging_user_needs(tmp_path):
    secret = {"password": "hunter2", "url": "amqp://user:s3cr3t@127.0.0.1:5672/%2F"}
    config = _endless(tmp_path, interval=0.01, payload=secret)
    err = tmp_path / "err.txt"
    with open(err, "w") as stderr:
        proc = subprocess.Popen(
            [WISHBONE, "debug", "--config", config, "--loglevel", "DEBUG"], stdin=subprocess.DEVNULL, stderr=stderr
        )
    try:
        assert wait_until(lambda: err.read_text().count("Activity of 'output'") >= 2, 15), err.read_text()
        began = time.monotonic()
        time.sleep(2.5)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        ran = time.monotonic() - began + 4.5  # generous: the first lines came within about 4 s
    finally:
        proc.kill()
    text = err.read_text()
    assert "hunter2" not in text and "s3cr3t" not in text
    assert re.search(r"DEBUG Instance #0: Module 'input': .*'testevent' \(wishbone.module\) with parameters", text)
    assert '"password": "****"' in text and "amqp://user:****@127.0.0.1:5672/%2F" in text
    assert '"interval": 0.01' in text and '"count": 0' in text  # defaults as loaded, too
    assert "DEBUG Instance #0: Route input.outbox -> output.inbox" in text
    assert "DEBUG Instance #0: Metrics: off." in text
    activity = [line for line in text.splitlines() if "Activity of 'output'" in line]
    assert re.search(r"consumed \d+; .*output.inbox in \d+ out \d+ dropped 0 size \d+", activity[-1])
    assert len(activity) <= ran / 2 + 1  # bounded: one line per module per 2 s, whatever the event rate

    for level in ("Info", "WARNING", "error"):
        assert run_cli("validate", "--config", config, "--loglevel", level).returncode == 0
    bad = run_cli("validate", "--config", config, "--loglevel", "loud")
    assert bad.returncode == 2 and "invalid choice: 'loud'" in bad.stderr
