"""End-to-end acknowledgement: a tracked event settles once every copy is done."""

from __future__ import annotations

import gevent
from wishbone import Module
from wishbone.ack import delivery_of, derive, mark_failed, merge, split, track
from wishbone.testing.samples import Collect, Exploding


class TrackedInput(Module):
    """Emits tracked events and records their settlements.

    Queues: outbox.
    """

    consumes: dict = {}

    def __init__(self, count: int = 10):
        self.count = count
        self.settled: list = []

    def on_start(self):
        self.spawn_producer(self._run)

    def _run(self):
        batch = [track({"headers": {}, "data": i}, self._settle, i) for i in range(self.count)]
        self.emit_batch(batch)
        del batch

    def _settle(self, tag, ok):
        self.settled.append((tag, ok))


class Holder(Module):
    """Keeps events until told to let go (an asynchronous output).

    Queues: inbox.
    """

    def __init__(self):
        self.held: list = []

    def consume(self, event):
        self.held.append(derive(event, event["data"]))


def test_settles_ok_when_the_output_is_done(pipeline):
    p = pipeline({"input": (TrackedInput, {}), "out": (Holder, {})}, [("input", "outbox", "out", "inbox")])
    with gevent.Timeout(10):
        p.start()
        p.join_inputs(5)
        gevent.sleep(0.05)
        assert p.modules["input"].settled == []  # still held by the output
        p.modules["out"].held.clear()
        assert sorted(p.modules["input"].settled) == [(i, True) for i in range(10)]
        p.stop(5)


def test_one_to_many_settles_once_after_every_branch(pipeline):
    p = pipeline(
        {"input": (TrackedInput, {"count": 4}), "a": (Holder, {}), "b": (Collect, {})},
        [("input", "outbox", "a", "inbox"), ("input", "outbox", "b", "inbox")],
    )
    with gevent.Timeout(10):
        p.start()
        p.join_inputs(5)
        gevent.sleep(0.05)
        p.modules["b"].seen.clear()
        assert p.modules["input"].settled == []  # branch a still holds its copies
        p.modules["a"].held.clear()
        assert sorted(p.modules["input"].settled) == [(i, True) for i in range(4)]
        p.stop(5)


def test_failed_events_settle_negatively(pipeline):
    p = pipeline(
        {"input": (TrackedInput, {"count": 6}), "x": (Exploding, {}), "ok": (Collect, {}), "bad": (Collect, {})},
        [("input", "outbox", "x", "inbox"), ("x", "outbox", "ok", "inbox"), ("x", "failed", "bad", "inbox")],
    )
    with gevent.Timeout(10):
        p.start()
        p.join_inputs(5)
        p.stop(5)
    p.modules["ok"].seen.clear()
    p.modules["bad"].seen.clear()
    assert sorted(p.modules["input"].settled) == [(i, i % 2 == 0) for i in range(6)]


class Rejecting(Module):
    """Sends every event to ``failed`` itself, without raising.

    Queues: inbox, failed.
    """

    def consume(self, event):
        self.emit(event, "failed")


def test_events_a_module_sends_to_failed_settle_negatively(pipeline):
    p = pipeline(
        {"input": (TrackedInput, {"count": 3}), "x": (Rejecting, {}), "bad": (Collect, {})},
        [("input", "outbox", "x", "inbox"), ("x", "failed", "bad", "inbox")],
    )
    with gevent.Timeout(10):
        p.start()
        p.join_inputs(5)
        p.stop(5)
    p.modules["bad"].seen.clear()
    assert sorted(p.modules["input"].settled) == [(i, False) for i in range(3)]


def test_a_forced_stop_abandons_what_it_never_attempted(pipeline):
    p = pipeline(
        {"input": (TrackedInput, {"count": 2000}), "slow": (Collect, {"delay": 0.05})},
        [("input", "outbox", "slow", "inbox")],
    )
    with gevent.Timeout(10):
        p.start()
        p.join_inputs(5)
        assert not p.stop(0.3)
    p.modules["slow"].seen.clear()
    outcomes = dict(p.modules["input"].settled)
    assert len(outcomes) == 2000
    assert set(outcomes.values()) == {True, None}  # delivered, or left for the source to redeliver


class Splitting(Module):
    """Splits each event into its data's items (``wishbone.ack.split``).

    Queues: inbox, outbox.
    """

    def consume(self, event):
        for part in split(event, [event["data"], event["data"] + 1000]):
            self.emit(part)


class Merging(Module):
    """Merges every two events into one (``wishbone.ack.merge``).

    Queues: inbox, outbox.
    """

    def __init__(self):
        self.held: list = []

    def consume(self, event):
        self.held.append(event)
        if len(self.held) == 2:
            self.emit(merge(self.held, [e["data"] for e in self.held]))
            self.held = []


def test_split_settles_the_original_when_the_last_part_settles():
    settled = []
    original = track({"headers": {"h": 1}, "data": 1}, lambda tag, ok: settled.append((tag, ok)), "t")
    parts = split(original, ["a", "b", "c"])
    del original
    assert [p["data"] for p in parts] == ["a", "b", "c"]
    parts[0]["headers"]["h"] = 2
    assert parts[1]["headers"] == {"h": 1}, "each part has its own headers"
    parts.pop()
    parts.pop()
    assert settled == []
    parts.pop()
    assert settled == [("t", True)]


def test_a_failed_part_fails_the_original():
    settled = []
    parts = split(track({"headers": {}, "data": 0}, lambda tag, ok: settled.append(ok), 0), [1, 2])
    mark_failed(parts[:1])
    parts.clear()
    assert settled == [False]


def test_merge_settles_every_original_and_a_failure_fails_them_all():
    settled = []
    a = track({"headers": {}, "data": 1}, lambda tag, ok: settled.append((tag, ok)), "a")
    b = track({"headers": {}, "data": 2}, lambda tag, ok: settled.append((tag, ok)), "b")
    c = {"headers": {}, "data": 3}  # untracked: contributes nothing
    merged = merge([a, b, c], [1, 2, 3])
    del a, b
    assert settled == []
    again = merge([merged, track({"headers": {}, "data": 4}, lambda tag, ok: settled.append((tag, ok)), "d")], [])
    del merged
    mark_failed([again])
    del again
    assert sorted(settled) == [("a", False), ("b", False), ("d", False)]
    assert merge([c], 1) == {"headers": {}, "data": 1} and delivery_of(merge([c], 1)) is None


def test_split_and_merge_in_a_pipeline_settle_only_after_delivery(pipeline):
    p = pipeline(
        {"input": (TrackedInput, {"count": 6}), "s": (Splitting, {}), "m": (Merging, {}), "out": (Holder, {})},
        [("input", "outbox", "s", "inbox"), ("s", "outbox", "m", "inbox"), ("m", "outbox", "out", "inbox")],
    )
    with gevent.Timeout(10):
        p.start()
        p.join_inputs(5)
        while p.modules["out"].consumed < 6:
            gevent.sleep(0.01)
        assert p.modules["input"].settled == []  # the merged events are still held by the output
        p.modules["out"].held.clear()
        assert sorted(p.modules["input"].settled) == [(i, True) for i in range(6)]
        p.stop(5)
