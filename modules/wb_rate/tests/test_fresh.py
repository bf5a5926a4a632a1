"""fresh: an alarm after a silence of timeout seconds, optionally repeated, and a recovery event."""

from __future__ import annotations

import gc
import time

import gevent
import pytest
from wb_rate import Fresh
from wishbone import new_event
from wishbone.ack import track


def test_an_alarm_after_the_timeout_then_a_recovery(harness):
    with harness(Fresh, {"timeout": 0.3, "payload": {"alert": "quiet"}, "recovery": "back"}) as h:
        began = time.monotonic()
        [alarm] = h.collect("alarm", 1, timeout=3)
        took = time.monotonic() - began
        gevent.sleep(0.4)
        assert h.collected("alarm") == []  # once, without repeat
        h.feed([new_event("hello")])
        [passed] = h.collect("outbox", 1)
        [recovery] = h.collect("alarm", 1)
        metrics = h.metrics()["module"]
    assert 0.25 <= took < 1.5, took
    assert alarm["data"] == {"alert": "quiet"}
    assert alarm["headers"]["fresh"]["state"] == "timeout" and alarm["headers"]["fresh"]["silent"] >= 0.3
    assert passed["data"] == "hello"
    assert recovery["data"] == "back" and recovery["headers"]["fresh"]["state"] == "recovery"
    assert (metrics["seen"], metrics["alarms"], metrics["recoveries"]) == (1, 1, 1)


def test_events_keep_the_alarm_away(harness):
    with harness(Fresh, {"timeout": 0.4}) as h:
        for _ in range(8):
            h.feed([new_event("tick")])
            gevent.sleep(0.1)
        assert h.collected("alarm") == []
        [alarm] = h.collect("alarm", 1, timeout=3)
    assert alarm["data"] == "timeout"


def test_repeat_alarms_while_silent(harness):
    with harness(Fresh, {"timeout": 0.2, "repeat": 0.2}) as h:
        alarms = h.collect("alarm", 3, timeout=3)
    silences = [a["headers"]["fresh"]["silent"] for a in alarms]
    assert silences == sorted(silences) and silences[2] >= 0.55


def test_each_alarm_is_its_own_copy(harness):
    with harness(Fresh, {"timeout": 0.1, "repeat": 0.1, "payload": {"n": 1}}) as h:
        first, second = h.collect("alarm", 2, timeout=3)
    first["data"]["n"] = 2
    assert second["data"] == {"n": 1}


@pytest.mark.parametrize("variables", [{"timeout": 0}, {"repeat": -1}])
def test_bad_parameters_are_refused(harness, variables):
    with pytest.raises(ValueError):
        harness(Fresh, variables)


def test_watched_events_pass_with_their_delivery(harness):
    settled: list = []
    with harness(Fresh, {"timeout": 60}) as h:
        h.feed([track(new_event(1), lambda tag, ok: settled.append((tag, ok)), "t")])
        [event] = h.collect("outbox", 1)
        gc.collect()
        assert settled == []
        del event
        gc.collect()
        assert settled == [("t", True)]
