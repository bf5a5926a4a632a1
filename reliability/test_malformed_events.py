"""Malformed events injected at every queue (outbox, failed, a custom queue; from an input's
producer and from a consuming module): dropped, counted and logged at a bounded rate; the good
events around them are delivered."""

from __future__ import annotations

import logging
import time

import gevent
from wishbone.pipeline import Pipeline
from wishbone.testing import load_bootstrap

from reliability.fixture_modules import NOT_EVENTS, CountingSink, MalformedEmitter, MalformedRelay

ROUNDS = 300


def test_non_events_on_every_queue_are_dropped_counted_and_logged_rarely(caplog, record):
    boot = load_bootstrap(
        {
            "input": (MalformedEmitter, {"rounds": ROUNDS}),
            "relay": (MalformedRelay, {}),
            "out": (CountingSink, {}),
            "relayed": (CountingSink, {}),
            "relay_failed": (CountingSink, {}),
            "fail": (CountingSink, {}),
            "side": (CountingSink, {}),
        },
        {
            "input.outbox": ["relay.inbox"],
            "input.failed": ["fail.inbox"],
            "input.side": ["side.inbox"],
            "relay.outbox": ["relayed.inbox"],
            "relay.failed": ["relay_failed.inbox"],
        },
    )
    caplog.set_level(logging.WARNING, logger="wishbone")
    started = time.monotonic()
    with gevent.Timeout(30):
        pipeline = Pipeline(boot, load_entry_points=False)
        pipeline.start()
        assert pipeline.join_inputs(20)
        assert pipeline.stop(10)
    took = time.monotonic() - started
    snap = pipeline.snapshot()
    bad = len(NOT_EVENTS)
    counts = {name: pipeline.modules[name].count for name in ("relayed", "relay_failed", "fail", "side")}
    dropped = {q: snap["queues"][q]["dropped"] for q in snap["queues"] if snap["queues"][q]["dropped"]}
    warnings = [r for r in caplog.records if "malformed" in r.getMessage()]
    per_module = {r.source for r in warnings}
    record(
        rounds=ROUNDS,
        non_events_per_queue_per_round=bad,
        good_emitted=ROUNDS * 4,  # the input's 3 queues, and the relay's copy on failed
        received_good=sum(counts.values()),
        dropped=dropped,
        warning_lines=len(warnings),
        seconds=round(took, 3),
    )
    assert counts == {"relayed": ROUNDS, "relay_failed": ROUNDS, "fail": ROUNDS, "side": ROUNDS}
    assert pipeline.modules["out"].count == 0
    expected = ROUNDS * bad
    assert dropped == {
        "input.outbox": expected,
        "input.failed": expected,
        "input.side": expected,
        "relay.outbox": expected,
        "relay.failed": expected,
    }
    # one rate-limited warning per module per 5 s, not one per event or batch
    assert per_module == {"Instance #0:input", "Instance #0:relay"}
    assert len(warnings) <= 2 * (int(took / 5) + 1), [r.getMessage() for r in warnings]
    assert all("dropped" in r.getMessage() and "malformed" in r.getMessage() for r in warnings)
