"""count: events per key as events every interval; the last interval at stop; a sink when unrouted."""

from __future__ import annotations

import gc

import gevent
import pytest
from wb_rate import Count
from wishbone import Pipeline, new_event
from wishbone.ack import track


def test_counts_per_key_every_interval(harness):
    with harness(Count, {"interval": 0.3, "key": "data.status"}) as h:
        h.feed([new_event({"status": s}) for s in [200, 200, 404, 200, None]] + [new_event({})])
        passed = h.collect("outbox", 6)
        counts = h.collect("counts", 3, timeout=3)
        gevent.sleep(0.4)
        assert h.collected("counts") == []  # a quiet interval: no key was seen
    assert len(passed) == 6
    by_key = {c["data"]["key"]: c["data"] for c in counts}
    assert {k: v["count"] for k, v in by_key.items()} == {200: 3, 404: 1, None: 2}  # missing and null: one key
    assert 0.25 <= by_key[200]["interval"] < 1.5
    assert by_key[200]["rate"] == pytest.approx(3 / by_key[200]["interval"])


def test_without_a_key_one_total_every_interval_even_zero(harness):
    with harness(Count, {"interval": 0.2}) as h:
        h.feed([new_event(i) for i in range(7)])
        first, second = h.collect("counts", 2, timeout=3)
    assert first["data"]["key"] is None and first["data"]["count"] == 7
    assert second["data"]["count"] == 0


def test_the_last_partial_interval_is_emitted_at_stop(harness):
    h = harness(Count, {"interval": 60})
    h.start()
    h.feed([new_event(i) for i in range(3)])
    h.wait_consumed(3)
    h.stop()
    [last] = h.collected("counts")
    assert last["data"]["count"] == 3 and last["data"]["interval"] < 5


def test_max_keys_counts_new_keys_as_other(harness):
    with harness(Count, {"interval": 60, "key": "data", "max_keys": 2}) as h:
        h.feed([new_event(k) for k in "abcdc"])
        h.wait_consumed(5)
        assert h.metrics()["module"]["overflowed"] == 3
    counts = {c["data"]["key"]: c["data"]["count"] for c in h.collected("counts")}
    assert counts == {"a": 1, "b": 1, "(other)": 3}


def test_max_keys_holds_across_batches_counted_at_once_or_one_by_one(harness):
    with harness(Count, {"interval": 60, "key": "data", "max_keys": 4}) as h:
        h.feed([new_event(k) for k in ["a", "b", "a"]])  # cannot overflow: counted in one update
        h.wait_consumed(3)
        h.feed([new_event(k) for k in ["c", "a", "d", "e", [1], {"x": 1}, "c"]])  # may: one by one
        h.wait_consumed(10)
        assert h.metrics()["module"]["overflowed"] == 3
    counts = {c["data"]["key"]: c["data"]["count"] for c in h.collected("counts")}
    assert counts == {"a": 3, "b": 1, "c": 2, "d": 1, "(other)": 3}


def test_passed_events_keep_their_delivery(harness):
    settled: list = []
    with harness(Count, {"interval": 60}) as h:
        h.feed([track(new_event(1), lambda tag, ok: settled.append((tag, ok)), "t")])
        [event] = h.collect("outbox", 1)
        gc.collect()
        assert settled == []
        del event
        gc.collect()
        assert settled == [("t", True)]


def test_in_a_pipeline_count_is_a_sink_when_outbox_is_unrouted():
    doc = {
        "bootstrap": {
            "input": {"module": "testevent", "variables": {"interval": 0, "count": 500}},
            "count": {"module": "count", "variables": {"interval": 60}},
            "rates": {"module": "null"},
        },
        "routingtable": {"input.outbox": ["count.inbox"], "count.counts": ["rates.inbox"]},
    }
    pipeline = Pipeline.from_dict(doc)
    with gevent.Timeout(20):
        pipeline.start()
        assert pipeline.join_inputs(10)
        assert pipeline.stop(10)
    snap = pipeline.snapshot()
    assert snap["modules"]["rates"]["consumed"] == 1  # the last interval, at the drain
    assert snap["modules"]["count"]["counted"] == 500
    assert snap["queues"]["count.outbox"]["dropped"] == 0


def test_a_key_expression_that_cannot_be_evaluated_sends_the_event_to_failed(harness):
    with harness(Count, {"interval": 60, "key_expression": "length(data.tags)"}) as h:
        h.feed([new_event({"tags": [1, 2]}), new_event({"tags": 5}), new_event({"tags": "ab"})])
        passed = h.collect("outbox", 2)
        [failed] = h.collect("failed", 1)
    assert [e["data"]["tags"] for e in passed] == [[1, 2], "ab"]
    assert failed["data"] == {"tags": 5} and failed["headers"]["error"]["type"] == "ExpressionError"
    assert sorted(c["data"]["count"] for c in h.collected("counts")) == [2]
