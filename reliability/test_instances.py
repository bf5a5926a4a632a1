"""``--instances 3``: a worker killed with SIGKILL is logged and replaced by the parent."""

from __future__ import annotations

import os
import signal
import time

from wb_testsink import read_counts
from wishbone.pidfile import alive
from wishbone.testing.cli import read_pids, run_cli, wait_until, write_bootstrap


def test_a_killed_worker_is_logged_and_restarted(tmp_path, pid_path, record):
    counts = tmp_path / "counts.txt"
    config = write_bootstrap(
        tmp_path / "three.json",
        {"input": ("testevent", {"interval": 0.05}), "output": ("testsink", {"path": str(counts)})},
        {"input.outbox": ["output.inbox"]},
    )
    log = tmp_path / "wishbone.log"
    result = run_cli("start", "--config", config, "--instances", "3", "--pid", str(pid_path), "--logfile", str(log))
    assert result.returncode == 0, result.stderr
    pids = read_pids(pid_path)
    assert len(pids) == 4 and all(alive(p) for p in pids)
    parent, victim = pids[0], pids[2]  # Instance #1
    killed_at = time.monotonic()

    os.kill(victim, signal.SIGKILL)

    def replaced() -> bool:
        now = read_pids(pid_path)
        return len(now) == 4 and victim not in now and all(alive(p) for p in now)

    assert wait_until(replaced, 15, 0.02), log.read_text()
    recovered = time.monotonic() - killed_at
    assert wait_until(lambda: "Instance #1 restarted" in log.read_text(), 10), log.read_text()
    new = read_pids(pid_path)
    before = read_counts(counts)[0]
    assert wait_until(lambda: read_counts(counts)[0] > before + 30, 10)  # all three still deliver
    text = log.read_text()
    stop = run_cli("stop", "--pid", str(pid_path), timeout=40)
    record(
        instances=3,
        killed_pid=victim,
        new_pid=[p for p in new if p not in pids][0],
        seconds_to_recover=round(recovered, 3),
        stop_status=stop.returncode,
    )
    assert f"Instance #1 (pid {victim}) died unexpectedly (signal 9); restarting in 0.5 s." in text
    assert new[0] == parent and new[1] == pids[1] and new[3] == pids[3]
    assert stop.returncode == 0, stop.stderr
    assert not any(alive(p) for p in new)
