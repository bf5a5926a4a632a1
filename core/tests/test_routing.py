"""Routing: 1-1, 1-n with independent copies, n-1 funnels, unrouted queues."""

from __future__ import annotations

from wishbone import Pipeline
from wishbone.builtin.passthrough import Passthrough
from wishbone.module import Output, Processor
from wishbone.testing import bootstrap
from wishbone.testing.samples import Counter


def test_one_to_one_delivers_every_event(run_to_completion):
    p = Pipeline.from_dict(
        bootstrap(
            {"input": ("testevent", {"interval": 0, "count": 12345}), "pt": ("passthrough", {}), "out": ("null", {})},
            {"input.outbox": ["pt.inbox"], "pt.outbox": ["out.inbox"]},
        )
    )
    assert run_to_completion(p)
    snap = p.snapshot()
    assert snap["modules"]["out"]["consumed"] == 12345
    assert snap["queues"]["pt.outbox"] == {"in": 12345, "out": 12345, "dropped": 0, "size": 0}


def test_one_to_many_and_many_to_one_counts_are_exact(run_to_completion):
    # the seed's shape: 1-n fan-out into three passthroughs, n-1 funnel into one sink
    p = Pipeline.from_dict(
        bootstrap(
            {
                "input": ("testevent", {"interval": 0, "count": 10000}),
                "a": ("passthrough", {}),
                "b": ("passthrough", {}),
                "c": ("passthrough", {}),
                "sink": ("null", {}),
            },
            {
                "input.outbox": ["a.inbox", "b.inbox", "c.inbox"],
                "a.outbox": ["sink.inbox"],
                "b.outbox": ["sink.inbox"],
                "c.outbox": ["sink.inbox"],
            },
        )
    )
    assert run_to_completion(p)
    snap = p.snapshot()
    for name in "abc":
        assert snap["modules"][name]["consumed"] == 10000
    assert snap["modules"]["sink"]["consumed"] == 30000
    assert snap["queues"]["sink.inbox"]["in"] == 30000


def test_unrouted_source_queue_counts_drops(run_to_completion):
    p = Pipeline.from_dict(bootstrap({"input": ("testevent", {"interval": 0, "count": 500})}, {}))
    assert run_to_completion(p)
    assert p.snapshot()["queues"]["input.outbox"]["dropped"] == 500


# ----------------------------------------------------------------------------- shared readers
class Reader(Output):
    """Keeps what it consumes, unchanged (a reader: it may share events with other readers).

    Queues: inbox.
    """

    def __init__(self):
        self.seen: list = []

    def consume(self, event):
        self.seen.append(event)


class Changer(Processor):
    """Marks every event it consumes, then passes it on.

    Queues: inbox, outbox.
    """

    def __init__(self):
        self.seen: list = []

    def consume(self, event):
        event["headers"]["changed_by"] = self.name
        self.seen.append(event)
        self.emit(event)


class ReaderThatFails(Processor):
    """Passes events on unchanged and sends odd ones to failed (a reader).

    Queues: inbox, outbox, failed.
    """

    changes_events = False

    def consume(self, event):
        if event["data"] % 2:
            raise ValueError("odd")
        self.emit(event)


def test_readers_of_a_one_to_many_route_share_events_and_changers_get_copies(run_to_completion, pipeline):
    p = pipeline(
        {"input": (Counter, {"count": 300}), "r1": (Reader, {}), "r2": (Reader, {}), "c": (Changer, {})},
        [("input", "outbox", "r1", "inbox"), ("input", "outbox", "r2", "inbox"), ("input", "outbox", "c", "inbox")],
    )
    assert run_to_completion(p)
    r1, r2, c = (p.modules[n].seen for n in ("r1", "r2", "c"))
    assert len(r1) == len(r2) == len(c) == 300
    assert all(a is b for a, b in zip(r1, r2, strict=True)), "readers share one event"
    assert not any(a is b for a, b in zip(r1, c, strict=True)), "a module that changes events gets a copy"
    assert not any("changed_by" in e["headers"] for e in r1), "a reader never sees another branch's change"


def test_a_shared_event_passed_on_by_a_reader_reaches_a_changer_as_a_copy(run_to_completion, pipeline):
    p = pipeline(
        {
            "input": (Counter, {"count": 250}),
            "pt": (Passthrough, {}),
            "r": (Reader, {}),
            "c": (Changer, {}),
            "after": (Reader, {}),
        },
        [
            ("input", "outbox", "pt", "inbox"),
            ("input", "outbox", "r", "inbox"),
            ("pt", "outbox", "c", "inbox"),
            ("c", "outbox", "after", "inbox"),
        ],
    )
    assert run_to_completion(p)
    r, c = p.modules["r"].seen, p.modules["c"].seen
    assert len(r) == len(c) == 250
    assert not any(a is b for a, b in zip(r, c, strict=True))
    assert not any("changed_by" in e["headers"] for e in r)
    after = p.modules["after"].seen
    assert len(after) == 250 and all(e["headers"]["changed_by"] == "c" for e in after)


def test_a_reader_failing_a_shared_event_records_the_error_on_a_copy(run_to_completion, pipeline):
    p = pipeline(
        {"input": (Counter, {"count": 100}), "f": (ReaderThatFails, {}), "r": (Reader, {}), "bad": (Reader, {})},
        [("input", "outbox", "f", "inbox"), ("input", "outbox", "r", "inbox"), ("f", "failed", "bad", "inbox")],
    )
    assert run_to_completion(p)
    assert len(p.modules["bad"].seen) == 50
    assert all(e["headers"]["error"]["message"] == "odd" for e in p.modules["bad"].seen)
    assert not any("error" in e["headers"] for e in p.modules["r"].seen)


def test_without_readers_the_first_route_takes_the_originals(run_to_completion, pipeline):
    p = pipeline(
        {"input": (Counter, {"count": 100}), "a": (Changer, {}), "b": (Changer, {})},
        [("input", "outbox", "a", "inbox"), ("input", "outbox", "b", "inbox")],
    )
    assert run_to_completion(p)
    a, b = p.modules["a"].seen, p.modules["b"].seen
    assert [e["data"] for e in a] == [e["data"] for e in b] == list(range(100))
    assert not any(x is y for x, y in zip(a, b, strict=True))
