"""The harness runs one module in isolation: feeders in, collectors out, deadlines everywhere."""

from __future__ import annotations

import time

import gevent
import pytest
from wishbone.builtin.passthrough import Passthrough
from wishbone.event import new_event
from wishbone.params import ParameterError
from wishbone.testing import Harness, HarnessTimeout
from wishbone.testing.samples import SlowStop, Splitter, Ticker, Upper

_MADE: list[Harness] = []


def test_feeds_inbox_and_collects_outbox():
    with Harness(Upper, {"suffix": "!"}) as h:
        h.feed([new_event("a"), new_event("b")])
        events = h.collect("outbox", 2)
    assert [e["data"] for e in events] == ["A!", "B!"]
    assert h.module.consumed == 2


def test_exception_in_consume_reaches_failed_with_the_error():
    with Harness(Upper) as h:
        h.feed([new_event(1), new_event("ok")])
        [failed] = h.collect("failed", 1)
        [ok] = h.collect("outbox", 1)
    assert ok["data"] == "OK"
    assert failed["headers"]["error"]["type"] == "TypeError"
    assert failed["headers"]["error"]["module"] == "under_test"
    assert h.metrics()["module"] == {"consumed": 2, "failed": 1}


def test_malformed_items_are_dropped_and_counted_by_the_feeder():
    with Harness(Passthrough) as h:
        h.feed(["junk", {"data": 1}, new_event("good")])
        [good] = h.collect("outbox", 1)
        assert h.fed("inbox") == {"in": 3, "out": 1, "dropped": 2, "size": 0}
        assert h.module.alive
    assert good["data"] == "good"


def test_every_consumed_queue_has_a_feeder_and_every_emitted_queue_a_collector():
    with Harness(Splitter) as h:
        h.feed([new_event("t")], "inbox")
        h.feed([new_event(2)], "side")
        assert [e["data"] for e in h.collect("text", 1)] == ["t"]
        assert [e["data"] for e in h.collect("other", 1)] == [2]
        assert h.collected("outbox") == []
    assert set(h.collectors) == {"outbox", "failed", "text", "other"}


def test_feeding_a_queue_it_does_not_consume_names_the_ones_it_does():
    with Harness(Splitter) as h, pytest.raises(KeyError, match="it consumes: inbox, side"):
        h.feed([new_event(1)], "outbox")


def test_collect_deadline_says_what_arrived():
    with Harness(Upper) as h:
        h.feed([new_event("only one")])
        began = time.monotonic()
        with pytest.raises(HarnessTimeout, match=r"expected 2 event\(s\) on under_test.outbox within 0.3s, got 1"):
            h.collect("outbox", 2, timeout=0.3)
        assert time.monotonic() - began < 2
        assert [e["data"] for e in h.collected()] == ["ONLY ONE"]


def test_parameters_are_checked_like_the_bootstrap_does():
    with pytest.raises(ParameterError, match="unknown parameter 'sufix'"):
        Harness(Upper, {"sufix": "!"})
    with pytest.raises(ParameterError, match="expected str, got int"):
        Harness(Upper, {"suffix": 1})
    with pytest.raises(ParameterError, match="missing required parameter 'port'"):
        Harness(Ticker, {})


def test_an_input_runs_and_stops_within_its_deadline(udp_port):
    with Harness(Ticker, {"port": udp_port}) as h:
        events = h.collect("outbox", 3)
    assert [e["data"] for e in events] == [0, 1, 2]
    assert h.stop_seconds is not None and h.stop_seconds < 1
    assert h.live_greenlets() == []
    with pytest.raises(KeyError, match="none: it is an input"):
        h.feed([new_event(1)])


def test_a_stop_that_hangs_fails_at_the_deadline():
    h = Harness(SlowStop, timeout=0.5).start()
    began = time.monotonic()
    with pytest.raises(HarnessTimeout, match=r"SlowStop.stop\(\) did not return within 1.5s"):
        h.stop()
    assert time.monotonic() - began < 3


def test_the_harness_fixture_stops_what_it_made(harness):
    h = harness(Upper).start()
    h.feed([new_event("x")])
    assert h.collect()[0]["data"] == "X"
    _MADE.append(h)  # checked by the next test, after this one's teardown


def test_the_harness_fixture_stopped_it():
    made = _MADE.pop()
    assert not made.module.alive and made.stop_seconds is not None


def test_collecting_waits_cooperatively():
    """Collect blocks only its own greenlet: an event emitted later by another greenlet arrives."""
    with Harness(Passthrough) as h:
        gevent.spawn_later(0.05, h.feed, [new_event("late")])
        assert h.collect("outbox", 1, timeout=2)[0]["data"] == "late"
