"""Durable queue benchmark: testevent -> passthrough (durable inbox) -> null, next to memory queues.

    python bench/bench_durable.py [--events 300000] [--repeat 3]

Both pipelines run in the same process, alternately, on the same events (a small dict payload);
the durable one writes every batch to disk with ``fsync: batch`` (synced before the sender is
released), once with ``fsync: interval`` and once with batches of 500. Then 4 testevent inputs
feed the one inbox, next to the same pipeline with memory queues, to measure group commit
(batches that arrive while a write is in flight share the next write and its sync). Figures
are medians; the ratio to the memory pipeline is what to quote. Also reported: CPU
microseconds per event (all threads), the share of the wall time the senders waited for their
writes (the queue's write_wait_ms), batches per sync, the bound the disk sets on one sender
(the median pwrite + fdatasync of a record of 100 events), the per-batch case again with its
writes handed to gevent's threadpool instead of the queue's writer thread, and that an idle
durable queue costs nothing (CPU used by an idle pipeline with one, over one second).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time

import gevent
from report import result
from wishbone import Pipeline


def run(events: int, queues: dict, batch_size: int = 100, senders: int = 1) -> tuple[float, float, float, float]:
    """(events/s, CPU us per event over all threads, share of the wall time the senders waited for
    their writes: the durable inbox's ``write_wait_ms`` summed over senders, 0 with memory queues,
    and batches per sync: how many batches one fdatasync served, 0 with memory queues).

    *senders* testevent inputs share the work of *events* and all feed the one inbox."""
    inputs = {
        f"input{i}": {
            "module": "testevent",
            "variables": {"interval": 0, "count": events // senders, "payload": {"n": 1}},
        }
        for i in range(senders)
    }
    doc = {
        "bootstrap": {**inputs, "pass": {"module": "passthrough", "queues": queues}, "out": {"module": "null"}},
        "routingtable": {**{f"{name}.outbox": ["pass.inbox"] for name in inputs}, "pass.outbox": ["out.inbox"]},
    }
    events = events // senders * senders
    p = Pipeline.from_dict(doc, load_entry_points=False, batch_size=batch_size)
    wall, cpu = time.perf_counter(), time.process_time()
    p.start()
    p.wait()
    p.stop(60)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert p.modules["out"].consumed == events, p.modules["out"].consumed
    inbox = p.snapshot()["queues"]["pass.inbox"]
    waited = inbox.get("write_wait_ms", 0) / 1000
    per_sync = events / batch_size / inbox["syncs"] if inbox.get("syncs") else 0.0
    return events / wall, cpu / events * 1e6, waited / wall, per_sync


def idle_cost(directory: str) -> float:
    doc = {
        "bootstrap": {
            "input": {"module": "testevent", "variables": {"interval": 3600}},
            "pass": {"module": "passthrough", "queues": {"inbox": {"durable": True, "path": directory}}},
            "out": {"module": "null"},
        },
        "routingtable": {"input.outbox": ["pass.inbox"], "pass.outbox": ["out.inbox"]},
    }
    p = Pipeline.from_dict(doc, load_entry_points=False)
    p.start()
    gevent.sleep(0.5)
    cpu = time.process_time()
    gevent.sleep(1.0)
    cpu = time.process_time() - cpu
    p.stop(5)
    return cpu


def fsync_latency(root: str) -> float:
    """Median seconds of one 2 KiB append + fsync in *root* (what per-batch fsync waits for)."""
    os.makedirs(root, exist_ok=True)
    fd = os.open(os.path.join(root, "probe"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    times = []
    for _ in range(100):
        t = time.perf_counter()
        os.write(fd, b"x" * 2048)
        os.fsync(fd)
        times.append(time.perf_counter() - t)
    os.close(fd)
    return statistics.median(times)


def datasync_latency(root: str) -> float:
    """Median seconds of one record of 100 events (2.4 KiB) written into space zeroed ahead +
    ``fdatasync``: the sync a durable queue waits for per write with ``fsync: batch``."""
    os.makedirs(root, exist_ok=True)
    fd = os.open(os.path.join(root, "datasync"), os.O_RDWR | os.O_CREAT, 0o600)
    record = b"x" * 2400
    os.write(fd, bytes(len(record) * 200))
    os.fsync(fd)
    times = []
    for i in range(200):
        t = time.perf_counter()
        os.pwrite(fd, record, i * len(record))
        os.fdatasync(fd)
        times.append(time.perf_counter() - t)
    os.close(fd)
    return statistics.median(times)


@contextlib.contextmanager
def threadpool_handoff():
    """Within it, durable queues hand their writes to the hub's threadpool (``spawn`` + ``rawlink``:
    a result object and an async watcher made per write) instead of their own writer thread, the
    same jobs and the same completion in the hub: the hand-off alone is compared."""
    from wishbone.durable import _Writer

    def submit(self, job, args, done):
        result = gevent.get_hub().threadpool.spawn(job, *args)
        result.rawlink(lambda r: done(r.successful(), r.value if r.successful() else r.exception))

    own = _Writer.submit
    _Writer.submit = submit
    try:
        yield
    finally:
        _Writer.submit = own


def storage_layers(root: str, batches: int = 1000) -> dict[str, float]:
    """Seconds per batch of 100 events for the two bases the issue names, both synced per batch:
    an append-only segment (one msgpack record per batch + CRC, write + fsync), the same segment
    written into space zeroed ahead (pwrite + fdatasync: what DurableQueue does, no file metadata
    to commit per sync) and SQLite in WAL mode (one row per event, executemany + commit,
    synchronous=FULL)."""
    import sqlite3
    import zlib

    import msgpack

    batch = [[{"n": i}, {"i": i, "text": "x" * 40}] for i in range(100)]
    os.makedirs(root, exist_ok=True)
    fd = os.open(os.path.join(root, "seg"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    t = time.perf_counter()
    for _ in range(batches):
        payload = msgpack.packb(batch, use_bin_type=True)
        os.write(fd, zlib.crc32(payload).to_bytes(4, "big") + payload)
        os.fsync(fd)
    segment = (time.perf_counter() - t) / batches
    os.close(fd)
    fd = os.open(os.path.join(root, "zeroed"), os.O_RDWR | os.O_CREAT, 0o600)
    payload = msgpack.packb(batch, use_bin_type=True)
    os.write(fd, bytes((len(payload) + 4) * batches))
    os.fsync(fd)
    t, pos = time.perf_counter(), 0
    for _ in range(batches):
        payload = msgpack.packb(batch, use_bin_type=True)
        pos += os.pwrite(fd, zlib.crc32(payload).to_bytes(4, "big") + payload, pos)
        os.fdatasync(fd)
    zeroed = (time.perf_counter() - t) / batches
    os.close(fd)
    db = sqlite3.connect(os.path.join(root, "q.sqlite"))
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE q (id INTEGER PRIMARY KEY, event BLOB)")
    t = time.perf_counter()
    for _ in range(batches):
        db.executemany("INSERT INTO q (event) VALUES (?)", [(msgpack.packb(e, use_bin_type=True),) for e in batch])
        db.commit()
    sqlite = (time.perf_counter() - t) / batches
    db.close()
    return {
        "segment append + fsync": segment,
        "segment zeroed ahead, pwrite + fdatasync": zeroed,
        "SQLite WAL insert + commit": sqlite,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    root = tempfile.mkdtemp(prefix="wb-bench-durable-")
    try:
        return measure(args, root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


#: The per-batch case again, its writes handed to gevent's threadpool instead of the queue's writer thread.
POOL = "durable inbox, fsync per batch, threadpool"


def measure(args: argparse.Namespace, root: str) -> int:
    """Run every case in turns under *root*, print the table and the RESULT lines."""
    cases = {
        "memory queues": lambda i: {},
        "durable inbox, fsync per batch": lambda i: {"inbox": {"durable": True, "path": f"{root}/b{i}"}},
        POOL: lambda i: {"inbox": {"durable": True, "path": f"{root}/p{i}"}},
        "durable inbox, fsync every 1 s": lambda i: {
            "inbox": {"durable": True, "path": f"{root}/i{i}", "fsync": "interval"}
        },
        "durable inbox, fsync per batch of 500": lambda i: {"inbox": {"durable": True, "path": f"{root}/l{i}"}},
        "memory queues, 4 senders": lambda i: {},
        "durable inbox, fsync per batch, 4 senders": lambda i: {"inbox": {"durable": True, "path": f"{root}/s{i}"}},
    }
    batch_sizes = {"durable inbox, fsync per batch of 500": 500}
    senders = {"memory queues, 4 senders": 4, "durable inbox, fsync per batch, 4 senders": 4}
    rates: dict[str, list[float]] = {name: [] for name in cases}
    cpus: dict[str, list[float]] = {name: [] for name in cases}
    waits: dict[str, list[float]] = {name: [] for name in cases}
    per_sync: dict[str, list[float]] = {name: [] for name in cases}
    for i in range(args.repeat):
        for name, queues in cases.items():
            with threadpool_handoff() if name == POOL else contextlib.nullcontext():
                rate, cpu, waited, batches = run(
                    args.events, queues(i), batch_sizes.get(name, 100), senders.get(name, 1)
                )
            rates[name].append(rate)
            cpus[name].append(cpu)
            waits[name].append(waited)
            per_sync[name].append(batches)
    idle = idle_cost(f"{root}/idle")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"python {sys.version.split()[0]}, {args.events:,} events, {args.repeat} runs (medians), load average {load}")
    print(
        f"{'testevent -> passthrough -> null':42} {'events/s':>12} {'of memory':>10} {'CPU us/event':>13}"
        f" {'senders waited for the disk':>28} {'batches per sync':>17}"
    )
    memory = statistics.median(rates["memory queues"])
    memory_4 = statistics.median(rates["memory queues, 4 senders"])
    for name in cases:
        rate = statistics.median(rates[name])
        wait = statistics.median(waits[name])
        base = memory_4 if name.endswith("4 senders") else memory
        print(
            f"{name:42} {rate:12,.0f} {rate / base:10.0%} {statistics.median(cpus[name]):13.2f} {wait:28.0%}"
            f" {f'{statistics.median(per_sync[name]):.1f}' if per_sync[name][0] else '-':>17}"
        )
    print("(4 senders: 4 testevent inputs into the one inbox, against memory queues with 4 senders; their")
    print(" waits are summed, so they may pass 100% of the wall time)")
    for name in ("durable inbox, fsync per batch", POOL):
        rate = statistics.median(rates[name])
        per_write = statistics.median(waits[name]) / rate * 100
        print(
            f"{name}: the sender waited {per_write * 1000:.2f} ms per batch of 100 for the hand-off, "
            f"pwrite and fdatasync; that alone allows at most {100 / per_write:,.0f} events/s"
        )
    datasync = datasync_latency(f"{root}/datasync")
    print(
        f"the disk's bound: one 2.4 KiB pwrite + fdatasync takes {datasync * 1000:.3f} ms (median), so one sender "
        f"syncing every batch of 100 gets at most {100 / datasync:,.0f} events/s ({100 / datasync / memory:.0%} of "
        "memory queues) even if all else were free"
    )
    print(f"idle pipeline with a durable inbox: {idle * 1000:.1f} ms CPU in 1 s")
    layers = storage_layers(f"{root}/layers")
    for name, seconds in layers.items():
        print(f"storage layer, {name}: {seconds * 1000:.2f} ms per batch of 100 ({100 / seconds:,.0f} events/s)")
    sync = fsync_latency(root)
    print(f"one 2 KiB append + fsync on this disk: {sync * 1000:.2f} ms (median): per-batch fsync waits this per batch")
    durable = statistics.median(rates["durable inbox, fsync per batch"])
    durable_cpu = statistics.median(cpus["durable inbox, fsync per batch"])
    memory_cpu = statistics.median(cpus["memory queues"])
    result(
        "durable inbox (fsync per batch): testevent -> passthrough -> null",
        durable,
        "events/s",
        ">= 100,000 events/s and >= 30% of memory queues",
        durable >= 100_000 and durable >= 0.3 * memory,
        memory,
    )
    result(
        "durable inbox (fsync per batch): CPU per event, all threads",
        durable_cpu,
        "us/event",
        "(CPU-bound, 30% of memory queues' rate is 3.3x their CPU)",
        None,
        memory_cpu,
    )
    durable_4 = statistics.median(rates["durable inbox, fsync per batch, 4 senders"])
    result(
        "durable inbox (fsync per batch), 4 senders: 4 testevent -> passthrough -> null",
        durable_4,
        "events/s",
        ">= 30% of memory queues with 4 senders (group commit)",
        durable_4 >= 0.3 * memory_4,
        memory_4,
    )
    result(
        "durable queue idle CPU over 1 s",
        idle * 1000,
        "ms",
        "~0 (no timer; the writer thread ends after 1 s idle)",
        idle < 0.01,
        None,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
