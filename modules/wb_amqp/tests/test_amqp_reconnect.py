"""Lost connections: the broker force-closes them mid-stream; nothing is lost, nothing leaks."""

from __future__ import annotations

import gc
import os

import gevent
import greenlet
from wb_amqp.testing import ids, rabbitmqctl, shovel, wait_for

N = 50_000
FAST = {"reconnect_delay": 0.1, "reconnect_max_delay": 1.0}


def live_greenlets() -> int:
    """Greenlets alive in this process right now (a leak shows as a growing number)."""
    return sum(1 for o in gc.get_objects() if isinstance(o, greenlet.greenlet) and not o.dead and o.parent is not None)


def open_fds() -> int:
    """File descriptors open in this process (sockets and pipes leak here first)."""
    return len(os.listdir("/proc/self/fd"))


def test_connections_force_closed_twice_lose_nothing(amqp_url, broker, vhost, record_property):
    source, target = broker.queue("in"), broker.queue("out")
    broker.publish(source, (b"%d" % i for i in range(N)))
    # A window smaller than the prefetch: the output also blocks on a full window when the connection goes.
    p = shovel(amqp_url, source, target, in_vars=FAST, out_vars={**FAST, "window": 200})
    modules = p.snapshot
    p.start()
    try:
        wait_for(lambda: modules()["modules"]["output"]["confirmed"] > 2000, 30, what="a first part delivered")
        greenlets, fds = live_greenlets(), open_fds()
        for round_, share in enumerate((N // 3, 2 * N // 3), start=1):
            wait_for(lambda share=share: modules()["modules"]["output"]["confirmed"] >= share, 60, what="progress")
            rabbitmqctl("close_all_connections", "--vhost", vhost, "test")
            for name in ("input", "output"):
                wait_for(lambda name=name, r=round_: modules()["modules"][name]["reconnects"] >= r, 20, what="lost")
            wait_for(
                lambda: all(modules()["modules"][m]["connected"] for m in ("input", "output")), 20, what="reconnected"
            )
        broker.reconnect()
        wait_for(
            lambda: broker.count(source) == 0 and modules()["modules"]["input"]["unacked"] == 0,
            90,
            step=0.3,
            what="input queue empty, everything acked",
            show=lambda: (broker.count(source), modules()["modules"], modules()["queues"]),
        )
        gevent.sleep(0.2)
        # Same number of greenlets and descriptors as before the two losses: nothing leaked.
        assert live_greenlets() <= greenlets
        assert open_fds() == fds
    finally:
        assert p.stop(10)
    snap = p.snapshot()["modules"]
    assert snap["input"]["reconnects"] == 2 and snap["output"]["reconnects"] == 2
    distinct, duplicates = ids(broker.take_all(target))
    assert distinct == set(range(N)), f"{N - len(distinct)} message(s) lost"
    record_property("duplicates", duplicates)
    print(f"\n{duplicates} duplicate(s) of {N} after two forced reconnects (at-least-once)")
    assert duplicates <= 2 * (500 + 200 + 100)  # at most what was in flight: prefetch + window + a batch
    assert not [g for m in p.modules.values() for g in m.greenlets() if not g.dead]
