"""Every message settles: an event that only a reference cycle keeps alive is not left unacknowledged.

A delivery settles when its last event is released (:mod:`wishbone.ack`). An event caught in a
reference cycle is released only by the cyclic garbage collector, which an idle process may not
run for a long time: amqp_in runs it when deliveries wait and nothing settles, counts what that
freed (``cycle_settlements``) and warns. The collector is switched off in these tests, so
nothing but amqp_in can free the cycle.
"""

from __future__ import annotations

import gc

import pytest
from wb_amqp import AMQPIn
from wb_amqp.testing import shovel, wait_for


@pytest.fixture
def no_automatic_gc():
    """The cyclic collector off (``gc.collect()`` still works), as in a process that allocates little."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def test_an_event_held_by_a_reference_cycle_is_acked_and_warned_about(
    harness, amqp_url, broker, no_automatic_gc, caplog
):
    source = broker.queue("in")
    broker.publish(source, [b"held"])
    with harness(AMQPIn, {"url": amqp_url, "queue": source}) as h:
        [event] = h.collect("outbox", 1, timeout=10)
        cycle: list = [event]
        cycle.append(cycle)  # a list that holds itself and the event: only the collector frees it
        del event, cycle
        wait_for(lambda: h.module.metrics()["acked"] == 1, 15, what="the message acked", show=h.module.metrics)
        assert h.module.metrics()["cycle_settlements"] == 1
    assert broker.count(source) == 0
    assert "settled only at a garbage collection" in caplog.text


def test_integers_beyond_64_bits_settle_without_a_garbage_collection(amqp_url, broker, no_automatic_gc):
    source, target = broker.queue("in"), broker.queue("out")
    broker.publish(source, [b"12345678901234567890123", b"[1]"])
    p = shovel(amqp_url, source, target, in_vars={"decode": "json"})
    p.start()
    try:
        wait_for(lambda: p.snapshot()["modules"]["input"]["acked"] == 2, 20, show=p.snapshot)
    finally:
        assert p.stop(10)
    assert p.snapshot()["modules"]["input"]["cycle_settlements"] == 0
