"""The "batch for a slow output" recipe runs as shipped: `wishbone validate`, then a short `wishbone debug`.

docs/processing-batching.md shows examples/batch_slow_output.json; this test keeps the two the same
and runs the file through the real command line. The stop is the point of the recipe: after
SIGTERM the bucket still open is tipped into the output before it drains, so every generated
event is written.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import subprocess

import pytest
from wishbone.bootstrap import load_dict
from wishbone.testing.cli import WISHBONE, kill_quietly, read_pids, run_cli, start_debug, wait_until, write_bootstrap

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "batch_slow_output.json"
DOC = ROOT / "docs" / "processing-batching.md"
PREFIX = "bulk write: "


def test_the_doc_shows_the_example_file_as_it_is():
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", DOC.read_text(), re.S)]
    assert json.loads(EXAMPLE.read_text()) in blocks, f"{DOC.name} does not show {EXAMPLE.name} as it is"


@pytest.mark.parametrize("package", ["wb_batch", "wb_rate"])
def test_the_package_readme_examples_load_as_written(package):
    readme = ROOT / "modules" / package / "README.md"
    docs = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", readme.read_text(), re.S)]
    examples = [d for d in docs if "bootstrap" in d]
    assert examples, f"{readme} has no bootstrap example"
    for doc in examples:
        assert load_dict(doc, source=str(readme)).modules


def test_wishbone_validate_accepts_it():
    done = run_cli("validate", "--config", str(EXAMPLE), timeout=60)
    assert done.returncode == 0, done.stderr
    assert "OK (3 module instance(s), 2 route(s))" in done.stdout


def test_a_short_debug_run_writes_batches_and_loses_nothing_at_stop(tmp_path):
    out, log = tmp_path / "stdout.txt", tmp_path / "log.txt"
    with open(out, "w") as stdout, open(log, "w") as stderr:
        proc = subprocess.Popen(
            [WISHBONE, "debug", "--config", str(EXAMPLE), "--pid", str(tmp_path / "wb.pid")],
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
        )
    try:
        assert wait_until(lambda: out.read_text().count("\n") >= 3, 20), log.read_text()[-2000:]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()[-2000:]
    finally:
        kill_quietly(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    lines = out.read_text().splitlines()
    assert all(line.startswith(PREFIX) for line in lines), lines[:3]
    batches = [json.loads(line[len(PREFIX) :]) for line in lines]
    assert all(len(batch) == 10 for batch in batches[:-1]), [len(b) for b in batches]
    assert 1 <= len(batches[-1]) <= 10
    assert batches[0][0] == {"level": "info", "message": "a log line"}
    generated = [int(n) for n in re.findall(r"module input .*generated=(\d+)", log.read_text())]
    assert generated, "no metrics line of the input at stop"
    assert sum(len(b) for b in batches) == generated[-1], "events generated but not written at stop"


def _numbers(path: pathlib.Path) -> list[int]:
    try:
        return [int(line) for line in path.read_text().splitlines() if line]
    except FileNotFoundError:
        return []


def test_kill_9_with_buckets_open_loses_nothing_a_durable_inbox_accepted(tmp_path, pid_path):
    """seqgen -> tippingbucket (durable inbox) -> split -> idsink, the worker killed with buckets open.

    The buckets hold the durable queue's deliveries (ack.merge): a record leaves the disk only when
    the bucket made of it has been split and written. After kill -9 the restarted worker replays
    what was not written, so every number arrives (duplicates allowed, at least once).
    """
    count = 20_000
    out, progress = tmp_path / "ids.txt", tmp_path / "progress"
    config = write_bootstrap(
        tmp_path / "bucket.json",
        {
            "input": ("seqgen", {"count": count, "progress": str(progress)}),
            "bucket": (
                "tippingbucket",
                {"size": 250, "age": 60},
                {"inbox": {"durable": True, "path": str(tmp_path / "queues"), "fsync": "none"}},
            ),
            "split": ("split", {}),
            "output": ("idsink", {"path": str(out), "delay": 0.01}),
        },
        {"input.outbox": ["bucket.inbox"], "bucket.outbox": ["split.inbox"], "split.outbox": ["output.inbox"]},
    )
    log = tmp_path / "debug.log"
    proc = start_debug(config, pid_path, log)
    try:
        assert wait_until(lambda: len(_numbers(out)) >= 1_000, 60), log.read_text()[-3000:]
        [worker] = [p for p in read_pids(pid_path) if p != proc.pid]
        written_at_kill = len(_numbers(out))
        os.kill(worker, signal.SIGKILL)
        assert written_at_kill < count, "the kill should come before everything was written"
        assert wait_until(lambda: len(set(_numbers(out))) >= count, 60), log.read_text()[-3000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    assert set(_numbers(out)) == set(range(count))
