"""tippingbucket: by size, by age, per key, bounded, at stop; every original settles with the bucket."""

from __future__ import annotations

import gc
import time

import gevent
import pytest
from wb_batch import TippingBucket
from wishbone import Pipeline, new_event
from wishbone.ack import mark_failed, track
from wishbone.params import ParameterError
from wishbone.testing import load_bootstrap
from wishbone.testing.samples import Exploding


def tracked(values, settled):
    """Tracked events whose settlements append ``(tag, ok)`` to *settled*."""
    return [track(new_event(v), lambda tag, ok: settled.append((tag, ok)), v) for v in values]


def test_a_full_bucket_tips_at_once_and_the_rest_at_stop(harness):
    with harness(TippingBucket, {"size": 10, "age": 60}) as h:
        h.feed([new_event(i) for i in range(25)])
        first, second = h.collect("outbox", 2)
        assert h.collected("outbox") == []  # the last 5 wait for more
    [last] = h.collected("outbox")  # tipped by the drain at stop
    assert first["data"] == list(range(10))
    assert second["data"] == list(range(10, 20))
    assert last["data"] == list(range(20, 25))
    assert first["headers"] == {"tippingbucket": {"key": None, "size": 10, "reason": "size"}}
    assert last["headers"]["tippingbucket"]["reason"] == "stop"
    assert h.metrics()["module"]["tipped_size"] == 2
    assert h.metrics()["module"]["tipped_stop"] == 1


def test_a_bucket_tips_when_its_first_event_is_age_seconds_old(harness):
    with harness(TippingBucket, {"size": 1000, "age": 0.3}) as h:
        began = time.monotonic()
        h.feed([new_event("a"), new_event("b")])
        [bucket] = h.collect("outbox", 1, timeout=3)
        took = time.monotonic() - began
    assert bucket["data"] == ["a", "b"]
    assert bucket["headers"]["tippingbucket"]["reason"] == "age"
    assert 0.25 <= took < 2.0, took


def test_each_key_has_its_own_bucket(harness):
    events = [new_event({"host": host, "n": i}) for i, host in enumerate("abab")]
    events.append(new_event({"n": 9}))  # no host: key null
    events.append(new_event({"host": None, "n": 10}))  # a null host: the same bucket
    with harness(TippingBucket, {"size": 3, "age": 60, "key": "data.host"}) as h:
        h.feed(events)
        h.wait_consumed(len(events))
    by_key = {b["headers"]["tippingbucket"]["key"]: [d["n"] for d in b["data"]] for b in h.collected("outbox")}
    assert by_key == {"a": [0, 2], "b": [1, 3], None: [9, 10]}


def test_a_key_that_is_a_list_is_keyed_by_its_json(harness):
    with harness(TippingBucket, {"size": 2, "key": "data.tags"}) as h:
        h.feed([new_event({"tags": ["x", "y"]}), new_event({"tags": ["x", "y"]})])
        [bucket] = h.collect("outbox", 1)
    assert bucket["headers"]["tippingbucket"]["key"] == '["x", "y"]'


def test_max_keys_bounds_the_open_buckets_by_tipping_the_oldest(harness):
    with harness(TippingBucket, {"size": 100, "age": 60, "key": "data", "max_keys": 2}) as h:
        h.feed([new_event("a"), new_event("b"), new_event("a"), new_event("c")])
        [evicted] = h.collect("outbox", 1)
        metrics = h.metrics()["module"]
    assert evicted["data"] == ["a", "a"]
    assert evicted["headers"]["tippingbucket"]["reason"] == "evicted"
    assert metrics["tipped_evicted"] == 1 and metrics["open_buckets"] == 2 and metrics["held"] == 2
    assert sorted(b["data"][0] for b in h.collected("outbox")) == ["b", "c"]


def test_keep_event_keeps_each_events_headers(harness):
    with harness(TippingBucket, {"size": 2, "keep": "event"}) as h:
        h.feed([new_event(1, {"from": "x"}), new_event(2, {"from": "y"})])
        [bucket] = h.collect("outbox", 1)
    assert bucket["data"] == [{"headers": {"from": "x"}, "data": 1}, {"headers": {"from": "y"}, "data": 2}]


@pytest.mark.parametrize(
    "variables, word",
    [({"size": 0}, "size"), ({"age": 0}, "age"), ({"max_keys": 0}, "max_keys"), ({"key": "user"}, "data")],
)
def test_bad_parameters_are_refused_naming_them(harness, variables, word):
    with pytest.raises((ValueError, ParameterError), match=word):
        harness(TippingBucket, variables)


