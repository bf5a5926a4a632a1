"""The ``wishbone`` command's process model, run for real: debug, start/stop, pidfile rules, kill,
several instances, a worker restarted, and a drain on SIGTERM that loses no accepted event."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

import pytest
from wb_testsink import read_counts
from wishbone.pidfile import alive
from wishbone.testing.cli import WISHBONE, read_pids, run_cli, wait_until, write_bootstrap

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) \S.*: ")


def _stream(tmp_path: Path, interval: float = 0.01, metrics: bool = False) -> tuple[str, Path]:
    """testevent -> passthrough -> testsink; returns the bootstrap path and the sink's count file."""
    counts = tmp_path / "counts.txt"
    config = write_bootstrap(
        tmp_path / "stream.json",
        {
            "input": ("testevent", {"interval": interval}),
            "relay": ("passthrough", {}),
            "output": ("testsink", {"path": str(counts)}),
        },
        {"input.outbox": ["relay.inbox"], "relay.outbox": ["output.inbox"]},
        metrics={"enable": True, "module": "log", "interval": 600} if metrics else None,
    )
    return config, counts


def _start(config: str, pid_path: Path, log: Path, *extra: str) -> list[int]:
    result = run_cli("start", "--config", config, "--pid", str(pid_path), "--logfile", str(log), *extra, timeout=30)
    assert result.returncode == 0, result.stderr + (log.read_text() if log.exists() else "")
    pids = read_pids(pid_path)
    assert f"started with pids {', '.join(map(str, pids))}" in result.stdout
    return pids


def _children(pid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry))
    return found


def test_debug_runs_in_the_foreground_and_logs_like_the_seed(tmp_path, pid_path):
    config, counts = _stream(tmp_path)
    log = tmp_path / "debug.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [WISHBONE, "debug", "--config", config, "--pid", str(pid_path)], stderr=err, stdin=subprocess.DEVNULL
        )
        try:
            assert wait_until(lambda: counts.exists() and counts.stat().st_size > 0, 15)
            pids = read_pids(pid_path)
            assert pids[0] == proc.pid and len(pids) == 2
            proc.send_signal(signal.SIGINT)  # Ctrl-C
            assert proc.wait(timeout=20) == 0
        finally:
            proc.kill()
    text = log.read_text()
    assert all(LOG_LINE.match(line) for line in text.splitlines()), text
    assert "INFO Server: Starting wishbone in foreground." in text
    assert "INFO Instance #0:output: Started." in text
    assert "INFO Server: Instance #0 started." in text
    assert f"INFO Server: Started with pids: {pids[0]}, {pids[1]}" in text
    assert "INFO Instance #0: Drained and stopped." in text
    assert not pid_path.exists() and not alive(pids[1])
    batches, finals = read_counts(counts)
    assert finals == [batches] and batches > 0


def test_start_writes_pidfile_and_stop_drains_and_removes_it(tmp_path, pid_path):
    config, counts = _stream(tmp_path)
    log = tmp_path / "wishbone.log"
    pids = _start(config, pid_path, log)
    assert len(pids) == 2 and all(alive(p) for p in pids)
    assert _children(pids[0]) == {pids[1]}
    assert os.getsid(pids[0]) != os.getsid(0)  # detached into its own session
    assert Path(f"/proc/{pids[0]}/cwd").resolve() == Path("/")
    result = run_cli("stop", "--pid", str(pid_path), timeout=30)
    assert result.returncode == 0, result.stderr
    assert not pid_path.exists() and not any(alive(p) for p in pids)
    text = log.read_text()
    assert "Server: Starting wishbone in background." in text and "Server: Stopped (exit status 0)." in text
    batches, finals = read_counts(counts)
    assert finals == [batches]

    again = run_cli("stop", "--pid", str(pid_path))
    assert again.returncode == 1 and f"no pidfile {pid_path}: wishbone is not running" in again.stderr


