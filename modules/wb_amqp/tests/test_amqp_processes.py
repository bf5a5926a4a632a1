"""Instances as processes: one killed with SIGKILL mid-stream and restarted; two sharing a queue."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from wb_amqp.testing import ids, shovel, shovel_document, wait_for

# The pipeline process: built from a bootstrap document, running until SIGTERM (then drained).
RUNNER = """
import json, signal, sys
import gevent
from wishbone import Pipeline
from wishbone.log import configure
configure("info")
p = Pipeline.from_dict(json.loads(sys.argv[1]))
gevent.signal_handler(signal.SIGTERM, p.request_stop)
p.start()
p.wait()
sys.exit(0 if p.stop(10) else 1)
"""


def start(document: dict) -> subprocess.Popen:
    """A pipeline process for *document* (stderr kept for the failure message)."""
    return subprocess.Popen(
        [sys.executable, "-c", RUNNER, json.dumps(document)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )


def poll(condition, deadline: float, what: str) -> None:
    """Wait (blocking: no pipeline runs in this process) until *condition()* holds."""
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"{what} not met within {deadline} s"
        time.sleep(0.1)


def test_kill_9_mid_stream_then_restart_delivers_every_message(amqp_url, broker, record_property):
    n = 20_000
    source, target = broker.queue("in"), broker.queue("out")
    broker.publish(source, (b"%d" % i for i in range(n)))
    document = shovel_document(amqp_url, source, target)
    first = start(document)
    try:
        poll(lambda: broker.count(target) >= n // 5, 30, "a fifth delivered")
    finally:
        first.kill()
        first.communicate(timeout=10)
    assert first.returncode == -signal.SIGKILL
    assert broker.count(target) < n, "killed too late to test anything"
    second = start(document)
    try:
        # The broker requeued what the killed process held unacknowledged; the second one takes it all.
        poll(lambda: broker.count(source) == 0 and broker.count(target) >= n, 60, "everything moved")
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=30)
    finally:
        if second.poll() is None:
            second.kill()
            second.communicate(timeout=10)
    assert second.returncode == 0, err.decode(errors="replace")[-2000:]
    assert broker.count(source) == 0
    distinct, duplicates = ids(broker.take_all(target, idle=0.5))
    assert distinct == set(range(n)), f"{n - len(distinct)} message(s) lost"
    record_property("duplicates", duplicates)
    print(f"\n{duplicates} duplicate(s) of {n} after kill -9 and restart (at-least-once)")


def test_two_instances_share_one_queue_and_split_the_work(amqp_url, broker):
    n = 10_000
    source, target = broker.queue("in"), broker.queue("out")
    broker.publish(source, (b"%d" % i for i in range(n)))
    small = {"prefetch": 50}
    instances = [shovel(amqp_url, source, target, in_vars=small), shovel(amqp_url, source, target, in_vars=small)]
    for p in instances:
        p.start()
    acked = lambda: [p.snapshot()["modules"]["input"]["acked"] for p in instances]  # noqa: E731
    try:
        wait_for(lambda: sum(acked()) == n, 60, what="all acked", show=acked)
    finally:
        for p in instances:
            assert p.stop(10)
    split = acked()
    assert sum(split) == n and min(split) >= n // 10, f"the work was not shared: {split}"
    assert broker.count(source) == 0
    assert broker.count(target) == n
