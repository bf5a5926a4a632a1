"""A fast input behind a slow output, in its own process, for the backpressure scenario.

``python -m reliability.slow_pipeline SECONDS MAXSIZE WHEN_FULL DELAY`` runs testevent (as
fast as it may) into :class:`~reliability.fixture_modules.SlowSink` for SECONDS, stops it
(a drain), and prints one JSON line: generated, consumed, dropped (by the sink's inbox).
It prints ``started`` first, so the caller can sample its RSS while it runs.
"""

from __future__ import annotations

import json
import sys

import gevent
from wishbone.builtin.testevent import TestEvent
from wishbone.pipeline import Pipeline
from wishbone.testing import load_bootstrap

from reliability.fixture_modules import SlowSink


def main(seconds: float, maxsize: int, when_full: str, delay: float) -> dict:
    """Run the pipeline for *seconds* and return its figures."""
    boot = load_bootstrap(
        {
            "input": (TestEvent, {"interval": 0, "payload": "x" * 512}),
            "output": (SlowSink, {"delay": delay}, {"inbox": {"maxsize": maxsize, "when_full": when_full}}),
        },
        {"input.outbox": ["output.inbox"]},
    )
    pipeline = Pipeline(boot, load_entry_points=False)
    pipeline.start()
    print("started", flush=True)
    gevent.sleep(seconds)
    drained = pipeline.stop(30)
    snap = pipeline.snapshot()
    inbox = snap["queues"]["output.inbox"]
    return {
        "drained": drained,
        "generated": pipeline.modules["input"].generated,
        "consumed": pipeline.modules["output"].count,
        "dropped": inbox["dropped"],
        "left": inbox["size"],
    }


if __name__ == "__main__":
    secs, size, mode, pause = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    print(json.dumps(main(secs, size, mode, pause)), flush=True)