def test_start_twice_is_refused(tmp_path, pid_path):
    config, _ = _stream(tmp_path, interval=0.5)
    pids = _start(config, pid_path, tmp_path / "a.log")
    second = run_cli("start", "--config", config, "--pid", str(pid_path), "--logfile", str(tmp_path / "b.log"))
    assert second.returncode == 1
    assert "already running" in second.stderr and str(pids[0]) in second.stderr
    assert read_pids(pid_path) == pids and all(alive(p) for p in pids)
    assert run_cli("stop", "--pid", str(pid_path)).returncode == 0


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait(timeout=10)
    return proc.pid


def test_a_stale_pidfile_is_cleaned(tmp_path, pid_path):
    config, _ = _stream(tmp_path, interval=0.5)
    dead = _dead_pid()
    pid_path.write_text(f"{dead}\n")
    for command in ("stop", "kill"):
        result = run_cli(command, "--pid", str(pid_path))
        assert result.returncode == 1 and "stale pidfile" in result.stderr
        assert not pid_path.exists()
        pid_path.write_text(f"{dead}\n")
    log = tmp_path / "wishbone.log"
    pids = _start(config, pid_path, log)
    assert dead not in pids
    assert f"Removed stale pidfile {pid_path} (pids {dead})." in log.read_text()
    assert run_cli("stop", "--pid", str(pid_path)).returncode == 0


def test_a_pidfile_that_is_a_symlink_is_refused(tmp_path, pid_path):
    config, _ = _stream(tmp_path, interval=0.5)
    target = tmp_path / "precious.txt"
    target.write_text("do not touch\n")
    pid_path.symlink_to(target)
    for command in (["start", "--config", config], ["debug", "--config", config], ["stop"], ["kill"]):
        result = run_cli(*command, "--pid", str(pid_path), "--logfile", str(tmp_path / "x.log"), timeout=20)
        assert result.returncode == 1, (command, result.stderr)
        assert "symbolic link" in result.stderr and "Traceback" not in result.stderr
    assert target.read_text() == "do not touch\n" and pid_path.is_symlink()


def test_garbage_in_the_pidfile_is_not_mistaken_for_stale(tmp_path, pid_path):
    config, _ = _stream(tmp_path, interval=0.5)
    pid_path.write_text("root:x:0:0\n")
    result = run_cli("start", "--config", config, "--pid", str(pid_path), "--logfile", str(tmp_path / "x.log"))
    assert result.returncode == 1 and "does not look like a pidfile" in result.stderr
    assert pid_path.read_text() == "root:x:0:0\n"


def test_kill_sends_sigkill_to_every_pid_and_removes_the_pidfile(tmp_path, pid_path):
    config, _ = _stream(tmp_path, interval=0.5)
    pids = _start(config, pid_path, tmp_path / "wishbone.log", "--instances", "2")
    result = run_cli("kill", "--pid", str(pid_path))
    assert result.returncode == 0, result.stderr
    assert not pid_path.exists()
    assert wait_until(lambda: not any(alive(p) for p in pids), 5)
    again = run_cli("kill", "--pid", str(pid_path))
    assert again.returncode == 1 and "not running" in again.stderr


def test_three_instances_are_three_workers_and_stop_ends_them_all(tmp_path, pid_path):
    config, counts = _stream(tmp_path)
    log = tmp_path / "wishbone.log"
    pids = _start(config, pid_path, log, "--instances", "3")
    parent, workers = pids[0], pids[1:]
    assert len(workers) == 3 and _children(parent) == set(workers)
    text = log.read_text()
    for k in range(3):
        assert f"Server: Instance #{k} started." in text and f"Instance #{k}:input: Started." in text
    assert run_cli("stop", "--pid", str(pid_path), timeout=30).returncode == 0
    assert not any(alive(p) for p in pids) and not pid_path.exists()
    batches, finals = read_counts(counts)
    assert len(finals) == 3 and sum(finals) == batches


