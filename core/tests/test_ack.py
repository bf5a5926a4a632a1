"""End-to-end acknowledgement: a tracked event settles once every copy is done."""

from __future__ import annotations

import gevent
from wishbone import Module, Pipeline
from wishbone.ack import derive, track
from wishbone.testing import load_bootstrap
from wishbone.testing.samples import Collect, Exploding


def pipeline(modules: dict, routes: list[tuple[str, str, str, str]]) -> Pipeline:
    """Test-only classes wired by ``(source, queue, destination, queue)`` routes."""
    table: dict[str, list[str]] = {}
    for source, queue, destination, inbox in routes:
        table.setdefault(f"{source}.{queue}", []).append(f"{destination}.{inbox}")
    return Pipeline(load_bootstrap(modules, table), load_entry_points=False)


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


def test_settles_ok_when_the_output_is_done():
    p = pipeline({"input": (TrackedInput, {}), "out": (Holder, {})}, [("input", "outbox", "out", "inbox")])
    with gevent.Timeout(10):
        p.start()
        p.join_inputs(5)
        gevent.sleep(0.05)
        assert p.modules["input"].settled == []  # still held by the output
        p.modules["out"].held.clear()
        assert sorted(p.modules["input"].settled) == [(i, True) for i in range(10)]
        p.stop(5)


def test_one_to_many_settles_once_after_every_branch():
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


def test_failed_events_settle_negatively():
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


def test_events_a_module_sends_to_failed_settle_negatively():
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


def test_a_forced_stop_abandons_what_it_never_attempted():
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
