"""Batching and rate modules (wb-batch, wb-rate): each module next to a hand-written loop doing its work.

    python bench/bench_batch.py [--events 200000] [--repeat 5]

For each module the same events, in batches of 100, go two ways in the same run:

* **module**: through the module in a :class:`wishbone.testing.Harness`, the path a pipeline
  stage takes: a batch hand-off into its inbox (the shape of every event checked), its
  consumer calling ``consume`` per event, its emits handed on (checked again) to a collector.
  Timed from the first batch fed until every event is consumed and handed on.
* **loop**: a plain Python loop over the same batches doing the same work per event (the same
  key look-up, the same dict operations, the same output events appended to a list per batch).
  No queues, no greenlets: the least code that does the job.

The ratio module/loop is the figure (target: >= 40%). ``passthrough`` (the core's module that
does nothing) against a loop that does nothing shows what the hand-offs alone cost. Both sides
are timed in CPU seconds of this process (``time.process_time``: everything runs in it, on one
hub, with no I/O), so that other processes on a shared machine do not count; medians of
``--repeat`` runs, and the ratios are what to quote.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import sys
import time

import gevent
from report import result
from wishbone.ack import merge, split
from wishbone.builtin.passthrough import Passthrough
from wishbone.module import Processor
from wishbone.testing import Harness

try:
    from wb_batch import Split, TippingBucket
    from wb_rate import Count, Dedupe, Fresh, Throttle
except ImportError as missing:  # bench/run.py runs every script: say what to install
    sys.exit(f"bench_batch.py needs wb-batch and wb-rate: pip install -e modules/wb_batch modules/wb_rate ({missing})")

BATCH = 100
HOSTS = 50
TARGET = 0.40
FLOOR = "hand-offs only (a batch in, the batch out)"


def make_events(n: int) -> list[dict]:
    """Events with a host (50 keys), an id (each seen twice) and a short list."""
    return [{"headers": {}, "data": {"host": f"h{i % HOSTS}", "id": i // 2, "items": [i, i, i, i]}} for i in range(n)]


def batches_of(events: list) -> list[list]:
    return [events[i : i + BATCH] for i in range(0, len(events), BATCH)]


# ---------------------------------------------------------------------------------- the loops
# Each takes the batches and returns the output events (the same the module emits).


def loop_passthrough(batches: list[list]) -> int:
    out = 0
    for batch in batches:
        sent = []
        for event in batch:
            sent.append(event)
        out += len(sent)
    return out


def loop_tippingbucket(batches: list[list]) -> int:
    buckets: dict = {}
    out = 0
    for batch in batches:
        sent = []
        for event in batch:
            data = event["data"]
            key = data["host"] if type(data) is dict and "host" in data else None
            bucket = buckets.get(key)
            if bucket is None:
                bucket = buckets[key] = []
            bucket.append(event)
            if len(bucket) >= 100:
                del buckets[key]
                items = [e["data"] for e in bucket]
                sent.append(merge(bucket, items, {"tippingbucket": {"key": key, "size": len(items), "reason": "size"}}))
        out += len(sent)
    return out


def loop_split(batches: list[list]) -> int:
    out = 0
    for batch in batches:
        sent = []
        for event in batch:
            data = event["data"]
            items = data["items"] if type(data) is dict and "items" in data else None
            if type(items) is not list:
                raise TypeError("not a list")
            sent.extend(split(event, items))
        out += len(sent)
    return out


def loop_throttle(batches: list[list]) -> int:
    rate, burst = 1e12, 1e12
    buckets: dict = {}
    out = 0
    for batch in batches:
        sent = []
        now = time.monotonic()
        for event in batch:
            data = event["data"]
            key = data["host"] if type(data) is dict and "host" in data else None
            state = buckets.get(key)
            if state is None:
                state = buckets[key] = [burst, now]
            tokens = state[0] + (now - state[1]) * rate
            if tokens > burst:
                tokens = burst
            state[1] = now
            if tokens >= 1.0:
                state[0] = tokens - 1.0
                sent.append(event)
        out += len(sent)
    return out


def loop_dedupe(batches: list[list]) -> int:
    seen: dict = {}
    order: collections.deque = collections.deque()
    out = 0
    for batch in batches:
        sent, duplicates = [], []
        now = time.monotonic()
        for event in batch:
            data = event["data"]
            key = data["id"] if type(data) is dict and "id" in data else None
            first = seen.get(key)
            if first is not None and now - first < 60.0:
                duplicates.append(event)
                continue
            seen[key] = now
            order.append((now, key))
            sent.append(event)
        out += len(sent) + len(duplicates)
    return out


def loop_count(batches: list[list]) -> int:
    counts: dict = {}
    out = 0
    for batch in batches:
        sent = []
        for event in batch:
            data = event["data"]
            key = data["host"] if type(data) is dict and "host" in data else None
            counts[key] = counts.get(key, 0) + 1
            sent.append(event)
        out += len(sent)
    return out


def loop_fresh(batches: list[list]) -> int:
    seen = 0
    silent = False
    out = 0
    for batch in batches:
        sent = []
        for event in batch:
            seen += 1
            if silent:
                silent = False
            sent.append(event)
        out += len(sent)
    return out


# ---------------------------------------------------------------------------------- the modules
class HandOff(Processor):
    """Hands each batch on as it came: what the hand-offs alone cost (the floor of every module here).

    Queues:
        inbox: events.  outbox: the same events.
    """

    changes_events = False

    def consume_batch(self, events: list) -> None:
        """Emit the batch as it is."""
        self.emit_batch(events)


def run_module(cls: type, variables: dict, batches: list[list], queues: tuple[str, ...]) -> tuple[float, int]:
    """Seconds to consume every batch and hand every output on; and how many outputs."""
    total = sum(len(b) for b in batches)
    # A short inbox: feeding and consuming alternate, as stages of a running pipeline do, and
    # what it emits is taken after every batch (a pipeline's next stage soon releases it).
    h = Harness(cls, variables, batch_size=BATCH, timeout=120, queue_options={"inbox": {"maxsize": 2 * BATCH}})
    h.start()
    try:
        began = time.process_time()
        for batch in batches:
            h.feed(batch)
        while h.module.consumed < total:
            gevent.sleep(0)
        elapsed = time.process_time() - began
        out = sum(len(h.collected(q)) for q in queues)
    finally:
        h.stop()
    return elapsed, out


CASES = {
    # name: (module class, variables, queues that take its output, the loop)
    "hand-offs only (a batch in, the batch out)": (HandOff, {}, ("outbox",), loop_passthrough),
    "passthrough (consume and emit per event)": (Passthrough, {}, ("outbox",), loop_passthrough),
    "tippingbucket (size 100, key data.host)": (
        TippingBucket,
        {"size": 100, "age": 60, "key": "data.host"},
        ("outbox",),
        loop_tippingbucket,
    ),
    "split (data.items, 4 parts)": (Split, {"field": "data.items"}, ("outbox",), loop_split),
    "throttle (key data.host, all pass)": (
        Throttle,
        {"rate": 1e12, "burst": 10**12, "key": "data.host"},
        ("outbox",),
        loop_throttle,
    ),
    "dedupe (key data.id, half duplicates)": (
        Dedupe,
        {"key": "data.id", "window": 60},
        ("outbox", "duplicate"),
        loop_dedupe,
    ),
    "count (key data.host)": (Count, {"interval": 60, "key": "data.host"}, ("outbox",), loop_count),
    "fresh (timeout 60)": (Fresh, {"timeout": 60}, ("outbox",), loop_fresh),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}, gevent {gevent.__version__}, {args.events:,} events, {args.repeat} runs")
    events = make_events(args.events)
    batches = batches_of(events)
    header = f"{'module':44} {'module ev/s':>12} {'loop ev/s':>12} {'module/loop':>12}"
    print(f"{header} {'ns/ev over floor':>17} {'loop ns/ev':>11}")
    rows = {}
    for name, (cls, variables, queues, loop) in CASES.items():
        module_rates, loop_rates = [], []
        for _ in range(args.repeat):
            began = time.process_time()
            expected = loop(batches)
            loop_rates.append(args.events / (time.process_time() - began))
            elapsed, out = run_module(cls, variables, batches, queues)
            assert out == expected, f"{name}: the module emitted {out} events, the loop {expected}"
            module_rates.append(args.events / elapsed)
        module_rate, loop_rate = statistics.median(module_rates), statistics.median(loop_rates)
        rows[name] = (module_rate, loop_rate)
        floor = 1e9 / rows[FLOOR][0]
        print(
            f"{name:44} {module_rate:12,.0f} {loop_rate:12,.0f} {module_rate / loop_rate:12.0%}"
            f" {1e9 / module_rate - floor:17,.0f} {1e9 / loop_rate:11,.0f}"
        )
    print("ns/ev over floor: what the module costs per event beyond the hand-offs (the first row)")
    for name, (module_rate, loop_rate) in rows.items():
        if name in (FLOOR, "passthrough (consume and emit per event)"):
            result(f"{name} vs a loop that does nothing", module_rate, "events/s", "reported", None, loop_rate)
            continue
        met = module_rate >= TARGET * loop_rate
        result(f"{name} vs a hand-written loop", module_rate, "events/s", ">= 40% of the loop", met, loop_rate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