def test_every_original_settles_only_when_the_bucket_is_released(harness):
    settled: list = []
    with harness(TippingBucket, {"size": 3, "age": 60}) as h:
        h.feed(tracked(range(3), settled))
        [bucket] = h.collect("outbox", 1)
        gc.collect()
        assert settled == [], "an original settled before its bucket was delivered: an early ack"
        assert bucket["data"] == [0, 1, 2]
        del bucket
        gc.collect()
        assert sorted(settled) == [(0, True), (1, True), (2, True)]


def test_a_failed_bucket_fails_every_original(harness):
    settled: list = []
    with harness(TippingBucket, {"size": 2, "age": 60}) as h:
        h.feed(tracked("ab", settled))
        [bucket] = h.collect("outbox", 1)
        mark_failed([bucket])  # what a failed queue or a drop downstream does to it
        del bucket
        gc.collect()
    assert sorted(settled) == [("a", False), ("b", False)]


def test_what_is_held_at_stop_is_tipped_and_still_tracked(harness):
    settled: list = []
    h = harness(TippingBucket, {"size": 100, "age": 60})
    h.start()
    h.feed(tracked(range(4), settled))
    h.wait_consumed(4)
    h.stop()
    [bucket] = h.collected("outbox")
    gc.collect()
    assert settled == []
    assert bucket["data"] == [0, 1, 2, 3] and bucket["headers"]["tippingbucket"]["reason"] == "stop"
    del bucket
    gc.collect()
    assert sorted(settled) == [(i, True) for i in range(4)]


def test_in_a_pipeline_the_drain_delivers_the_last_bucket():
    doc = {
        "bootstrap": {
            "input": {"module": "testevent", "variables": {"interval": 0, "count": 2_505}},
            "bucket": {"module": "tippingbucket", "variables": {"size": 500, "age": 60}},
            "out": {"module": "null"},
        },
        "routingtable": {"input.outbox": ["bucket.inbox"], "bucket.outbox": ["out.inbox"]},
    }
    pipeline = Pipeline.from_dict(doc)
    with gevent.Timeout(20):
        pipeline.start()
        assert pipeline.join_inputs(10)
        assert pipeline.stop(10)
    snap = pipeline.snapshot()
    assert snap["modules"]["out"]["consumed"] == 6  # five of 500, and the 5 left at the drain
    assert snap["modules"]["bucket"]["tipped_size"] == 5
    assert snap["modules"]["bucket"]["tipped_stop"] == 1
    assert snap["queues"]["bucket.outbox"]["dropped"] == 0


def run(pipeline):
    with gevent.Timeout(20):
        pipeline.start()
        assert pipeline.join_inputs(10)
        assert pipeline.stop(10)
    return pipeline


def test_in_a_pipeline_every_tracked_original_settles_once_delivered(tracked_counter):
    modules = {"input": (tracked_counter, {"count": 250}), "bucket": ("tippingbucket", {"size": 100}), "out": "null"}
    p = run(Pipeline(load_bootstrap(modules, {"input.outbox": ["bucket.inbox"], "bucket.outbox": ["out.inbox"]})))
    assert p.modules["out"].consumed == 3
    assert sorted(p.modules["input"].settled) == [(i, True) for i in range(250)]


def test_in_a_pipeline_a_bucket_that_fails_downstream_fails_its_originals(tracked_counter):
    modules = {
        "input": (tracked_counter, {"count": 150}),
        "bucket": ("tippingbucket", {"size": 100}),
        "explode": (Exploding, {}),  # a list is no number: every bucket fails there
        "out": "null",
    }
    routes = {"input.outbox": ["bucket.inbox"], "bucket.outbox": ["explode.inbox"], "explode.failed": ["out.inbox"]}
    p = run(Pipeline(load_bootstrap(modules, routes)))
    assert p.modules["explode"].failed == 2
    assert sorted(p.modules["input"].settled) == [(i, False) for i in range(150)]


def test_a_jmespath_key_expression_picks_the_bucket(harness):
    events = [new_event({"host": h, "app": a}) for h, a in [("x", "web"), ("x", "db"), ("x", "web"), ("y", "web")]]
    events.append(new_event({"host": 7, "app": "web"}))  # join() needs strings: this one fails
    with harness(TippingBucket, {"size": 2, "key_expression": "join('/', [data.host, data.app])"}) as h:
        h.feed(events)
        [bucket] = h.collect("outbox", 1)
        [failed] = h.collect("failed", 1)
    assert bucket["headers"]["tippingbucket"]["key"] == "x/web"
    assert failed["data"]["host"] == 7 and failed["headers"]["error"]["type"] == "ExpressionError"
    assert sorted(b["headers"]["tippingbucket"]["key"] for b in h.collected("outbox")) == ["x/db", "y/web"]


def test_key_and_key_expression_together_are_refused(harness):
    with pytest.raises(ValueError, match="not both"):
        harness(TippingBucket, {"key": "data.a", "key_expression": "data.b"})
