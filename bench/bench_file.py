"""file_in -> null: lines/s read from a real file, next to a bare gevent line reader in the same run.

    python bench/bench_file.py [--lines 1000000] [--repeat 5]

The file (``--lines`` lines of 80 bytes, in a temporary directory, in the page cache after
the first run) is read by a pipeline ``file_in`` (``mode: read``, with a checkpoint, every
event tracked) -> ``null``; the time runs from ``start()`` until the pipeline has drained
and stopped, so it includes every delivery being settled and the last checkpoint write.

The baseline is the least a gevent program does for the same work: one greenlet reads the
file in 64 KiB chunks with ``os.read``, splits the lines, makes one event dict per line
(with the same headers) and hands batches of 100 through a bounded gevent queue to a second
greenlet that counts them. No tracking, no checkpoint. Every figure is the median of
``--repeat`` runs, the two interleaved. Rates are given per second of wall clock and per
CPU-second of this process (``time.process_time``): on a shared machine the second is the
steadier, and it is the one held to the target; the ratio to the baseline is what to quote.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import gevent
import gevent.queue
from report import result
from wishbone import Pipeline

LINE = b"2026-12-01T08:00:00.000Z host app[1234]: a log line of eighty bytes, give or take.."  # 80 + newline


def make_file(path: str, lines: int) -> None:
    block = (LINE + b"\n") * 10_000
    with open(path, "wb") as f:
        for _ in range(lines // 10_000):
            f.write(block)
        f.write((LINE + b"\n") * (lines % 10_000))


def baseline(path: str, lines: int) -> tuple[float, float]:
    """Bare gevent: a reader greenlet -> a bounded queue of 100-event batches -> a counting greenlet."""
    q: gevent.queue.Queue = gevent.queue.Queue(100)
    seen = [0]

    def read() -> None:
        fd = os.open(path, os.O_RDONLY)
        pending = b""
        try:
            while chunk := os.read(fd, 65536):
                buf = pending + chunk
                end = buf.rfind(b"\n")
                pending = buf[end + 1 :]
                events = [{"headers": {"file": path}, "data": t} for t in buf[:end].decode().split("\n")]
                for i in range(0, len(events), 100):
                    q.put(events[i : i + 100])
                gevent.sleep(0)
        finally:
            os.close(fd)
        q.put(None)

    def count() -> None:
        n = 0
        while (batch := q.get()) is not None:
            for _event in batch:
                n += 1
        seen[0] = n

    start, cpu = time.perf_counter(), time.process_time()
    gevent.joinall([gevent.spawn(read), gevent.spawn(count)])
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert seen[0] == lines, (seen[0], lines)
    return lines / elapsed, lines / cpu


def file_in_rate(path: str, lines: int, checkpoint: str) -> tuple[float, float]:
    """file_in (read mode, checkpoint, tracked) -> null until drained and stopped."""
    if os.path.exists(checkpoint):
        os.unlink(checkpoint)
    doc = {
        "bootstrap": {
            "input": {"module": "file_in", "variables": {"paths": [path], "mode": "read", "checkpoint": checkpoint}},
            "out": {"module": "null"},
        },
        "routingtable": {"input.outbox": ["out.inbox"]},
    }
    pipeline = Pipeline.from_dict(doc)
    start, cpu = time.perf_counter(), time.process_time()
    pipeline.start()
    pipeline.join_inputs()
    pipeline.stop(60)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    got = pipeline.modules["out"].consumed
    assert got == lines, (got, lines)
    with open(checkpoint) as f:  # every line was delivered: the checkpoint is at the end of the file
        assert f'"offset": {os.path.getsize(path)}' in f.read(), "checkpoint not at the end"
    return lines / elapsed, lines / cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}, gevent {gevent.__version__}, {args.lines:,} lines, {args.repeat} runs")
    with tempfile.TemporaryDirectory(prefix="wishbone-bench-file-") as tmp:
        path = os.path.join(tmp, "bench.log")
        make_file(path, args.lines)
        checkpoint = os.path.join(tmp, "checkpoint.json")
        runs: dict[str, list] = {"baseline": [], "file_in": []}
        for _ in range(args.repeat):  # interleaved, so that both see the same machine
            runs["baseline"].append(baseline(path, args.lines))
            runs["file_in"].append(file_in_rate(path, args.lines, checkpoint))
    wall = {k: statistics.median(r[0] for r in v) for k, v in runs.items()}
    cpu = {k: statistics.median(r[1] for r in v) for k, v in runs.items()}
    names = {
        "baseline": "bare gevent line reader (os.read, split, dicts, 1 queue)",
        "file_in": "file_in (read mode, tracked, checkpoint) -> null",
    }
    print(f"{'reader':58} {'lines/s wall':>13} {'lines/CPU-s':>12} {'of baseline':>12}")
    for key, name in names.items():
        print(f"{name:58} {wall[key]:13,.0f} {cpu[key]:12,.0f} {cpu[key] / cpu['baseline']:12.0%}")
    rate = cpu["file_in"]
    result(
        f"file_in -> null, {args.lines:,} lines of 80 bytes (tracked, checkpoint), per CPU-second",
        rate,
        "lines/s",
        ">= 500,000 lines/s",
        rate >= 500_000,
        cpu["baseline"],
    )
    result(
        "file_in -> null, wall clock (the machine is shared: see lines/CPU-s)",
        wall["file_in"],
        "lines/s",
        "reported",
        None,
        wall["baseline"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
