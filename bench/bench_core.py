"""Core hot-path benchmark: events/s through in-process pipelines, next to bare gevent.

    python bench/bench_core.py [--events 1000000] [--repeat 5]

The baseline, measured in the same run, is the least a gevent program can do to move the
same events: a producer greenlet builds batches of 100 event dicts and hands them through
two bounded gevent queues, via a middle greenlet that touches every event, to a consumer
that touches every event (3 greenlets). The machine is shared and noisy, so every figure
is the median of several runs and the ratio is what to quote.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import gevent
import gevent.queue
from report import result
from wishbone import Pipeline


def baseline(events: int, batch: int = 100) -> float:
    """Bare gevent: producer -> queue -> middle -> queue -> consumer, batches of *batch*."""
    q1: gevent.queue.Queue = gevent.queue.Queue(100)
    q2: gevent.queue.Queue = gevent.queue.Queue(100)
    seen = [0]

    def produce() -> None:
        left = events
        while left > 0:
            n = min(batch, left)
            q1.put([{"headers": {}, "data": "test"} for _ in range(n)])
            left -= n
        q1.put(None)

    def middle() -> None:
        while (items := q1.get()) is not None:
            out = []
            append = out.append
            for event in items:
                append(event)
            q2.put(out)
        q2.put(None)

    def consume() -> None:
        count = 0
        while (items := q2.get()) is not None:
            for _event in items:
                count += 1
        seen[0] = count

    start = time.perf_counter()
    gevent.joinall([gevent.spawn(produce), gevent.spawn(middle), gevent.spawn(consume)])
    elapsed = time.perf_counter() - start
    assert seen[0] == events, seen
    return events / elapsed


def pipeline_rate(modules: dict, routes: dict, events: int, sink_total: int, sinks: list[str]) -> float:
    """Run a pipeline to completion; return source events per second."""
    doc = {
        "bootstrap": {name: {"module": m, "variables": v} for name, (m, v) in modules.items()},
        "routingtable": routes,
    }
    pipeline = Pipeline.from_dict(doc, load_entry_points=False)
    start = time.perf_counter()
    pipeline.start()
    pipeline.join_inputs()
    pipeline.stop(60)
    elapsed = time.perf_counter() - start
    got = sum(pipeline.modules[s].consumed for s in sinks)
    assert got == sink_total, (got, sink_total)
    return events / elapsed


def one_to_one(events: int) -> float:
    return pipeline_rate(
        {"input": ("testevent", {"interval": 0, "count": events}), "pt": ("passthrough", {}), "out": ("null", {})},
        {"input.outbox": ["pt.inbox"], "pt.outbox": ["out.inbox"]},
        events,
        events,
        ["out"],
    )


def one_to_one_null(events: int) -> float:
    return pipeline_rate(
        {"input": ("testevent", {"interval": 0, "count": events}), "out": ("null", {})},
        {"input.outbox": ["out.inbox"]},
        events,
        events,
        ["out"],
    )


def fan_out_fan_in(events: int) -> float:
    return pipeline_rate(
        {
            "input": ("testevent", {"interval": 0, "count": events}),
            "a": ("passthrough", {}),
            "b": ("passthrough", {}),
            "c": ("passthrough", {}),
            "out": ("null", {}),
        },
        {
            "input.outbox": ["a.inbox", "b.inbox", "c.inbox"],
            "a.outbox": ["out.inbox"],
            "b.outbox": ["out.inbox"],
            "c.outbox": ["out.inbox"],
        },
        events,
        3 * events,
        ["out"],
    )


def one_to_n(events: int) -> float:
    return pipeline_rate(
        {
            "input": ("testevent", {"interval": 0, "count": events}),
            "a": ("null", {}),
            "b": ("null", {}),
            "c": ("null", {}),
        },
        {"input.outbox": ["a.inbox", "b.inbox", "c.inbox"]},
        events,
        3 * events,
        ["a", "b", "c"],
    )


def n_to_one(events: int) -> float:
    third = events // 3
    return pipeline_rate(
        {
            "i1": ("testevent", {"interval": 0, "count": third}),
            "i2": ("testevent", {"interval": 0, "count": third}),
            "i3": ("testevent", {"interval": 0, "count": third}),
            "out": ("null", {}),
        },
        {"i1.outbox": ["out.inbox"], "i2.outbox": ["out.inbox"], "i3.outbox": ["out.inbox"]},
        3 * third,
        3 * third,
        ["out"],
    )


CASES = {
    "testevent -> passthrough -> null": one_to_one,
    "testevent -> null (1-1)": one_to_one_null,
    "testevent -> 1-n 3 passthroughs -> n-1 null (source rate)": fan_out_fan_in,
    "testevent -> 1-n 3 nulls (source rate)": one_to_n,
    "3 testevents -> n-1 null": n_to_one,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}, gevent {gevent.__version__}, {args.events:,} events, {args.repeat} runs")
    results = {}
    for name, case in [("bare gevent baseline (2 queues, 3 greenlets)", baseline), *CASES.items()]:
        rates = []
        for _ in range(args.repeat):
            rates.append(case(args.events))
        results[name] = statistics.median(rates)
    base = results["bare gevent baseline (2 queues, 3 greenlets)"]
    print(f"{'pipeline':60} {'events/s (median)':>18} {'of baseline':>12}")
    for name, rate in results.items():
        print(f"{name:60} {rate:18,.0f} {rate / base:12.0%}")
    one = results["testevent -> passthrough -> null"]
    result(
        f"testevent -> passthrough -> null, {args.events:,} events",
        one,
        "events/s",
        ">= 1,000,000 events/s and >= 30% of baseline",
        one >= 1_000_000 and one >= 0.3 * base,
        base,
    )
    fan = results["testevent -> 1-n 3 passthroughs -> n-1 null (source rate)"]
    result(
        "testevent -> 1-n to 3 passthroughs -> n-1 into null (source rate)",
        fan,
        "events/s",
        ">= 300,000 events/s at the source",
        fan >= 300_000,
        base,
    )
    single, fan3 = results["testevent -> null (1-1)"], results["testevent -> 1-n 3 nulls (source rate)"]
    print(f"1-n to 3 outputs runs at {fan3 / single:.0%} of the 1-1 rate (outputs are readers: one event shared)")
    result(
        "testevent -> 1-n 3 nulls vs testevent -> null (source rate)",
        fan3,
        "events/s",
        ">= 60% of the 1-1 rate in the same run",
        fan3 >= 0.6 * single,
        single,
    )
    for name in ("testevent -> null (1-1)", "3 testevents -> n-1 null"):
        result(name, results[name], "events/s", "reported", None, base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
