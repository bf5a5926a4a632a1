"""dedupe: a key seen within the window drops the event; memory bounded, expired in the background."""

from __future__ import annotations

import gc

import gevent
import pytest
from wb_rate import Dedupe
from wishbone import new_event
from wishbone.ack import track


def test_a_repeated_key_within_the_window_is_a_duplicate(harness):
    with harness(Dedupe, {"key": "data.id", "window": 60}) as h:
        h.feed([new_event({"id": i, "n": n}) for n, i in enumerate([1, 2, 1, 3, 2, 1])])
        unique = h.collect("outbox", 3)
        duplicates = h.collect("duplicate", 3)
        metrics = h.metrics()["module"]
    assert [e["data"]["id"] for e in unique] == [1, 2, 3]
    assert [e["data"]["n"] for e in duplicates] == [2, 4, 5]
    assert metrics["unique"] == 3 and metrics["duplicates"] == 3 and metrics["keys"] == 3


def test_whole_data_by_default_and_dicts_compare_by_value(harness):
    with harness(Dedupe, {}) as h:
        h.feed([new_event({"a": 1, "b": 2}), new_event({"b": 2, "a": 1}), new_event("x"), new_event("x")])
        unique = h.collect("outbox", 2)
        h.collect("duplicate", 2)
    assert [e["data"] for e in unique] == [{"a": 1, "b": 2}, "x"]


def test_after_the_window_a_key_passes_again(harness):
    with harness(Dedupe, {"window": 0.2}) as h:
        h.feed([new_event("k"), new_event("k")])
        h.collect("outbox", 1)
        h.collect("duplicate", 1)
        gevent.sleep(0.5)
        assert h.metrics()["module"]["keys"] == 0  # expired in the background
        assert h.metrics()["module"]["expired"] == 1
        h.feed([new_event("k")])
        [again] = h.collect("outbox", 1)
    assert again["data"] == "k"


def test_max_size_forgets_the_oldest_key_early(harness):
    with harness(Dedupe, {"max_size": 2}) as h:
        h.feed([new_event(k) for k in "abca"])  # a is forgotten when c comes
        passed = h.collect("outbox", 4)
        metrics = h.metrics()["module"]
    assert [e["data"] for e in passed] == ["a", "b", "c", "a"]
    assert metrics["evicted"] == 2 and metrics["keys"] == 2


def test_max_size_holds_across_batches(harness):
    with harness(Dedupe, {"max_size": 3}) as h:
        h.feed([new_event(k) for k in "ab"])  # cannot pass max_size
        h.wait_consumed(2)
        h.feed([new_event(k) for k in "cda"])  # d forgets a, which then passes again and forgets b
        passed = h.collect("outbox", 5)
        metrics = h.metrics()["module"]
    assert [e["data"] for e in passed] == ["a", "b", "c", "d", "a"]
    assert metrics["evicted"] == 2 and metrics["keys"] == 3 and metrics["unique"] == 5


def test_an_event_without_the_key_passes(harness):
    with harness(Dedupe, {"key": "data.id"}) as h:
        h.feed([new_event({}), new_event({})])
        h.collect("outbox", 2)
        assert h.metrics()["module"]["unkeyed"] == 2


def test_a_duplicate_settles_as_done(harness):
    settled: list = []
    events = [track(new_event("same"), lambda tag, ok: settled.append((tag, ok)), i) for i in range(2)]
    with harness(Dedupe, {}) as h:
        h.feed(events)
        del events
        kept = h.collect("outbox", 1) + h.collect("duplicate", 1)
        gc.collect()
        assert settled == []
        del kept
        gc.collect()
    assert sorted(settled) == [(0, True), (1, True)]


@pytest.mark.parametrize("variables", [{"window": 0}, {"max_size": 0}, {"key": "id"}])
def test_bad_parameters_are_refused(harness, variables):
    with pytest.raises(ValueError):
        harness(Dedupe, variables)


def test_a_key_expression_and_a_null_key_is_unkeyed(harness):
    events = [new_event({"a": {"id": 1}}), new_event({"a": {"id": 1}}), new_event({"a": {}}), new_event({"a": {}})]
    with harness(Dedupe, {"key_expression": "data.a.id"}) as h:
        h.feed(events)
        passed = h.collect("outbox", 3)
        h.collect("duplicate", 1)
        assert h.metrics()["module"]["unkeyed"] == 2
    assert [e["data"] for e in passed] == [{"a": {"id": 1}}, {"a": {}}, {"a": {}}]
