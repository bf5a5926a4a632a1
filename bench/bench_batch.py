"""Batching and rate modules (wb-batch, wb-rate): each module next to a hand-written loop doing its work.

    python bench/bench_batch.py [--events 200000] [--repeat 5]

For each module the same events, in batches of 100, go two ways in the same run:

* **module**: through the module in a :class:`wishbone.testing.Harness`, the path a pipeline
  stage takes: a batch hand-off into its inbox (the shape of every event checked), its
  consumer taking the batch, its emits handed on (checked again) to a collector. Timed from
  the batch fed until it is consumed and what it emitted has been handed on.
* **loop**: a plain Python loop over the same batches doing the same work per event (the same
  key look-up, the same dict operations, the same output events appended to a list per batch;
  what a module does once per batch, the loop does once per batch too). No queues, no
  greenlets: the least code that does the job.

The hand-offs alone (the first row) are the floor under every module: where 40% of a loop
allows fewer ns per event than the floor costs (``fresh``, whose own work is per batch), the
output says so with both figures.

The ratio module/loop is the figure (target: >= 40%). ``passthrough`` (the core's module that
does nothing) against a loop that does nothing shows what the hand-offs alone cost. Both sides
are timed in CPU seconds of this process (``time.process_time``, less what reading it costs:
everything runs in it, on one hub, with no I/O), in turns, batch by batch (the module and the
loop on each batch, each going first on every other batch, since the first to read a batch
pays for bringing it into the CPU's cache), so that the load of a shared machine weighs on
both alike; medians of ``--repeat`` runs, and the ratios are what to quote. The events are
frozen out of the garbage collector's scans (``gc.freeze``): held for the whole run, they
would weigh on collections as no pipeline's events do.
"""

from __future__ import annotations

import argparse
import collections
import gc
import statistics
import sys
import time
from collections.abc import Callable

import gevent
from report import result
from wishbone.ack import merge, split
from wishbone.builtin.passthrough import Passthrough
from wishbone.event import split_valid
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
PASSTHROUGH = "passthrough (consume and emit per event)"


