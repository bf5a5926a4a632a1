"""At-least-once through the real broker: amqp_in -> passthrough -> amqp_out, counted exactly."""

from __future__ import annotations

import gevent
from wishbone import Pipeline

N = 50_000


def pipeline(url: str, source: str, target: str, **in_vars) -> Pipeline:
    """amqp_in (source) -> passthrough -> amqp_out (target, via the default exchange)."""
    return Pipeline.from_dict(
        {
            "bootstrap": {
                "input": {"module": "amqp_in", "variables": {"url": url, "queue": source, **in_vars}},
                "pass": {"module": "passthrough"},
                "output": {"module": "amqp_out", "variables": {"url": url, "routing_key": target}},
            },
            "routingtable": {"input.outbox": ["pass.inbox"], "pass.outbox": ["output.inbox"]},
        }
    )


def wait_for(condition, deadline: float, step: float = 0.1) -> None:
    """Let the pipeline run until *condition()* holds (gevent.Timeout after *deadline* s)."""
    with gevent.Timeout(deadline, AssertionError(f"condition not met within {deadline} s")):
        while not condition():
            gevent.sleep(step)


def test_fifty_thousand_arrive_exactly_once(amqp_url, broker):
    source, target = broker.queue("in"), broker.queue("out")
    broker.publish(source, (b"%d" % i for i in range(N)))
    p = pipeline(amqp_url, source, target)
    p.start()
    try:
        wait_for(lambda: p.snapshot()["modules"]["input"]["acked"] == N, 90)
    finally:
        assert p.stop(10)
    snap = p.snapshot()["modules"]
    assert snap["output"]["confirmed"] == N
    assert snap["input"]["rejected"] == 0
    assert broker.count(source) == 0
    assert broker.count(target) == N
    assert not [g for m in p.modules.values() for g in m.greenlets() if not g.dead]
