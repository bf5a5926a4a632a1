"""The soak: a pipeline at a steady rate for a long time (``nox -s soak``, 10 minutes by default),
its worker's RSS sampled every second, must stay flat (within ±5 % after warm-up) and lose nothing.

Set the duration with ``WB_SOAK_SECONDS`` (``nox -s soak -- 60`` for a one-minute check). Without
it the soak is skipped, so ``pytest reliability`` (and CI) leave it out.
"""

from __future__ import annotations

import os
import signal
import statistics
import time

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
    proc = start_debug(config, pid_path, log)
    samples: list[tuple[float, int]] = []
    try:
        assert wait_until(lambda: len(read_pids(pid_path)) == 2, 20), log.read_text()
        worker = read_pids(pid_path)[1]
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < SECONDS:
            samples.append((elapsed, rss_kb(worker)))
            time.sleep(1.0 - (time.monotonic() - started) % 1.0)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    finally:
        proc.kill()
    warm = min(60.0, SECONDS / 4)
    steady = [kb for t, kb in samples if t >= warm and kb]
    median = statistics.median(steady)
    slope = _slope([(t, kb) for t, kb in samples if t >= warm and kb])
    generated = final_module_metrics(log.read_text())[(0, "input")]["generated"]
    batches, finals = read_counts(counts)
    record(
        seconds=SECONDS,
        samples=len(samples),
        warm_up_seconds=warm,
        rss_after_warm_up_kb={"min": min(steady), "median": median, "max": max(steady)},
        rss_slope_kb_per_minute=round(slope * 60, 1),
        sent=generated,
        received=batches,
        lost=generated - batches,
        rate_per_second=round(generated / SECONDS),
        exit_status=code,
    )
    assert code == 0
    assert finals == [batches] == [generated]
    assert max(steady) <= median * (1 + TOLERANCE) and min(steady) >= median * (1 - TOLERANCE), steady


def _slope(points: list[tuple[float, int]]) -> float:
    """Least-squares slope of RSS (KiB) over time (s)."""
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_kb = sum(kb for _, kb in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points) or 1.0
    return sum((t - mean_t) * (kb - mean_kb) for t, kb in points) / var
