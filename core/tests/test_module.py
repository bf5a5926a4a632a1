"""Module behaviour: failures go to ``failed``, malformed events are dropped and counted,
1-n copies are independent, lifecycle calls are idempotent, stop drains."""

from __future__ import annotations

import logging
import time

import gevent
import pytest
from wishbone import Module, Pipeline
from wishbone.testing.samples import Collect, Counter, Exploding


def test_exception_in_consume_goes_to_failed_with_the_error(run_to_completion, pipeline):
    p = pipeline(
        {"input": (Counter, {"count": 10}), "x": (Exploding, {}), "ok": (Collect, {}), "bad": (Collect, {})},
        [("input", "outbox", "x", "inbox"), ("x", "outbox", "ok", "inbox"), ("x", "failed", "bad", "inbox")],
    )
    assert run_to_completion(p)
    assert [e["data"] for e in p.modules["ok"].seen] == [0, 2, 4, 6, 8]
    failed = p.modules["bad"].seen
    assert [e["data"] for e in failed] == [1, 3, 5, 7, 9]
    assert failed[0]["headers"]["error"]["type"] == "ValueError"
    assert failed[0]["headers"]["error"]["module"] == "x"
    assert p.snapshot()["modules"]["x"] == {"consumed": 10, "failed": 5}


def test_unrouted_failed_queue_counts_and_logs(caplog, run_to_completion, pipeline):
    p = pipeline(
        {"input": (Counter, {"count": 10}), "x": (Exploding, {}), "ok": (Collect, {})},
        [("input", "outbox", "x", "inbox"), ("x", "outbox", "ok", "inbox")],
    )
    with caplog.at_level(logging.WARNING):
        assert run_to_completion(p)
    assert p.snapshot()["queues"]["x.failed"]["dropped"] == 5
    # rate-limited: one line for five failures
    assert len([r for r in caplog.records if "consume() raised" in r.getMessage()]) == 1


def test_malformed_events_are_dropped_counted_and_logged_at_a_bounded_rate(caplog, run_to_completion, pipeline):
    p = pipeline(
        {"input": (Counter, {"count": 1000, "bad_every": 10}), "ok": (Collect, {})},
        [("input", "outbox", "ok", "inbox")],
    )
    with caplog.at_level(logging.WARNING):
        assert run_to_completion(p)
    assert len(p.modules["ok"].seen) == 900
    assert p.snapshot()["queues"]["input.outbox"] == {"in": 1000, "out": 900, "dropped": 100, "size": 0}
    assert len([r for r in caplog.records if "malformed" in r.getMessage()]) == 1


def test_one_to_many_copies_are_independent(run_to_completion, pipeline):
    p = pipeline(
        {"input": (Counter, {"count": 5}), "a": (Collect, {"mutate": True}), "b": (Collect, {"mutate": True})},
        [("input", "outbox", "a", "inbox"), ("input", "outbox", "b", "inbox")],
    )
    assert run_to_completion(p)
    assert [e["headers"] for e in p.modules["a"].seen] == [{"touched": "a"}] * 5
    assert [e["headers"] for e in p.modules["b"].seen] == [{"touched": "b"}] * 5


def test_backpressure_blocks_the_input_and_loses_nothing(pipeline):
    p = pipeline(
        {"input": (Counter, {"count": 3000}), "slow": (Collect, {"delay": 0.001})},
        [("input", "outbox", "slow", "inbox")],
        queues={"slow": {"inbox": {"maxsize": 200}}},
    )
    p.start()
    with gevent.Timeout(20):
        peak = 0
        while not p.join_inputs(0.001):
            peak = max(peak, p.modules["slow"].destination_queues["inbox"].size)
        assert p.stop(20)
    assert len(p.modules["slow"].seen) == 3000
    assert peak <= 200 + 100  # bounded: at most one batch beyond the limit in flight


def test_drop_mode_counts_every_drop(run_to_completion, pipeline):
    p = pipeline(
        {"input": (Counter, {"count": 5000}), "slow": (Collect, {"delay": 0.002})},
        [("input", "outbox", "slow", "inbox")],
        queues={"slow": {"inbox": {"maxsize": 100, "when_full": "drop"}}},
    )
    assert run_to_completion(p)
    inbox = p.snapshot()["queues"]["slow.inbox"]
    assert inbox["dropped"] > 0
    assert len(p.modules["slow"].seen) + inbox["dropped"] == 5000


def test_stop_during_a_stream_loses_no_accepted_event():
    p = Pipeline.from_dict(
        {
            "bootstrap": {
                "input": {"module": "testevent", "variables": {"interval": 0}},
                "pt": {"module": "passthrough"},
                "out": {"module": "null"},
            },
            "routingtable": {"input.outbox": ["pt.inbox"], "pt.outbox": ["out.inbox"]},
        }
    )
    with gevent.Timeout(20):
        p.start()
        gevent.sleep(0.2)
        assert p.stop(10)
    snap = p.snapshot()
    assert snap["modules"]["input"]["generated"] > 0
    assert snap["modules"]["out"]["consumed"] == snap["modules"]["input"]["generated"]


def test_lifecycle_is_idempotent_and_leaves_no_greenlet(pipeline):
    p = pipeline({"input": (Counter, {"count": 10}), "ok": (Collect, {})}, [("input", "outbox", "ok", "inbox")])
    with gevent.Timeout(10):
        p.start()
        p.start()
        assert p.join_inputs(5)
        assert p.stop(5)
        assert p.stop(5)
    for module in p.modules.values():
        module.start()  # a stopped module stays stopped
        module.stop()
        assert all(g.dead for g in module.greenlets())
    assert not p.healthy