def make_events(n: int) -> list[dict]:
    """Events with a host (50 keys), an id (each seen twice) and a short list."""
    return [{"headers": {}, "data": {"host": f"h{i % HOSTS}", "id": i // 2, "items": [i, i, i, i]}} for i in range(n)]


def batches_of(events: list) -> list[list]:
    return [events[i : i + BATCH] for i in range(0, len(events), BATCH)]


# ---------------------------------------------------------------------------------- the loops
# Each makes a step: the work on one batch (its state kept between batches), returning how many
# events it emits (the same the module emits).


def loop_passthrough() -> Callable[[list], int]:
    def step(batch: list) -> int:
        sent = []
        for event in batch:
            sent.append(event)
        return len(sent)

    return step


def loop_tippingbucket() -> Callable[[list], int]:
    buckets: dict = {}

    def step(batch: list) -> int:
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
        return len(sent)

    return step


def loop_split() -> Callable[[list], int]:
    def step(batch: list) -> int:
        sent = []
        for event in batch:
            data = event["data"]
            items = data["items"] if type(data) is dict and "items" in data else None
            if type(items) is not list:
                raise TypeError("not a list")
            sent.extend(split(event, items))
        return len(sent)

    return step


def loop_throttle() -> Callable[[list], int]:
    rate, burst = 1e12, 1e12
    buckets: dict = {}

    def step(batch: list) -> int:
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
            if tokens >= 1.0:
                state[0], state[1] = tokens - 1.0, now
                sent.append(event)
        return len(sent)

    return step


def loop_dedupe() -> Callable[[list], int]:
    seen: dict = {}
    order: collections.deque = collections.deque()

    def step(batch: list) -> int:
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
        return len(sent) + len(duplicates)

    return step


def loop_count() -> Callable[[list], int]:
    counts: dict = {}

    def step(batch: list) -> int:
        sent = []
        for event in batch:
            data = event["data"]
            key = data["host"] if type(data) is dict and "host" in data else None
            counts[key] = counts.get(key, 0) + 1
            sent.append(event)
        return len(sent)

    return step


def loop_fresh() -> Callable[[list], int]:
    # Fresh's work is per batch (count the batch, end a silence once); per event it only
    # hands the event on, here: appends it, as every loop here does with what it emits.
    state = {"seen": 0, "silent": False}

    def step(batch: list) -> int:
        sent = []
        state["seen"] += len(batch)
        if state["silent"]:
            state["silent"] = False
        for event in batch:
            sent.append(event)
        return len(sent)

    return step


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


def run_case(cls: type, variables: dict, loop: Callable[[list], int], batches: list, queues: tuple) -> tuple:
    """CPU seconds of the module and of the loop over the same batches, taken in turns, batch by batch.

    The module gets a batch, and the clock runs until it has consumed it and handed on what it
    emitted; the loop gets the same batch. Turns this short see the same machine, so load
    from other processes weighs on both alike. Whoever reads a batch first reads it from
    memory, the other from the CPU's cache (200,000 events do not fit in it, 100 do: a loop
    that goes second runs up to 1.5 times as fast), so the two take turns going first.
    Returns (module seconds, loop seconds).
    """
    h = Harness(cls, variables, batch_size=BATCH, timeout=120)
    h.start()
    module_seconds = loop_seconds = 0.0
    module_out = loop_out = 0
    clock = time.process_time
    try:
        consumed = 0
        for turn, batch in enumerate(batches):
            if turn % 2:
                began = clock()
                loop_out += loop(batch)
                loop_seconds += clock() - began
            began = clock()
            h.feed(batch)
            consumed += len(batch)
            while h.module.consumed < consumed:
                gevent.sleep(0)
            for queue in queues:  # what a pipeline hands on is soon released by the next stage
                module_out += len(h.collected(queue))
            module_seconds += clock() - began
            if not turn % 2:
                began = clock()
                loop_out += loop(batch)
                loop_seconds += clock() - began
    finally:
        h.stop()
    assert module_out == loop_out, f"{cls.__name__}: the module emitted {module_out} events, the loop {loop_out}"
    overhead = len(batches) * clock_overhead()  # each turn's reading of the clock, on both sides alike
    return module_seconds - overhead, loop_seconds - overhead


def clock_overhead(samples: int = 2001) -> float:
    """Seconds an empty interval measures (``process_time`` is a system call here, ~0.5 us):
    taken off every turn, so that it does not pull both sides' rates, and so the ratio, toward each other."""
    clock = time.process_time
    empty = []
    for _ in range(samples):
        began = clock()
        empty.append(clock() - began)
    return statistics.median(empty)


def shape_check_ns(batches: list) -> float:
    """CPU ns per event of the shape checks of the floor's two hand-offs: each batch checked twice,
    first from memory (the hand-off in), then from the cache (the hand-off out)."""
    clock = time.process_time
    began = clock()
    for batch in batches:
        split_valid(batch)
        split_valid(batch)
    return (clock() - began) / sum(map(len, batches)) * 1e9


CASES = {
    # name: (module class, variables, queues that take its output, the loop)
    "hand-offs only (a batch in, the batch out)": (HandOff, {}, ("outbox",), loop_passthrough),
    PASSTHROUGH: (Passthrough, {}, ("outbox",), loop_passthrough),
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
    # The events are held for the whole run, which no pipeline does: keep them out of the
    # garbage collector's scans, which would otherwise charge their size to whichever side
    # happens to allocate when a collection falls due.
    gc.freeze()
    header = f"{'module':44} {'module ev/s':>12} {'loop ev/s':>12} {'module/loop':>12}"
    print(f"{header} {'ns/ev over floor':>17} {'loop ns/ev':>11}")
    rows = {}
    for name, (cls, variables, queues, loop) in CASES.items():
        module_rates, loop_rates = [], []
        for _ in range(args.repeat):
            module_seconds, loop_seconds = run_case(cls, variables, loop(), batches, queues)
            module_rates.append(args.events / module_seconds)
            loop_rates.append(args.events / loop_seconds)
        module_rate, loop_rate = statistics.median(module_rates), statistics.median(loop_rates)
        rows[name] = (module_rate, loop_rate)
        floor = 1e9 / rows[FLOOR][0]
        print(
            f"{name:44} {module_rate:12,.0f} {loop_rate:12,.0f} {module_rate / loop_rate:12.0%}"
            f" {1e9 / module_rate - floor:17,.0f} {1e9 / loop_rate:11,.0f}"
        )
    print("ns/ev over floor: what the module costs per event beyond the hand-offs (the first row)")
    floor_ns = 1e9 / rows[FLOOR][0]
    checks_ns = statistics.median(shape_check_ns(batches) for _ in range(args.repeat))
    print(
        f"the floor, {floor_ns:,.0f} ns/ev: two hand-offs (into the module's inbox, out of its outbox), each"
        f" checking the shape of every event; the two checks (wishbone.event.split_valid) alone: {checks_ns:,.0f} ns/ev"
    )
    for name, (module_rate, loop_rate) in rows.items():
        allowed_ns = 1e9 / (TARGET * loop_rate)
        if name not in (FLOOR, PASSTHROUGH) and module_rate < TARGET * loop_rate and floor_ns > allowed_ns:
            print(
                f"{name}: 40% of its loop ({1e9 / loop_rate:,.0f} ns/ev) allows {allowed_ns:,.0f} ns/ev, less than"
                f" the hand-offs alone cost ({floor_ns:,.0f} ns/ev): out of reach while a hand-off checks every event"
            )
    for name, (module_rate, loop_rate) in rows.items():
        if name in (FLOOR, PASSTHROUGH):
            result(f"{name} vs a loop that does nothing", module_rate, "events/s", "reported", None, loop_rate)
            continue
        met = module_rate >= TARGET * loop_rate
        result(f"{name} vs a hand-written loop", module_rate, "events/s", ">= 40% of the loop", met, loop_rate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