def test_a_worker_that_dies_is_restarted(tmp_path, pid_path):
    config, _ = _stream(tmp_path, interval=0.5)
    log = tmp_path / "wishbone.log"
    parent, first, second = _start(config, pid_path, log, "--instances", "2")
    os.kill(second, signal.SIGKILL)
    assert wait_until(lambda: len(read_pids(pid_path)) == 3 and second not in read_pids(pid_path), 10)
    assert wait_until(lambda: "Instance #1 restarted" in log.read_text(), 10)
    _, still_first, replacement = read_pids(pid_path)
    assert still_first == first and alive(replacement) and _children(parent) == {first, replacement}
    assert f"Instance #1 (pid {second}) died unexpectedly (signal 9); restarting in 0.5 s." in log.read_text()

    os.kill(first, signal.SIGTERM)  # a worker stopped behind the parent's back drains, and is replaced too
    assert wait_until(lambda: "Instance #0 restarted" in log.read_text(), 10)
    assert f"Instance #0 (pid {first}) exited unexpectedly (status 0); restarting in 0.5 s." in log.read_text()
    pids = read_pids(pid_path)
    assert first not in pids and len(pids) == 3
    assert run_cli("stop", "--pid", str(pid_path), timeout=30).returncode == 0
    assert not any(alive(p) for p in (parent, first, replacement, *pids))


@pytest.mark.parametrize("instances", [1, 2])
def test_sigterm_during_a_stream_loses_no_accepted_event(tmp_path, pid_path, instances):
    config, counts = _stream(tmp_path, interval=0, metrics=True)
    log = tmp_path / "wishbone.log"
    pids = _start(config, pid_path, log, "--instances", str(instances))
    assert wait_until(lambda: counts.exists() and counts.stat().st_size > 2000, 15)
    os.kill(pids[0], signal.SIGTERM)
    assert wait_until(lambda: not any(alive(p) for p in pids), 20)
    assert not pid_path.exists()
    text = log.read_text()
    generated = [int(n) for n in re.findall(r"metrics: module input consumed=\d+ failed=0 generated=(\d+)", text)]
    assert len(generated) == instances, text
    batches, finals = read_counts(counts)
    assert sum(generated) > 0 and batches == sum(finals) == sum(generated)
    assert "dropped=0" in text and not re.search(r"dropped=[1-9]", text)
    assert "Server: Stopped (exit status 0)." in text


def _lingering(tmp_path: Path, delay: float) -> tuple[str, Path]:
    counts = tmp_path / "counts.txt"
    config = write_bootstrap(
        tmp_path / "linger.json",
        {"input": ("testevent", {"interval": 0.1}), "output": ("testsink", {"path": str(counts), "stop_delay": delay})},
        {"input.outbox": ["output.inbox"]},
    )
    return config, counts


def test_a_second_sigterm_forces(tmp_path, pid_path):
    config, _ = _lingering(tmp_path, delay=60)
    log = tmp_path / "wishbone.log"
    pids = _start(config, pid_path, log)
    os.kill(pids[0], signal.SIGTERM)
    assert wait_until(lambda: "Instance #0: Stopping" in log.read_text(), 10)
    os.kill(pids[0], signal.SIGTERM)
    assert wait_until(lambda: not any(alive(p) for p in pids), 10)
    text = log.read_text()
    assert "Forcing: SIGKILL to the workers (a second signal)." in text
    assert "Instance #0 exited (signal 9)." in text and "Server: Stopped (exit status 1)." in text
    assert not pid_path.exists()


