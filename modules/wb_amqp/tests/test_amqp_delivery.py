"""At-least-once through the real broker: amqp_in -> passthrough -> amqp_out, counted exactly."""

from __future__ import annotations

from wb_amqp.testing import shovel, wait_for

N = 50_000


def test_fifty_thousand_arrive_exactly_once(amqp_url, broker):
    source, target = broker.queue("in"), broker.queue("out")
    broker.publish(source, (b"%d" % i for i in range(N)))
    p = shovel(amqp_url, source, target)
    p.start()
    try:
        wait_for(lambda: p.snapshot()["modules"]["input"]["acked"] == N, 90, what="all acked")
    finally:
        assert p.stop(10)
    snap = p.snapshot()["modules"]
    assert snap["output"]["confirmed"] == N
    assert snap["input"]["rejected"] == 0
    assert broker.count(source) == 0
    assert broker.count(target) == N
    assert not [g for m in p.modules.values() for g in m.greenlets() if not g.dead]
