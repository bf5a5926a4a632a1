"""One worker process: udp_in on a port -> null, until SIGTERM; then prints its counts as JSON.

    python udp_worker.py PORT

Prints ``ready`` once listening. Used by the SO_REUSEPORT test: two of these share a port.
"""

from __future__ import annotations

import json
import signal
import sys

import gevent
from wishbone import Pipeline
from wishbone.testing import bootstrap


def main() -> None:
    """Run the pipeline until SIGTERM, then report."""
    port = int(sys.argv[1])
    doc = bootstrap({"udp": ("udp_in", {"port": port}), "sink": ("null", {})}, {"udp.outbox": ["sink.inbox"]})
    pipeline = Pipeline.from_dict(doc)
    gevent.signal_handler(signal.SIGTERM, pipeline.request_stop)
    pipeline.start()
    print("ready", flush=True)
    pipeline.wait(60)
    pipeline.stop(10)
    snap = pipeline.snapshot()["modules"]
    print(json.dumps({"datagrams": snap["udp"]["datagrams"], "consumed": snap["sink"]["consumed"]}), flush=True)


if __name__ == "__main__":
    main()
