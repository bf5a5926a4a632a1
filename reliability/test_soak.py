"""The soak: a pipeline at a steady rate for a long time (``nox -s soak``, 10 minutes by default),
its worker's RSS sampled every second, must stay flat (within ±5 % after warm-up) and lose nothing.
The durable soak does the same through a durable inbox, and samples the disk its directory uses:
bounded by ``max_bytes``, segments removed as their events are delivered.

Set the duration with ``WB_SOAK_SECONDS`` (``nox -s soak -- 60`` for a one-minute check, ``nox -s
soak -- 600 -k durable`` for the durable one alone). Without it the soak is skipped, so ``pytest
reliability`` (and CI) leave it out.
"""

from __future__ import annotations

import os
import signal
import statistics
import time
from pathlib import Path

import pytest
from wb_testsink import read_counts
from wishbone.testing.cli import read_pids, start_debug, wait_until, write_bootstrap

from reliability.helpers import final_module_metrics, rss_kb

SECONDS = float(os.environ.get("WB_SOAK_SECONDS", "0") or 0)
TOLERANCE = 0.05

pytestmark = [
    pytest.mark.skipif(not SECONDS, reason="the soak runs on demand: nox -s soak (or WB_SOAK_SECONDS=60)"),
    pytest.mark.timeout(SECONDS + 120),
]


def _segments(directory: Path) -> tuple[int, set[str]]:
    """(bytes the directory's files take on disk, the names of its segments); (0, set()) before it exists."""
    used, names = 0, set()
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return 0, names
    for entry in entries:
        try:
            used += entry.stat().st_blocks * 512
        except FileNotFoundError:  # deleted as it was delivered, between the listing and the stat
            continue
        if entry.name.endswith(".seg"):
            names.add(entry.name)
    return used, names


def _soak(config, pid_path, log, look=lambda: None) -> tuple[list[tuple[float, int]], int]:
    """Run `wishbone debug` for SECONDS, sampling the worker's RSS (and calling *look*) every second;
    stop it with SIGTERM. Returns the (elapsed s, RSS KiB) samples and the exit status."""
    proc = start_debug(config, pid_path, log)
    samples: list[tuple[float, int]] = []
    try:
        assert wait_until(lambda: len(read_pids(pid_path)) == 2, 20), log.read_text()
        worker = read_pids(pid_path)[1]
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < SECONDS:
            look()
            samples.append((elapsed, rss_kb(worker)))
            time.sleep(1.0 - (time.monotonic() - started) % 1.0)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    finally:
        proc.kill()
    return samples, code


def _flat_and_delivered(samples: list[tuple[float, int]], code: int, log, counts, record, **more) -> None:
    """Record the soak's figures (and *more*), then check: exit 0, every event delivered, RSS flat."""
    warm = min(60.0, SECONDS / 4)
    steady = [kb for t, kb in samples if t >= warm and kb]
    median = statistics.median(steady)
    generated = final_module_metrics(log.read_text())[(0, "input")]["generated"]
    batches, finals = read_counts(counts)
    record(
        seconds=SECONDS,
        samples=len(samples),
        warm_up_seconds=warm,
        **more.pop("before", {}),
        rss_after_warm_up_kb={"min": min(steady), "median": median, "max": max(steady)},
        rss_slope_kb_per_minute=round(_slope([(t, kb) for t, kb in samples if t >= warm and kb]) * 60, 1),
        **more,
        sent=generated,
        received=batches,
        lost=generated - batches,
        rate_per_second=round(generated / SECONDS),
        exit_status=code,
    )
    assert code == 0
    assert finals == [batches] == [generated]
    assert max(steady) <= median * (1 + TOLERANCE) and min(steady) >= median * (1 - TOLERANCE), steady


def test_rss_stays_flat_at_a_steady_rate(tmp_path, pid_path, record):
    counts = tmp_path / "counts.txt"
    config = write_bootstrap(
        tmp_path / "soak.json",
        {
            "input": ("testevent", {"interval": 0.001, "payload": {"text": "x" * 200, "n": [1, 2, 3]}}),
            "relay": ("passthrough", {}),
            "output": ("testsink", {"path": str(counts)}),
        },
        {"input.outbox": ["relay.inbox"], "relay.outbox": ["output.inbox"]},
        metrics={"enable": True, "module": "log", "interval": 10},
    )
    log = tmp_path / "soak.log"
    samples, code = _soak(config, pid_path, log)
    _flat_and_delivered(samples, code, log, counts, record)


def _slope(points: list[tuple[float, int]]) -> float:
    """Least-squares slope of RSS (KiB) over time (s)."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_kb = sum(kb for _, kb in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points) or 1.0
    return sum((t - mean_t) * (kb - mean_kb) for t, kb in points) / var


def test_a_durable_inbox_keeps_rss_flat_and_its_disk_bounded(tmp_path, pid_path, record):
    """A steady stream (one event a millisecond, each one record synced to disk) through a durable
    inbox that caches only 200 events in memory, so that whenever the output lags the events are
    read back from disk; 4 MiB of disk, so a 512 KiB segment fills every few seconds and must be
    removed once delivered."""
    counts, queues, max_bytes = tmp_path / "counts.txt", tmp_path / "queues", 4 << 20
    durable = {"inbox": {"durable": True, "path": str(queues), "max_bytes": max_bytes, "maxsize": 200}}
    config = write_bootstrap(
        tmp_path / "soak.json",
        {
            "input": ("testevent", {"interval": 0.001, "payload": {"text": "x" * 200, "n": [1, 2, 3]}}),
            "relay": ("passthrough", {}),
            "output": ("testsink", {"path": str(counts)}, durable),
        },
        {"input.outbox": ["relay.inbox"], "relay.outbox": ["output.inbox"]},
        metrics={"enable": True, "module": "log", "interval": 10},
    )
    directory = queues / "output.inbox" / "worker-0"
    log = tmp_path / "soak.log"
    disk: list[int] = []
    seen: set[str] = set()
    most_segments = 0

    def look() -> None:
        nonlocal most_segments
        used, names = _segments(directory)
        seen.update(names)
        most_segments = max(most_segments, len(names))
        disk.append(used)

    samples, code = _soak(config, pid_path, log, look)
    left, _ = _segments(directory)
    _flat_and_delivered(
        samples,
        code,
        log,
        counts,
        record,
        before={"rss_kb": {"start": samples[0][1], "end": samples[-1][1], "max": max(kb for _, kb in samples)}},
        disk_bytes={"max": max(disk), "median": statistics.median(disk), "after_stop": left, "max_bytes": max_bytes},
        segments={"made": len(seen), "most_at_once": most_segments},
    )
    assert max(disk) <= max_bytes, max(disk)
    # segments were removed as their events were delivered: many made, few at any time
    assert len(seen) >= 3 * most_segments and most_segments <= 9, (len(seen), most_segments)
    assert left <= 1 << 20  # after the drain: the cursor and an empty segment (or its last one)
