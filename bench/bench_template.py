"""Template benchmark: a line template rendered per event and per batch, next to a hand-written f-string.

    python bench/bench_template.py [--batches 20000] [--repeat 7]

The template is file_out's line of bench/bench_syslog.py, ``{{ data.timestamp }} {{ data.host }}
{{ data.app }}[{{ data.procid }}]: {{ data.message }}``, over batches of 100 events holding what syslog_in parses.
Rows, in nanoseconds per event (the best of *repeat* runs, each *batches* batches):

* ``render per event``: ``[template.render(e) for e in batch]`` (what an output did per event);
* ``render_batch``: ``template.render_batch(batch)`` (one comprehension for the batch);
* baseline: a hand-written comprehension of the same f-string, the least Python does for it.
"""

from __future__ import annotations

import argparse
import sys
import time

from report import result
from wishbone.template import compile_template

LINE = "{{ data.timestamp }} {{ data.host }} {{ data.app }}[{{ data.procid }}]: {{ data.message }}"
#: What syslog_in makes of ``<38>1 2026-12-01T13:00:00.123456+00:00 web-03 checkout 1234 - - payment refused``.
FIELDS = {
    "facility": 4,
    "severity": 6,
    "timestamp": "2026-12-01T13:00:00.123456+00:00",
    "host": "web-03",
    "app": "checkout",
    "procid": "1234",
    "msgid": None,
    "structured_data": None,
    "message": "payment refused",
    "rfc": "5424",
}


def by_hand(batch: list) -> list[str]:
    return [
        f"{d['timestamp']} {d['host']} {d['app']}[{d['procid']}]: {d['message']}"
        for d in [event["data"] for event in batch]
    ]


def best(func, batch: list, batches: int, repeat: int) -> float:
    """The fastest of *repeat* runs of *func(batch)* *batches* times: nanoseconds per event."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(batches):
            func(batch)
        times.append(time.perf_counter() - start)
    return min(times) / (batches * len(batch)) * 1e9


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    template = compile_template(LINE)
    batch = [{"headers": {"syslog": {"transport": "tcp"}}, "data": dict(FIELDS)} for _ in range(100)]
    assert template.render_batch(batch) == [template.render(e) for e in batch] == by_hand(batch)
    rows = {
        "render per event": lambda b: [template.render(e) for e in b],
        "render_batch": template.render_batch,
        "hand-written f-string comprehension": by_hand,
    }
    figures = {name: best(func, batch, args.batches, args.repeat) for name, func in rows.items()}
    base = figures["hand-written f-string comprehension"]
    print(f"python {sys.version.split()[0]}, batches of 100, best of {args.repeat} runs of {args.batches:,} batches")
    for name, ns in figures.items():
        print(f"   {name:40} {ns:8.0f} ns/event   {ns / base:5.0%} of the hand-written")
    result(
        f"line template, 5 lookups, render_batch ({figures['render_batch'] / base:.0%} of a hand-written f-string)",
        figures["render_batch"],
        "ns/event",
        "(no target; per event: " + f"{figures['render per event']:.0f} ns)",
        None,
        base,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
