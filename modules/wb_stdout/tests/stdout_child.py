"""A process whose stdout is the test's pipe: testevent -> stdout, then a report on stderr.

    python stdout_child.py '{"count": 1000, "interval": 0, "payload": "x"}' '{"counter": true}'

The first argument holds testevent's variables, the second stdout's. With a count the
process ends when every event is consumed; without one it runs until SIGTERM. The last
stderr line is ``REPORT {json}``: the stdout module's metrics and the number of write
system calls the run made (from /proc/self/io).
"""

from __future__ import annotations

import json
import signal
import sys

import gevent
from wishbone import Pipeline
from wishbone.log import configure
from wishbone.testing import bootstrap


def write_calls() -> int:
    """Write system calls made so far by this process (Linux), or -1."""
    try:
        with open("/proc/self/io") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("syscw:"))
    except (OSError, StopIteration):
        return -1


def main() -> None:
    """Run the pipeline, then report."""
    configure("info", sys.stderr)
    generator, output = json.loads(sys.argv[1]), json.loads(sys.argv[2])
    doc = bootstrap({"input": ("testevent", generator), "out": ("stdout", output)}, {"input.outbox": ["out.inbox"]})
    pipeline = Pipeline.from_dict(doc)
    gevent.signal_handler(signal.SIGTERM, pipeline.request_stop)
    before = write_calls()
    pipeline.start()
    if generator.get("count"):
        pipeline.join_inputs(60)
    else:
        pipeline.wait(60)
    drained = pipeline.stop(10)
    report = {**pipeline.snapshot()["modules"]["out"], "write_calls": write_calls() - before, "drained": drained}
    print("REPORT", json.dumps(report), file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
