"""A durable queue survives kill -9 of its worker: every event the input had handed over
(accepted on disk) is delivered after the supervisor restarts the worker, none lost, duplicates
counted. Real CLI, real files, a slow output so that a backlog sits on disk at the kill."""

from __future__ import annotations

import collections
import os
import signal
import time
from pathlib import Path

from wishbone.testing.cli import read_pids, start_debug, wait_until, write_bootstrap

COUNT = 200_000


def received(path: Path) -> list[int]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [int(line) for line in text.splitlines() if line]


def accepted(progress: Path) -> int:
    try:
        return int(progress.read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def backlog(out: Path, progress: Path) -> int:
    """Events the input handed over that the sink has not written yet."""
    return accepted(progress) - len(received(out))


def test_kill_9_of_a_worker_loses_nothing_a_durable_queue_accepted(tmp_path, pid_path, record):
    out, progress = tmp_path / "ids.txt", tmp_path / "progress"
    config = write_bootstrap(
        tmp_path / "durable.json",
        {
            "input": ("seqgen", {"count": COUNT, "progress": str(progress)}),
            "output": (
                "idsink",
                {"path": str(out), "delay": 0.002},
                {"inbox": {"durable": True, "path": str(tmp_path / "queues"), "max_bytes": 64 << 20}},
            ),
        },
        {"input.outbox": ["output.inbox"]},
    )
    log = tmp_path / "debug.log"
    proc = start_debug(config, pid_path, log)
    try:
        # Kill once a backlog sits on disk: on a loaded machine the input slows down too.
        assert wait_until(lambda: backlog(out, progress) > 2000 and len(received(out)) > 20_000, 60), log.read_text()
        [worker] = [p for p in read_pids(pid_path) if p != proc.pid]
        at_kill = accepted(progress)
        delivered_at_kill = len(received(out))
        os.kill(worker, signal.SIGKILL)
        started = time.monotonic()
        assert wait_until(lambda: len(set(received(out))) >= COUNT, 120), log.read_text()[-3000:]
        took = time.monotonic() - started
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except Exception:
            proc.kill()
            proc.wait(5)
    ids = received(out)
    counts = collections.Counter(ids)
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    record(
        accepted_before_kill=at_kill,
        delivered_before_kill=delivered_at_kill,
        backlog_at_kill=at_kill - delivered_at_kill,
        received=len(ids),
        duplicates=duplicates,
        lost=COUNT - len(counts),
        seconds_to_deliver_all_after_kill=round(took, 2),
    )
    assert at_kill - delivered_at_kill > 1000, "the kill should come while a backlog sits on disk"
    assert set(counts) == set(range(COUNT)), f"lost: {sorted(set(range(COUNT)) - set(counts))[:20]}"
