"""Added latency through three stages at half the maximum rate, and memory over a long run.

    python bench/bench_latency.py [--events 1000000] [--long 10000000]

Latency: a paced input stamps each event with ``time.perf_counter()``; it goes through
passthrough -> passthrough -> a sink that records ``now - stamp``. The input first runs
flat out to find the maximum rate, then at half of it; p50/p99/max are reported. A bare
gevent pipeline with the same pacing and the same three hand-offs is the baseline.

Memory: RSS of this process after 1M and after 10M events through
testevent -> passthrough -> null (target: at most 60 MiB, and flat within 5%).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import gevent
import gevent.queue
from report import result
from wishbone import Module, Pipeline
from wishbone.bootstrap import Bootstrap, MetricsSpec, ModuleSpec, Route
from wishbone.builtin.passthrough import Passthrough


class PacedInput(Module):
    """Emits stamped events in batches at *rate* events/s (0: flat out).

    Queues: outbox.
    """

    consumes: dict = {}

    def __init__(self, count: int, rate: float = 0.0, batch: int = 100):
        self.count = count
        self.rate = rate
        self.batch = batch

    def on_start(self):
        self.spawn_producer(self._run)

    def _run(self):
        clock = time.perf_counter
        start = clock()
        sent = 0
        while sent < self.count and self.running:
            n = min(self.batch, self.count - sent)
            now = clock()
            self.emit_batch([{"headers": {"t": now}, "data": sent + i} for i in range(n)])
            sent += n
            if self.rate:
                ahead = start + sent / self.rate - clock()
                gevent.sleep(max(0.0, ahead))
            else:
                gevent.sleep(0)


class LatencySink(Module):
    """Records how long each event took to arrive.

    Queues: inbox.
    """

    def __init__(self):
        self.latencies: list[float] = []
        self._append = self.latencies.append
        self._clock = time.perf_counter

    def consume(self, event):
        self._append(self._clock() - event["headers"]["t"])


def three_stages(count: int, rate: float) -> Pipeline:
    specs = {
        "input": ModuleSpec("input", "", "", PacedInput, {"count": count, "rate": rate}),
        "a": ModuleSpec("a", "", "", Passthrough),
        "b": ModuleSpec("b", "", "", Passthrough),
        "sink": ModuleSpec("sink", "", "", LatencySink),
    }
    routes = [
        Route("input", "outbox", "a", "inbox"),
        Route("a", "outbox", "b", "inbox"),
        Route("b", "outbox", "sink", "inbox"),
    ]
    return Pipeline(Bootstrap("<bench>", {}, specs, routes, MetricsSpec(False, "", "", 1, {})), load_entry_points=False)


def run(pipeline: Pipeline) -> float:
    start = time.perf_counter()
    pipeline.start()
    pipeline.join_inputs()
    pipeline.stop(60)
    return time.perf_counter() - start


def bare_latencies(count: int, rate: float) -> list[float]:
    """The same pacing and three hand-offs in bare gevent."""
    queues = [gevent.queue.Queue(100) for _ in range(3)]
    latencies: list[float] = []

    def produce():
        clock = time.perf_counter
        start = clock()
        sent = 0
        while sent < count:
            n = min(100, count - sent)
            now = clock()
            queues[0].put([{"headers": {"t": now}, "data": sent + i} for i in range(n)])
            sent += n
            gevent.sleep(max(0.0, start + sent / rate - clock()))
        queues[0].put(None)

    def hop(src, dst):
        while (batch := src.get()) is not None:
            dst.put(list(batch))
        dst.put(None)

    def sink():
        clock = time.perf_counter
        while (batch := queues[2].get()) is not None:
            for event in batch:
                latencies.append(clock() - event["headers"]["t"])

    gevent.joinall(
        [gevent.spawn(produce), gevent.spawn(hop, queues[0], queues[1]), gevent.spawn(hop, queues[1], queues[2])]
        + [gevent.spawn(sink)]
    )
    return latencies


def percentiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    return (
        ordered[len(ordered) // 2] * 1e3,
        ordered[int(len(ordered) * 0.99)] * 1e3,
        ordered[-1] * 1e3,
    )


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def memory(long: int) -> list[tuple[int, float]]:
    doc = {
        "bootstrap": {
            "input": {"module": "testevent", "variables": {"interval": 0, "count": long}},
            "pt": {"module": "passthrough"},
            "out": {"module": "null"},
        },
        "routingtable": {"input.outbox": ["pt.inbox"], "pt.outbox": ["out.inbox"]},
    }
    pipeline = Pipeline.from_dict(doc, load_entry_points=False)
    samples: list[tuple[int, float]] = []
    marks = [1_000_000, long // 2, long]

    def sample():
        while marks:
            if pipeline.modules["out"].consumed >= marks[0]:
                samples.append((marks.pop(0), rss_mib()))
            gevent.sleep(0.01)

    sampler = gevent.spawn(sample)
    run(pipeline)
    sampler.join(5)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--long", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    max_rates = [args.events / run(three_stages(args.events, 0)) for _ in range(args.repeat)]
    max_rate = statistics.median(max_rates)
    half = max_rate / 2
    rows = []
    for _ in range(args.repeat):
        p = three_stages(args.events, half)
        run(p)
        rows.append(percentiles(p.modules["sink"].latencies))
    bare = [percentiles(bare_latencies(args.events, half)) for _ in range(args.repeat)]
    med = [statistics.median(r[i] for r in rows) for i in range(3)]
    bmed = [statistics.median(r[i] for r in bare) for i in range(3)]
    print(f"python {sys.version.split()[0]}, gevent {gevent.__version__}")
    print(f"3 stages, max rate (median of {args.repeat}): {max_rate:,.0f} events/s; measured at half: {half:,.0f}/s")
    print(f"{'latency (ms)':32} {'p50':>8} {'p99':>8} {'max':>8}")
    print(f"{'wishbone, 3 stages':32} {med[0]:8.3f} {med[1]:8.3f} {med[2]:8.3f}")
    print(f"{'bare gevent, 3 hand-offs':32} {bmed[0]:8.3f} {bmed[1]:8.3f} {bmed[2]:8.3f}")
    print(f"p99 target < 2 ms: {'met' if med[1] < 2 else 'NOT met'}")
    result(
        f"p99 added latency, 3 stages at half the maximum rate ({half:,.0f} events/s)",
        med[1],
        "ms",
        "< 2 ms",
        med[1] < 2,
        bmed[1],
    )

    samples = memory(args.long)
    print(f"{'events through':>16} {'RSS MiB':>9}")
    for count, mib in samples:
        print(f"{count:16,} {mib:9.1f}")
    if len(samples) >= 2:
        growth = samples[-1][1] / samples[0][1] - 1
        print(f"RSS growth from {samples[0][0]:,} to {samples[-1][0]:,} events: {growth:+.1%} (target within 5%)")
        peak = max(mib for _, mib in samples)
        result(
            f"memory: RSS of one instance from {samples[0][0]:,} to {samples[-1][0]:,} events ({growth:+.1%})",
            peak,
            "MiB",
            "<= 60 MiB, flat within 5%",
            peak <= 60 and abs(growth) <= 0.05,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
