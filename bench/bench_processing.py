"""Processing benchmark: a parse-route-edit-serialize chain, and each module next to a hand-written loop.

    python bench/bench_processing.py [--events 300000] [--repeat 5]

1. The chain ``testevent (JSON text) -> decode json -> switch (2 cases) -> modify (set 2
   fields, delete 1) -> encode json -> null``, in events/s at the source. Its baseline, in the
   same run, is the same pipeline with every processor replaced by ``passthrough``: what the
   framework itself costs for as many hops. Without the ``decode``/``encode`` modules (wb-codec)
   installed, the chain runs without them on dict payloads, and says so.
2. Each module alone, driven as the framework drives it (``consume_batch``, or ``consume`` per
   event, on fresh batches of 100, and the hand-off of what it emitted into routed queues: see
   :func:`time_side_by_side`), against a hand-written Python loop doing the same work on the
   same events (appending to lists where the module emits), the two taking turns batch by
   batch. The ratio (median of the runs' ratios) is the figure.

The machine is shared and noisy: every figure is the median of several runs; quote the ratios.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import statistics
import sys
import time
from collections.abc import Callable

import gevent
from report import result
from wishbone import Pipeline
from wishbone.discovery import available
from wishbone.queue import DestinationQueue, connect

BATCH = 100
PAYLOAD = {"level": "warning", "service": "db", "message": "slow query", "debug": "trace=1", "n": 1}
CASES = [
    {"when": "data.level == 'error'", "queue": "errors"},
    {"when": "data.service == 'db'", "queue": "db"},
]
OPERATIONS = [
    {"set": "data.env", "value": "prod"},
    {"set": "data.index", "value": "logs-{{ data.service }}"},
    {"delete": "data.debug"},
]
LEVELS = ("error", "warning", "info", "debug")
SERVICES = ("db", "api", "web")


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def have_codec() -> bool:
    modules = available()
    return "decode" in modules and "encode" in modules


# ---------------------------------------------------------------------------------- the chain
def run_pipeline(modules: dict, routes: dict, events: int, sink: str) -> float:
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
    got = pipeline.modules[sink].consumed
    assert got == events, (got, events)
    assert sum(m.failed for m in pipeline.modules.values()) == 0, "an event failed"
    return events / elapsed


def chain(events: int, codec: bool, passthrough: bool = False) -> float:
    payload = json.dumps(PAYLOAD) if codec else PAYLOAD
    stages: list[tuple[str, str, dict]] = []
    if codec:
        stages.append(("decode", "decode", {"codec": "json"}))
    stages.append(("switch", "switch", {"cases": CASES}))
    stages.append(("modify", "modify", {"operations": OPERATIONS}))
    if codec:
        stages.append(("encode", "encode", {"codec": "json"}))
    modules: dict = {"input": ("testevent", {"interval": 0, "count": events, "payload": payload})}
    for name, module, variables in stages:
        modules[name] = ("passthrough", {}) if passthrough else (module, variables)
    modules["out"] = ("null", {})
    routes: dict = {}
    names = ["input", *[stage[0] for stage in stages], "out"]
    for here, there in zip(names, names[1:], strict=False):
        if here == "switch" and not passthrough:  # every case's queue and the default go on
            routes.update({f"switch.{queue}": [f"{there}.inbox"] for queue in ("errors", "db", "outbox")})
        else:
            routes[f"{here}.outbox"] = [f"{there}.inbox"]
    return run_pipeline(modules, routes, events, "out")


# ---------------------------------------------------------------------------- modules alone
def make_events(n: int, text: bool) -> list[list[dict]]:
    """Fresh batches of varied events (made before the clock starts)."""
    batches, batch = [], []
    for i in range(n):
        data = dict(PAYLOAD, level=LEVELS[i % 4], service=SERVICES[i % 3], n=i)
        batch.append({"headers": {}, "data": json.dumps(data) if text else data})
        if len(batch) == BATCH:
            batches.append(batch)
            batch = []
    if batch:
        batches.append(batch)
    return batches


def build_module(entry: str, variables: dict) -> tuple:
    """The module, bound, each queue it emits to routed into a sink; and those sinks."""
    cls = available()[entry].load()
    module = cls(**variables)
    module.bind("bench", variables=variables)
    sinks = []
    for queue in cls.source_queue_names(variables):
        sink = DestinationQueue(f"sink.{queue}", maxsize=1 << 30)
        connect(module.add_source_queue(queue), sink)
        sinks.append(sink)
    return module, sinks


def time_side_by_side(entry: str, variables: dict, loop: Callable[[list, list], None], text: bool, events: int):
    """events/s of the module and of the hand-written loop, timed batch by batch in turns.

    The module is driven as the framework drives it: ``consume_batch`` (or ``consume`` per
    event) and the hand-off of what it emitted into routed queues. The hand-off is the
    framework's work, not the module's, but a module that hands its batches on itself
    (``emit_batch``) cannot be timed without it: it is timed for every module, so the ratio
    is conservative. The loop appends to lists. Taking turns batch by batch, both see the
    same load on this shared machine. What reaches the sinks is dropped, untimed.
    """
    module, sinks = build_module(entry, variables)
    consume, consume_batch, flush = module.consume, module.consume_batch, module.flush
    clock = time.perf_counter
    mine = hand = 0.0
    out: list = []
    for batch, same in zip(make_events(events, text), make_events(events, text), strict=True):
        start = clock()
        if consume_batch is not None:  # what the framework calls when the module has it
            consume_batch(batch)
        else:
            for event in batch:
                consume(event)
        flush()
        middle = clock()
        loop(same, out)
        end = clock()
        mine += middle - start
        hand += end - middle
        out.clear()
        for sink in sinks:
            sink.discard()
    assert module.failed == 0
    return events / mine, events / hand


def hand_switch(batch: list, out: list) -> None:
    """By hand: the two cases, a default; each event to one of three lists."""
    errors: list = []
    db: list = []
    for event in batch:
        data = event["data"]
        if type(data) is dict and data.get("level") == "error":
            errors.append(event)
        elif type(data) is dict and data.get("service") == "db":
            db.append(event)
        else:
            out.append(event)


def hand_modify(batch: list, out: list) -> None:
    """By hand: set a constant, set a formatted string, delete a key."""
    for event in batch:
        data = event["data"]
        data["env"] = "prod"
        data["index"] = "logs-" + str(data.get("service", ""))
        data.pop("debug", None)
        out.append(event)


def hand_filter(batch: list, out: list) -> None:
    for event in batch:
        data = event["data"]
        if not (type(data) is dict and data.get("level") == "debug"):
            out.append(event)


def hand_decode(batch: list, out: list) -> None:
    """By hand: orjson, the fastest JSON parser here (what the json codec uses)."""
    import orjson

    loads = orjson.loads
    for event in batch:
        event["data"] = loads(event["data"])
        out.append(event)


def hand_encode(batch: list, out: list) -> None:
    """By hand: orjson to text."""
    import orjson

    dumps = orjson.dumps
    for event in batch:
        event["data"] = dumps(event["data"]).decode()
        out.append(event)


ALONE: list[tuple[str, str, dict, Callable, bool]] = [
    ("switch (2 cases, first match)", "switch", {"cases": CASES}, hand_switch, False),
    ("modify (set 2 fields, delete 1)", "modify", {"operations": OPERATIONS}, hand_modify, False),
    ("filter (drop debug)", "filter", {"when": "data.level == 'debug'"}, hand_filter, False),
]
CODEC_ALONE: list[tuple[str, str, dict, Callable, bool]] = [
    ("decode json", "decode", {"codec": "json"}, hand_decode, True),
    ("encode json", "encode", {"codec": "json"}, hand_encode, False),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    codec = have_codec()
    wanted = ("jmespath", "Jinja2", "orjson", "wb-route", "wb-modify", "wb-codec")
    versions = ", ".join(f"{d} {importlib.metadata.version(d)}" for d in wanted if _installed(d))
    print(f"python {sys.version.split()[0]}, gevent {gevent.__version__}, {versions}")
    print(f"{args.events:,} events, {args.repeat} runs, medians")
    if not codec:
        print("wb-codec (decode/encode) is not installed: the chain runs WITHOUT decode/encode, on dict payloads")
    name = (
        "testevent (JSON text) -> decode -> switch -> modify -> encode -> null"
        if codec
        else "testevent (dict) -> switch -> modify -> null  [no codec]"
    )

    # 1. the chain, and the same hops as passthroughs
    rates = {"chain": [], "passthrough": []}
    for _ in range(args.repeat):
        rates["chain"].append(chain(args.events, codec))
        rates["passthrough"].append(chain(args.events, codec, passthrough=True))
    full, base = statistics.median(rates["chain"]), statistics.median(rates["passthrough"])
    print(f"\n{'pipeline':70} {'events/s':>12} {'of baseline':>12}")
    print(f"{'same hops, every processor a passthrough (baseline)':70} {base:12,.0f} {1:12.0%}")
    print(f"{name:70} {full:12,.0f} {full / base:12.0%}")
    result(name, full, "events/s", ">= 250,000 events/s", full >= 250_000, base)

    # 2. each module alone against a hand-written loop
    rows = ALONE + (CODEC_ALONE if codec else [])
    print(f"\n{'module alone':36} {'module ev/s':>12} {'by hand ev/s':>13} {'ratio':>7}  target >= 40%")
    for label, entry, variables, loop, text in rows:
        runs = [time_side_by_side(entry, variables, loop, text, args.events) for _ in range(args.repeat)]
        m, h = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
        ratio = statistics.median(r[0] / r[1] for r in runs)
        print(f"{label:36} {m:12,.0f} {h:13,.0f} {ratio:7.0%}  {'met' if ratio >= 0.4 else 'NOT MET'}")
        result(f"{label} alone, against a hand-written loop", m, "events/s", ">= 40% of the loop", ratio >= 0.4, h)
    if not codec:
        print("(decode/encode alone not measured: wb-codec is not installed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
