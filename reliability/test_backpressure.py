"""A slow output behind a fast input: memory stays bounded because a full queue blocks the input;
nothing is dropped unless the configuration says so, and then the drop count is exact."""

from __future__ import annotations

import json
import subprocess
import time

from reliability.helpers import HERE, PYTHON, rss_kb

SECONDS = 6.0
DELAY = 0.005  # per batch of 100: the sink takes ~20,000 events/s at most, the input offers far more


def _run(maxsize: int, when_full: str) -> tuple[dict, list[int]]:
    """Run the slow pipeline in its own process; its figures and its RSS sampled every 0.2 s."""
    proc = subprocess.Popen(
        [PYTHON, "-m", "reliability.slow_pipeline", str(SECONDS), str(maxsize), when_full, str(DELAY)],
        cwd=HERE.parent,
        stdout=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    samples = []
    try:
        assert proc.stdout.readline().strip() == "started"
        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline:
            samples.append(rss_kb(proc.pid))
            time.sleep(0.2)
        out, _ = proc.communicate(timeout=40)
    finally:
        proc.kill()
        proc.stdout.close()
    assert proc.returncode == 0
    return json.loads(out.strip().splitlines()[-1]), [s for s in samples if s]


def _growth(samples: list[int]) -> int:
    """KiB the RSS grew from the end of warm-up (the first second) to its peak after it."""
    warm = samples[5:]
    return max(warm) - warm[0]


def test_block_mode_holds_the_input_back_and_drops_nothing(record):
    figures, samples = _run(maxsize=1000, when_full="block")
    record(
        when_full="block",
        maxsize=1000,
        sent=figures["generated"],
        received=figures["consumed"],
        dropped=figures["dropped"],
        lost=figures["generated"] - figures["consumed"] - figures["dropped"],
        rss_start_kb=samples[5],
        rss_peak_kb=max(samples),
        rss_growth_after_warmup_kb=_growth(samples),
        seconds=SECONDS,
    )
    assert figures["drained"] and figures["dropped"] == 0 and figures["left"] == 0
    assert figures["generated"] == figures["consumed"]
    assert figures["generated"] < SECONDS * 100 / DELAY * 1.5  # the input was held to the sink's pace
    assert _growth(samples) < 10_000, samples  # bounded queues: a few MB at most


def test_drop_mode_counts_exactly_what_it_drops(record):
    figures, samples = _run(maxsize=1000, when_full="drop")
    record(
        when_full="drop",
        maxsize=1000,
        sent=figures["generated"],
        received=figures["consumed"],
        dropped=figures["dropped"],
        lost=figures["generated"] - figures["consumed"] - figures["dropped"],
        rss_start_kb=samples[5],
        rss_peak_kb=max(samples),
        rss_growth_after_warmup_kb=_growth(samples),
        seconds=SECONDS,
    )
    assert figures["drained"] and figures["dropped"] > 0
    assert figures["generated"] == figures["consumed"] + figures["dropped"]
    assert _growth(samples) < 10_000, samples