def test_drain_deadline_forces_and_counts(pipeline):
    p = pipeline(
        {"input": (Counter, {"count": 2000}), "slow": (Collect, {"delay": 0.05})},
        [("input", "outbox", "slow", "inbox")],
    )
    with gevent.Timeout(10):
        p.start()
        assert p.join_inputs(5)
        assert not p.stop(0.3)
    inbox = p.snapshot()["queues"]["slow.inbox"]
    assert len(p.modules["slow"].seen) + inbox["dropped"] <= 2000
    assert inbox["dropped"] > 0
    assert all(g.dead for m in p.modules.values() for g in m.greenlets())


@pytest.mark.parametrize("name", ["testevent", "passthrough", "null"])
def test_builtins_document_parameters_and_queues(name):
    from wishbone import discovery
    from wishbone.params import parameters_of

    cls = discovery.load(name)
    doc = cls.__doc__
    assert "Queues:" in doc and "Parameters:" in doc
    for p in parameters_of(cls):
        assert p.name in doc


class BatchSink(Module):
    """Takes whole batches; raises on a batch holding the payload 13.

    Queues: inbox, failed.
    """

    def __init__(self):
        self.batches: list[list] = []

    def consume_batch(self, events):
        if any(e["data"] == 13 for e in events):
            raise RuntimeError("unlucky batch")
        self.batches.append(events)


def test_consume_batch_takes_whole_batches_and_a_raise_fails_the_batch(run_to_completion, pipeline):
    p = pipeline(
        {"input": (Counter, {"count": 250}), "sink": (BatchSink, {}), "bad": (Collect, {})},
        [("input", "outbox", "sink", "inbox"), ("sink", "failed", "bad", "inbox")],
    )
    assert run_to_completion(p)
    sink = p.modules["sink"]
    assert sum(len(b) for b in sink.batches) + len(p.modules["bad"].seen) == 250
    assert [e["data"] for e in p.modules["bad"].seen] == list(range(100))  # the first batch held 13
    assert p.modules["bad"].seen[0]["headers"]["error"]["message"] == "unlucky batch"
    assert p.snapshot()["modules"]["sink"] == {"consumed": 250, "failed": 100}


class BadFlush(Module):
    """Its end_of_batch always raises.

    Queues: inbox.
    """

    def __init__(self):
        self.seen = 0

    def consume(self, event):
        self.seen += 1

    def end_of_batch(self):
        raise RuntimeError("flush failed")


def test_an_exception_in_end_of_batch_does_not_kill_the_module(caplog, run_to_completion, pipeline):
    p = pipeline({"input": (Counter, {"count": 1000}), "sink": (BadFlush, {})}, [("input", "outbox", "sink", "inbox")])
    with caplog.at_level(logging.WARNING):
        assert run_to_completion(p)
    assert p.modules["sink"].seen == 1000
    assert len([r for r in caplog.records if "end_of_batch() raised" in r.getMessage()]) == 1


def test_a_stop_does_not_wait_out_the_testevent_interval():
    p = Pipeline.from_dict(
        {
            "bootstrap": {"input": {"module": "testevent", "variables": {"interval": 30}}, "out": {"module": "null"}},
            "routingtable": {"input.outbox": ["out.inbox"]},
        }
    )
    with gevent.Timeout(10):
        p.start()
        gevent.sleep(0.05)
        started = time.monotonic()
        assert p.stop(20)
        assert time.monotonic() - started < 1


def test_when_every_input_has_finished_wait_returns_and_nothing_raises_loopexit():
    """A counted testevent finishes; wait() returns with nothing else left to run (no metrics
    loop, no timer): gevent would raise LoopExit from a plain Event.wait() here."""
    p = Pipeline.from_dict(
        {
            "bootstrap": {
                "a": {"module": "testevent", "variables": {"interval": 0, "count": 500}},
                "b": {"module": "testevent", "variables": {"interval": 0, "count": 700}},
                "out": {"module": "null"},
            },
            "routingtable": {"a.outbox": ["out.inbox"], "b.outbox": ["out.inbox"]},
        }
    )
    with gevent.Timeout(10):
        p.start()
        assert p.wait() is True
        assert p.finished
        assert p.stop(5)
    assert p.modules["out"].consumed == 1200


def test_an_endless_input_keeps_the_pipeline_unfinished():
    p = Pipeline.from_dict(
        {
            "bootstrap": {
                "done": {"module": "testevent", "variables": {"interval": 0, "count": 5}},
                "endless": {"module": "testevent", "variables": {"interval": 0.01}},
                "out": {"module": "null"},
            },
            "routingtable": {"done.outbox": ["out.inbox"], "endless.outbox": ["out.inbox"]},
        }
    )
    with gevent.Timeout(10):
        p.start()
        assert p.wait(0.3) is False
        assert not p.finished and p.modules["done"].finished
        assert p.stop(5)


@pytest.mark.parametrize(
    "payload", [{"host": "web-1", "n": 1, "ok": True, "none": None}, {"nested": {"a": [1, 2]}, "n": 1}, [1, {"a": 2}]]
)
def test_testevent_gives_every_event_its_own_copy_of_a_payload(payload):
    from wishbone.builtin.testevent import TestEvent
    from wishbone.testing import Harness

    original = repr(payload)
    with Harness(TestEvent, {"payload": payload, "interval": 0, "count": 300}) as h:
        events = h.collect(count=300, timeout=5)
    assert len(events) == 300 and all(repr(e["data"]) == original for e in events)
    first = events[0]["data"]
    if isinstance(first, dict):
        first["added"] = 1
        (first.get("nested") or {})["a"] = "changed"
    else:
        first[1]["a"] = "changed"
    assert repr(payload) == original and all(repr(e["data"]) == original for e in events[1:])
