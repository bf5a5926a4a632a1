"""Redis benchmark: redis_in -> null and testevent -> redis_out, next to bare redis-py loops.

    python bench/bench_redis.py [--events 100000] [--repeat 3]

Same batch size (100) and the same acknowledgement policy on both sides, same run:

* in: a stream of N JSON entries read with a consumer group. Bare: XREADGROUP COUNT 100, decode
  each entry's JSON, XACK the batch, in a loop. Wishbone: redis_in (XACK after null consumed the
  events) -> null. Both windows include connecting and creating the group; the Wishbone window
  ends when null has consumed the last event (checked every 5 ms), before that batch's XACK.
* out: N events written as XADD in pipelines of 100. Bare: encode each data as JSON, a
  pipeline of 100 XADDs, execute, in a loop. Wishbone: testevent -> redis_out.

Figures are events per second and CPU microseconds per event of this process (``time.process_time``:
the hub and gevent's threadpool threads alike), medians of the runs, bare and Wishbone in turns;
the ratios to the bare loop are what to quote (the machine may be shared: CPU time is the steadier).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import uuid

import gevent
import orjson
import redis
from report import WINDOW, measured, result
from wishbone import Pipeline

URL = "redis://127.0.0.1:6379/0"


def fill(client: redis.Redis, key: str, n: int) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        pipe.xadd(key, {"data": orjson.dumps({"host": "web-1", "level": "info", "n": i})})
        if len(pipe) == 1000:
            pipe.execute()
    pipe.execute()


def bare_in(key: str, n: int) -> float:
    WINDOW.start()  # connecting and creating the group count, as they do for the pipeline
    client = redis.Redis.from_url(URL)
    client.xgroup_create(key, "g", id="0")
    got = 0
    while got < n:
        reply = client.xreadgroup("g", "c", {key: ">"}, count=100, block=1000)
        entries = reply[0][1]
        [orjson.loads(fields[b"data"]) for _, fields in entries]
        client.xack(key, "g", *[entry_id for entry_id, _ in entries])
        got += len(entries)
    rate = n / WINDOW.stop()
    client.close()
    return rate


def wishbone_in(key: str, n: int) -> float:
    p = Pipeline.from_dict(
        {
            "bootstrap": {
                "input": {"module": "redis_in", "variables": {"url": URL, "key": key, "start": "0", "claim_idle": 0}},
                "output": {"module": "null"},
            },
            "routingtable": {"input.outbox": ["output.inbox"]},
        },
        load_entry_points=False,
    )
    WINDOW.start()
    p.start()
    while p.modules["output"].consumed < n:
        gevent.sleep(0.005)  # polling costs CPU in the window (~3% at 1 ms); 5 ms: <= 0.4% of the wall time
    rate = n / WINDOW.stop()
    p.stop(10)
    return rate


def bare_out(client: redis.Redis, key: str, n: int) -> float:
    WINDOW.start()
    for _ in range(n // 100):
        pipe = client.pipeline(transaction=False)
        for _ in range(100):
            pipe.xadd(key, {"data": orjson.dumps({"host": "web-1", "level": "info"})})
        pipe.execute()
    return n / WINDOW.stop()


def wishbone_out(key: str, n: int) -> float:
    p = Pipeline.from_dict(
        {
            "bootstrap": {
                "input": {
                    "module": "testevent",
                    "variables": {"interval": 0, "count": n, "payload": {"host": "web-1", "level": "info"}},
                },
                "output": {"module": "redis_out", "variables": {"url": URL, "key": key}},
            },
            "routingtable": {"input.outbox": ["output.inbox"]},
        },
        load_entry_points=False,
    )
    WINDOW.start()
    p.start()
    p.wait()
    p.stop(30)
    assert p.modules["output"].written == n
    return n / WINDOW.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    client = redis.Redis.from_url(URL)
    prefix = f"wbbench:{uuid.uuid4().hex[:8]}"
    names = ("bare in", "redis_in", "bare out", "redis_out")
    rates: dict[str, list[float]] = {k: [] for k in names}
    cpus: dict[str, list[float]] = {k: [] for k in names}
    n = args.events
    try:
        for r in range(args.repeat):
            for name, run in (("bare in", "bare"), ("redis_in", "wb")):
                key = f"{prefix}:in:{name}:{r}"
                fill(client, key, n)
                rate, cpu = measured(bare_in, key, n) if run == "bare" else measured(wishbone_in, key, n)
                rates[name].append(rate)
                cpus[name].append(cpu / n * 1e6)
                client.delete(key)
            key = f"{prefix}:out:{r}"
            for name in ("bare out", "redis_out"):
                rate, cpu = measured(bare_out, client, key, n) if name == "bare out" else measured(wishbone_out, key, n)
                rates[name].append(rate)
                cpus[name].append(cpu / n * 1e6)
                client.delete(key)
            print(
                f"  run {r + 1}: " + ", ".join(f"{k} {rates[k][-1]:,.0f}/s {cpus[k][-1]:.1f} us" for k in names),
                flush=True,
            )
    finally:
        for k in client.scan_iter(f"{prefix}*"):
            client.delete(k)
    med = {k: statistics.median(v) for k, v in rates.items()}
    cpu = {k: statistics.median(v) for k, v in cpus.items()}
    print(f"python {sys.version.split()[0]}, redis-py {redis.__version__}, {n:,} events, {args.repeat} runs")
    print(f"{'':44} {'events/s (median)':>18} {'of bare':>8} {'CPU us/event':>13} {'bare/ours':>10}")
    rows = (
        ("bare: XREADGROUP 100 + decode + XACK", "bare in", "bare in"),
        ("redis_in -> null (XACK once delivered)", "redis_in", "bare in"),
        ("bare: pipeline of 100 XADD", "bare out", "bare out"),
        ("testevent -> redis_out", "redis_out", "bare out"),
    )
    for label, k, base in rows:
        print(f"{label:44} {med[k]:18,.0f} {med[k] / med[base]:8.0%} {cpu[k]:13.1f} {cpu[base] / cpu[k]:10.0%}")
    result(
        "redis_in -> null (stream, consumer group)",
        med["redis_in"],
        "events/s",
        ">= 70% of the bare driver",
        med["redis_in"] >= 0.7 * med["bare in"],
        med["bare in"],
    )
    result(
        "testevent -> redis_out (XADD pipelines)",
        med["redis_out"],
        "events/s",
        ">= 70% of the bare driver",
        med["redis_out"] >= 0.7 * med["bare out"],
        med["bare out"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
