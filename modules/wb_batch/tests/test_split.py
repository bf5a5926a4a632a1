"""split: one event per item; the original settles when its last part does, failed if any part failed."""

from __future__ import annotations

import gc

import gevent
import pytest
from wb_batch import Split
from wishbone import Pipeline, new_event
from wishbone.ack import mark_failed, track


def test_each_item_becomes_an_event_with_its_own_headers(harness):
    with harness(Split, {}) as h:
        h.feed([new_event([1, 2, 3], {"source": "x"})])
        parts = h.collect("outbox", 3)
    assert [p["data"] for p in parts] == [1, 2, 3]
    assert all(p["headers"] == {"source": "x"} for p in parts)
    parts[0]["headers"]["changed"] = True
    assert "changed" not in parts[1]["headers"]  # a copy each


def test_a_field_path_picks_the_list(harness):
    with harness(Split, {"field": "data.records"}) as h:
        h.feed([new_event({"records": [{"a": 1}, {"a": 2}], "other": 0})])
        parts = h.collect("outbox", 2)
    assert [p["data"] for p in parts] == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize(
    "field, data",
    [
        ("data.batches[1]", {"batches": [[0], ["a", "b"]]}),
        ("data.a.b.c", {"a": {"b": {"c": ["a", "b"]}}}),
        ("headers.list", None),
    ],
)
def test_paths_with_an_index_or_many_steps(harness, field, data):
    event = new_event(data, {"list": ["a", "b"]})
    with harness(Split, {"field": field}) as h:
        h.feed([event])
        parts = h.collect("outbox", 2)
    assert [p["data"] for p in parts] == ["a", "b"]


@pytest.mark.parametrize(
    "data, message",
    [
        ({"records": "text"}, "data.records: expected a list, found a string"),
        ({"records": {"a": 1}}, "data.records: expected a list, found an object"),
        ({"other": []}, "data.records: no such field (expected a list)"),
        ("not a dict", "data.records: no such field (expected a list)"),
        (["a list"], "data.records: no such field (expected a list)"),
    ],
)
def test_what_is_not_a_list_fails_with_the_path_and_the_type(harness, data, message):
    with harness(Split, {"field": "data.records"}) as h:
        h.feed([new_event(data), new_event({"records": [7]})])
        [failed] = h.collect("failed", 1)
        [ok] = h.collect("outbox", 1)  # and it goes on
    assert failed["data"] == data
    assert failed["headers"]["error"]["message"] == message
    assert ok["data"] == 7


def test_an_empty_list_emits_nothing_and_settles_as_done(harness):
    settled: list = []
    with harness(Split, {}) as h:
        h.feed([track(new_event([]), lambda tag, ok: settled.append((tag, ok)), "e")])
        h.wait_consumed(1)
        assert h.collected("outbox") == []
        assert h.metrics()["module"]["empty"] == 1
    gc.collect()
    assert settled == [("e", True)]


def test_the_original_settles_when_the_last_part_is_released(harness):
    settled: list = []
    with harness(Split, {}) as h:
        h.feed([track(new_event(["a", "b", "c"]), lambda tag, ok: settled.append((tag, ok)), "m")])
        parts = h.collect("outbox", 3)
        del parts[0:2]
        gc.collect()
        assert settled == [], "the original settled while a part was still undelivered: an early ack"
        parts.clear()
        gc.collect()
        assert settled == [("m", True)]


def test_one_failed_part_fails_the_original(harness):
    settled: list = []
    with harness(Split, {}) as h:
        h.feed([track(new_event([1, 2]), lambda tag, ok: settled.append((tag, ok)), "m")])
        parts = h.collect("outbox", 2)
        mark_failed(parts[1:])  # what a failed queue or a drop downstream does to it
        parts.clear()
        gc.collect()
    assert settled == [("m", False)]


def test_in_a_pipeline_every_item_arrives():
    doc = {
        "bootstrap": {
            "input": {"module": "testevent", "variables": {"interval": 0, "count": 1_000, "payload": [1, 2, 3]}},
            "split": {"module": "split"},
            "out": {"module": "null"},
        },
        "routingtable": {"input.outbox": ["split.inbox"], "split.outbox": ["out.inbox"]},
    }
    pipeline = Pipeline.from_dict(doc)
    with gevent.Timeout(20):
        pipeline.start()
        assert pipeline.join_inputs(10)
        assert pipeline.stop(10)
    snap = pipeline.snapshot()
    assert snap["modules"]["out"]["consumed"] == 3_000
    assert snap["modules"]["split"]["parts"] == 3_000
