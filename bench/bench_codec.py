"""JSON codec benchmark: orjson next to the standard library's json, same events, same run.

    python bench/bench_codec.py [--events 20000] [--repeat 7]

Three typical events are decoded and encoded *events* times each, *repeat* times: a log
record (a dozen fields, nested headers, non-ASCII text), a metric (a few numbers), and a
bare JSON string. Rows:

* ``stdlib``: ``json.loads(bytes)`` and ``json.dumps(value, ensure_ascii=False,
  separators=(",", ":")).encode()`` (the same bytes the codec writes: compact, UTF-8).
* ``orjson``: ``orjson.loads`` and ``orjson.dumps`` with the options the codec uses.
* ``codec``: ``wishbone.codec.get("json")`` decode/encode, which is orjson plus the checks
  the codec adds (the long-integer guard, list wrapping): what a module pays.

Medians of the runs are printed in events/s with each row's ratio to stdlib. The codec takes
orjson if it is faster here (it is the choice recorded in ``wishbone/codec.py``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import orjson
from report import result
from wishbone import codec

EVENTS = {
    "log record": {
        "timestamp": "2026-12-01T07:44:45.123456Z",
        "level": "error",
        "service": "checkout",
        "host": "web-03.example.net",
        "message": "payment refusée: carte expirée ✗",
        "user": {"id": 481516, "name": "Zoë", "roles": ["buyer", "beta"]},
        "request": {"method": "POST", "path": "/api/v2/pay", "status": 402, "duration_ms": 183.25},
        "tags": ["payments", "eu-west-1"],
        "retry": False,
        "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    },
    "metric": {"name": "cpu.load", "value": 0.73, "host": "db-1", "ts": 1764575085},
    "string": "just a string",
}


def timed(func, items: list) -> float:
    """Items per second through *func*."""
    start = time.perf_counter()
    for item in items:
        func(item)
    return len(items) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    json_codec = codec.get("json")
    options = orjson.OPT_NON_STR_KEYS

    def std_dumps(value):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")

    rows = {
        "decode": {"stdlib": json.loads, "orjson": orjson.loads, "codec": json_codec.decode},
        "encode": {
            "stdlib": std_dumps,
            "orjson": lambda v: orjson.dumps(v, option=options),
            "codec": json_codec.encode,
        },
    }
    print(f"python {sys.version.split()[0]}, orjson {orjson.__version__}, {args.events:,} events, {args.repeat} runs")
    print(f"{'':24} {'stdlib':>12} {'orjson':>12} {'codec':>12} {'orjson/std':>11} {'codec/std':>10}")
    ratios: dict[str, list[float]] = {"decode": [], "encode": []}
    for name, value in EVENTS.items():
        raw = std_dumps(value)
        assert orjson.dumps(value, option=options) == raw, "orjson and stdlib must write the same bytes"
        assert json_codec.decode(raw) == [value]
        for op, funcs in rows.items():
            items = [raw if op == "decode" else value] * args.events
            rates = {}
            for label, func in funcs.items():
                rates[label] = statistics.median(timed(func, items) for _ in range(args.repeat))
            ratios[op].append(rates["orjson"] / rates["stdlib"])
            print(
                f"{op + ' ' + name:24} {rates['stdlib']:12,.0f} {rates['orjson']:12,.0f} {rates['codec']:12,.0f}"
                f" {rates['orjson'] / rates['stdlib']:10.1f}x {rates['codec'] / rates['stdlib']:9.1f}x"
            )
            if name == "log record":
                result(
                    f"json {op} of a log record (wishbone.codec)",
                    rates["codec"],
                    "events/s",
                    "faster than stdlib json",
                    rates["codec"] > rates["stdlib"],
                    rates["stdlib"],
                )
    for op, values in ratios.items():
        print(f"median orjson/stdlib {op}: {statistics.median(values):.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
