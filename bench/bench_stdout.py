"""testevent -> stdout into /dev/null, next to plain buffered writes of the same lines.

    python bench/bench_stdout.py [--events 1000000] [--repeat 5]

The baseline, measured in the same run, writes the same lines (the event's text and a
newline) through an ``io.BufferedWriter`` to /dev/null, one ``write`` call per line: what a
plain program would do. Target: the pipeline reaches at least 50% of it.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time

import gevent
from report import result
from wishbone import Pipeline


def baseline(events: int) -> float:
    """Build each event, format its line, write it buffered."""
    start = time.perf_counter()
    with io.BufferedWriter(io.FileIO("/dev/null", "w"), 65536) as out:
        write = out.write
        for _ in range(events):
            event = {"headers": {}, "data": "test"}
            write((event["data"] + "\n").encode())
    return events / (time.perf_counter() - start)


def pipeline(events: int) -> float:
    doc = {
        "bootstrap": {
            "input": {"module": "testevent", "variables": {"interval": 0, "count": events}},
            "output": {"module": "stdout", "variables": {"path": "/dev/null"}},
        },
        "routingtable": {"input.outbox": ["output.inbox"]},
    }
    p = Pipeline.from_dict(doc, load_entry_points=False)
    start = time.perf_counter()
    p.start()
    p.join_inputs()
    p.stop(60)
    elapsed = time.perf_counter() - start
    written = p.modules["output"].metrics()["written"]
    assert written == events, written
    return events / elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    base = statistics.median(baseline(args.events) for _ in range(args.repeat))
    rate = statistics.median(pipeline(args.events) for _ in range(args.repeat))
    print(f"python {sys.version.split()[0]}, gevent {gevent.__version__}, {args.events:,} events, {args.repeat} runs")
    print(f"{'plain buffered writes (baseline)':40} {base:14,.0f} events/s")
    print(f"{'testevent -> stdout (/dev/null)':40} {rate:14,.0f} events/s  {rate / base:.0%} of baseline")
    result("testevent -> stdout to /dev/null", rate, "events/s", ">= 50% of baseline", rate >= 0.5 * base, base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