def test_a_worker_outliving_the_drain_deadline_is_killed(tmp_path, pid_path):
    config, _ = _lingering(tmp_path, delay=60)
    log = tmp_path / "wishbone.log"
    with open(log, "w") as err:
        debug = subprocess.Popen(
            [WISHBONE, "debug", "--config", config, "--pid", str(pid_path), "--drain-deadline", "0.5"],
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
        try:
            assert wait_until(lambda: "Started with pids" in log.read_text(), 15)
            debug.send_signal(signal.SIGTERM)
            assert debug.wait(timeout=15) == 1  # 0.5 s deadline + the parent's 5 s margin
        finally:
            debug.kill()
    assert "Forcing: SIGKILL to the workers (the deadline passed)." in log.read_text()


def test_a_bootstrap_the_worker_cannot_build_fails_start_with_78(tmp_path, pid_path):
    config = write_bootstrap(tmp_path / "bad.json", {"input": ("testevent", {"interval": -1})}, {})
    log = tmp_path / "wishbone.log"
    result = run_cli("start", "--config", config, "--pid", str(pid_path), "--logfile", str(log), timeout=30)
    assert result.returncode == 78, result.stderr
    assert "bootstrap.input.variables: TestEvent refused its parameters" in result.stderr
    assert wait_until(lambda: not pid_path.exists(), 10)
    assert "Server: Stopped (exit status 78)." in log.read_text()


def test_a_worker_that_cannot_start_fails_start_with_1(tmp_path, pid_path):
    sink = str(tmp_path / "no" / "such" / "dir" / "counts.txt")
    config = write_bootstrap(
        tmp_path / "nodir.json",
        {"input": ("testevent", {}), "output": ("testsink", {"path": sink})},
        {"input.outbox": ["output.inbox"]},
    )
    result = run_cli("start", "--config", config, "--pid", str(pid_path), "--logfile", str(tmp_path / "w.log"))
    assert result.returncode == 1
    assert "Instance #0 failed to start: FileNotFoundError" in result.stderr and "Traceback" not in result.stderr
    assert wait_until(lambda: not pid_path.exists(), 10)


def test_workers_do_not_outlive_a_killed_parent(tmp_path, pid_path):
    config, _ = _stream(tmp_path, interval=0.5)
    parent, *workers = _start(config, pid_path, tmp_path / "wishbone.log", "--instances", "2")
    os.kill(parent, signal.SIGKILL)
    assert wait_until(lambda: not any(alive(p) for p in workers), 10)
    result = run_cli("stop", "--pid", str(pid_path))
    assert result.returncode == 1 and "stale pidfile" in result.stderr


def test_an_unwritable_log_file_is_reported_before_detaching(tmp_path, pid_path):
    config, _ = _stream(tmp_path, interval=0.5)
    result = run_cli("start", "--config", config, "--pid", str(pid_path), "--logfile", str(tmp_path / "no" / "x.log"))
    assert result.returncode == 1 and "cannot open log file" in result.stderr
    assert not pid_path.exists()


def test_ctrl_c_in_debug_reaches_every_process_and_all_drain(tmp_path, pid_path):
    config, counts = _stream(tmp_path, interval=0, metrics=True)
    log = tmp_path / "debug.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [WISHBONE, "debug", "--config", config, "--pid", str(pid_path), "--instances", "2"],
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, as a terminal's foreground job
        )
        try:
            assert wait_until(lambda: "Started with pids" in log.read_text(), 15)
            assert wait_until(lambda: counts.stat().st_size > 1000, 10)
            os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: parent and workers at once
            assert proc.wait(timeout=20) == 0, log.read_text()
        finally:
            proc.kill()
    text = log.read_text()
    assert text.count("Drained and stopped.") == 2 and "Traceback" not in text
    batches, finals = read_counts(counts)
    generated = [int(n) for n in re.findall(r"generated=(\d+)", text)]
    assert len(finals) == len(generated) == 2 and sum(finals) == batches == sum(generated) > 0


@pytest.mark.skipif(os.path.exists("/dev/log"), reason="a syslog socket exists here")
def test_syslog_without_a_syslog_socket_is_reported(tmp_path, pid_path):
    config, _ = _stream(tmp_path, interval=0.5)
    result = run_cli("start", "--config", config, "--pid", str(pid_path), "--syslog")
    assert result.returncode == 1 and "cannot open syslog (/dev/log)" in result.stderr
    assert not pid_path.exists()
