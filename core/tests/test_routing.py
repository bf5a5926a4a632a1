"""Routing: 1-1, 1-n with independent copies, n-1 funnels, unrouted queues."""

from __future__ import annotations

from wishbone import Pipeline
from wishbone.testing import bootstrap


def test_one_to_one_delivers_every_event(run_to_completion):
    p = Pipeline.from_dict(
        bootstrap(
            {"input": ("testevent", {"interval": 0, "count": 12345}), "pt": ("passthrough", {}), "out": ("null", {})},
            {"input.outbox": ["pt.inbox"], "pt.outbox": ["out.inbox"]},
        )
    )
    assert run_to_completion(p)
    snap = p.snapshot()
    assert snap["modules"]["out"]["consumed"] == 12345
    assert snap["queues"]["pt.outbox"] == {"in": 12345, "out": 12345, "dropped": 0, "size": 0}


def test_one_to_many_and_many_to_one_counts_are_exact(run_to_completion):
    # the seed's shape: 1-n fan-out into three passthroughs, n-1 funnel into one sink
    p = Pipeline.from_dict(
        bootstrap(
            {
                "input": ("testevent", {"interval": 0, "count": 10000}),
                "a": ("passthrough", {}),
                "b": ("passthrough", {}),
                "c": ("passthrough", {}),
                "sink": ("null", {}),
            },
            {
                "input.outbox": ["a.inbox", "b.inbox", "c.inbox"],
                "a.outbox": ["sink.inbox"],
                "b.outbox": ["sink.inbox"],
                "c.outbox": ["sink.inbox"],
            },
        )
    )
    assert run_to_completion(p)
    snap = p.snapshot()
    for name in "abc":
        assert snap["modules"][name]["consumed"] == 10000
    assert snap["modules"]["sink"]["consumed"] == 30000
    assert snap["queues"]["sink.inbox"]["in"] == 30000


def test_unrouted_source_queue_counts_drops(run_to_completion):
    p = Pipeline.from_dict(bootstrap({"input": ("testevent", {"interval": 0, "count": 500})}, {}))
    assert run_to_completion(p)
    assert p.snapshot()["queues"]["input.outbox"]["dropped"] == 500
