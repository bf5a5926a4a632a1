"""throttle: a token bucket per key; over the rate dropped (settling as done), diverted or delayed."""

from __future__ import annotations

import gc
import time

import gevent
import pytest
from wb_rate import Throttle
from wishbone import Pipeline, new_event
from wishbone.ack import track
from wishbone.testing import load_bootstrap


def test_over_the_burst_is_throttled_and_diverted(harness):
    with harness(Throttle, {"rate": 10, "burst": 5}) as h:
        h.feed([new_event(i) for i in range(20)])
        passed = h.collect("outbox", 5)
        throttled = h.collect("throttled", 15)
        metrics = h.metrics()["module"]
    assert [e["data"] for e in passed] == [0, 1, 2, 3, 4]
    assert [e["data"] for e in throttled] == list(range(5, 20))
    assert metrics["passed"] == 5 and metrics["throttled"] == 15


def test_tokens_refill_at_the_rate(harness):
    with harness(Throttle, {"rate": 20, "burst": 1}) as h:
        h.feed([new_event("a"), new_event("b")])
        h.collect("outbox", 1)
        h.collect("throttled", 1)
        gevent.sleep(0.1)  # two tokens' worth, capped at the burst of 1
        h.feed([new_event("c"), new_event("d")])
        [c] = h.collect("outbox", 1)
        [d] = h.collect("throttled", 1)
    assert (c["data"], d["data"]) == ("c", "d")


def test_each_key_has_its_own_rate(harness):
    events = [new_event({"user": u}) for u in "aaabbb"] + [new_event({}), new_event({})]
    with harness(Throttle, {"rate": 1, "burst": 2, "key": "data.user"}) as h:
        h.feed(events)
        passed = h.collect("outbox", 6)
        throttled = h.collect("throttled", 2)
        assert h.metrics()["module"]["keys"] == 3
    assert [e["data"].get("user") for e in passed] == ["a", "a", "b", "b", None, None]
    assert [e["data"]["user"] for e in throttled] == ["a", "b"]


def test_max_keys_forgets_the_oldest_key(harness):
    with harness(Throttle, {"rate": 1, "burst": 1, "key": "data", "max_keys": 2}) as h:
        h.feed([new_event(k) for k in "abca"])  # a is forgotten when c comes: it passes again
        passed = h.collect("outbox", 4)
        assert h.metrics()["module"]["evicted"] == 2
    assert [e["data"] for e in passed] == ["a", "b", "c", "a"]


def test_block_mode_delays_instead_of_dropping(harness):
    with harness(Throttle, {"rate": 50, "burst": 1, "mode": "block"}) as h:
        began = time.monotonic()
        h.feed([new_event(i) for i in range(6)])
        passed = h.collect("outbox", 6, timeout=5)
        took = time.monotonic() - began
        assert h.collected("throttled") == []
        assert h.metrics()["module"]["delayed"] == 5
    assert [e["data"] for e in passed] == list(range(6))
    assert 0.08 <= took < 2.0, took  # five waits of 1/50 s


def test_block_mode_lets_what_is_queued_pass_at_stop(harness):
    h = harness(Throttle, {"rate": 0.5, "burst": 1, "mode": "block"})
    h.start()
    h.feed([new_event(i) for i in range(4)])
    began = time.monotonic()
    h.stop(5)
    assert time.monotonic() - began < 3.0  # not 2 s per event
    assert [e["data"] for e in h.collected("outbox")] == [0, 1, 2, 3]


def test_a_throttled_event_settles_as_done(harness):
    settled: list = []
    events = [track(new_event(i), lambda tag, ok: settled.append((tag, ok)), i) for i in range(3)]
    with harness(Throttle, {"rate": 1, "burst": 1}) as h:
        h.feed(events)
        del events
        kept = h.collect("outbox", 1) + h.collect("throttled", 2)
        gc.collect()
        assert settled == []
        del kept
        gc.collect()
    assert sorted(settled) == [(0, True), (1, True), (2, True)]


def test_in_a_pipeline_an_unrouted_throttled_queue_drops_without_counting_a_loss():
    doc = {
        "bootstrap": {
            "input": {"module": "testevent", "variables": {"interval": 0, "count": 1_000}},
            "throttle": {"module": "throttle", "variables": {"rate": 1, "burst": 10}},
            "out": {"module": "null"},
        },
        "routingtable": {"input.outbox": ["throttle.inbox"], "throttle.outbox": ["out.inbox"]},
    }
    pipeline = Pipeline.from_dict(doc)
    with gevent.Timeout(20):
        pipeline.start()
        assert pipeline.join_inputs(10)
        assert pipeline.stop(10)
    snap = pipeline.snapshot()
    assert snap["modules"]["out"]["consumed"] == 10
    assert snap["modules"]["throttle"]["throttled"] == 990
    assert snap["queues"]["throttle.throttled"] == {"in": 0, "out": 0, "dropped": 0, "size": 0}


@pytest.mark.parametrize("variables", [{"rate": 0}, {"rate": 1, "burst": -1}, {"rate": 1, "max_keys": 0}])
def test_bad_parameters_are_refused(harness, variables):
    with pytest.raises(ValueError):
        harness(Throttle, variables)


def test_in_a_pipeline_throttled_tracked_events_settle_as_done(tracked_counter):
    modules = {
        "input": (tracked_counter, {"count": 300}),
        "throttle": ("throttle", {"rate": 1, "burst": 10}),
        "out": "null",
    }
    bootstrap = load_bootstrap(modules, {"input.outbox": ["throttle.inbox"], "throttle.outbox": ["out.inbox"]})
    pipeline = Pipeline(bootstrap)
    with gevent.Timeout(20):
        pipeline.start()
        assert pipeline.join_inputs(10)
        assert pipeline.stop(10)
    assert pipeline.modules["out"].consumed == 10
    assert pipeline.modules["throttle"].throttled == 290
    assert sorted(pipeline.modules["input"].settled) == [(i, True) for i in range(300)]


def test_a_key_expression_keys_the_rate(harness):
    events = [new_event({"user": {"name": u}}) for u in "aab"]
    with harness(Throttle, {"rate": 1, "burst": 1, "key_expression": "data.user.name"}) as h:
        h.feed(events)
        passed = h.collect("outbox", 2)
        [throttled] = h.collect("throttled", 1)
    assert [e["data"]["user"]["name"] for e in passed] == ["a", "b"]
    assert throttled["data"]["user"]["name"] == "a"
