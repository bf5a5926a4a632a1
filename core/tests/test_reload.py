"""Pipeline.reload: unchanged modules keep running, changed and removed ones drain and stop, new ones
start, routes are rewired, and nothing accepted is lost while events flow."""

from __future__ import annotations

import gevent
import gevent.socket
import pytest
from wishbone import Input, Output, Pipeline, Processor
from wishbone.bootstrap import BootstrapError
from wishbone.testing import load_bootstrap

COUNT = 60_000
SMALL = {"inbox": {"maxsize": 1000}}


class Numbers(Input):
    """Emits 0..count-1 in batches, then finishes."""

    ready = True

    def __init__(self, count: int = COUNT) -> None:
        self.count = count
        self.emitted = 0

    def on_start(self) -> None:
        self.spawn_producer(self._run)

    def _run(self) -> None:
        n = 0
        while self.running and n < self.count:
            end = min(n + self.batch_size, self.count)
            self.emit_batch([{"headers": {}, "data": i} for i in range(n, end)])
            self.emitted = n = end
            gevent.sleep(0)
        self.finish()


class Collect(Output):
    """Keeps the data of every event it consumes; a little slow, so a reload lands mid-stream."""

    changes_events = False

    def __init__(self, delay: float = 0.0005) -> None:
        self.delay = delay
        self.seen: list = []

    def consume_batch(self, events: list) -> None:
        self.seen.extend(e["data"] for e in events)
        gevent.sleep(self.delay)


class Picky(Processor):
    """Refuses a negative limit (a reload naming one must be refused)."""

    def __init__(self, limit: int = 0) -> None:
        if limit < 0:
            raise ValueError("limit must be 0 or more")

    def consume(self, event: dict) -> None:
        self.emit(event)


class Udp(Input):
    """A bound UDP socket: each datagram an event."""

    def __init__(self) -> None:
        self.sock = gevent.socket.socket(gevent.socket.AF_INET, gevent.socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    @property
    def ready(self) -> bool:
        return self.sock.fileno() != -1

    def on_start(self) -> None:
        self.spawn_producer(self._read)

    def _read(self) -> None:
        while self.running:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            self.emit_batch([{"headers": {}, "data": data.decode()}])

    def on_stop_intake(self) -> None:
        self.sock.close()


def _flow(queues=None, branch: bool = False, picky: int = 0):
    modules = {
        "input": (Numbers, {}),
        "pass": ("passthrough", {}, queues or SMALL),  # small queues: the input stays a little ahead
        "picky": (Picky, {"limit": picky}, SMALL),
        "sink": (Collect, {}, SMALL),
    }
    routes = {"input.outbox": ["pass.inbox"], "pass.outbox": ["picky.inbox"], "picky.outbox": ["sink.inbox"]}
    if branch:
        modules["extra"] = (Collect, {"delay": 0})
        routes["input.outbox"] = ["pass.inbox", "extra.inbox"]
    return load_bootstrap(modules, routes)


def _wait(predicate, timeout: float = 10.0) -> bool:
    with gevent.Timeout(timeout, False):
        while not predicate():
            gevent.sleep(0.005)
        return True
    return False


def test_reloads_under_load_lose_nothing_and_duplicate_nothing():
    with gevent.Timeout(60):
        pipeline = Pipeline(_flow(), load_entry_points=False)
        pipeline.start()
        sink, first_pass = pipeline.modules["sink"], pipeline.modules["pass"]
        assert _wait(lambda: len(sink.seen) > COUNT // 10)
        changes = pipeline.reload(_flow(queues={"inbox": {"maxsize": 300}}))  # the passthrough changes
        assert changes == {"kept": ["input", "picky", "sink"], "started": ["pass"], "stopped": ["pass"]}
        assert (
            pipeline.modules["pass"] is not first_pass
            and first_pass.greenlets() == []
            or all(g.dead for g in first_pass.greenlets())
        )
        assert pipeline.modules["sink"] is sink
        at_branch = pipeline.modules["input"].emitted
        assert at_branch < COUNT, "the input finished before the second reload: make it slower"
        changes = pipeline.reload(_flow(queues={"inbox": {"maxsize": 300}}, branch=True))  # a branch is added
        assert changes["started"] == ["extra"] and changes["stopped"] == []
        assert pipeline.wait(30) and pipeline.finished
        assert pipeline.stop(10)
    assert sorted(sink.seen) == list(range(COUNT))  # exactly once each, across both reloads
    extra = pipeline.modules["extra"].seen
    assert extra == list(range(extra[0], COUNT)) and extra[0] >= at_branch  # from the reload on, in order


def test_a_reload_that_fails_to_build_changes_nothing():
    with gevent.Timeout(30):
        pipeline = Pipeline(_flow(), load_entry_points=False)
        pipeline.start()
        before = dict(pipeline.modules)
        with pytest.raises(BootstrapError, match=r"bootstrap.picky.variables: Picky refused its parameters"):
            pipeline.reload(_flow(picky=-1))
        assert pipeline.modules == before and all(m.alive for m in before.values())
        assert pipeline.wait(30) and pipeline.stop(10)
    assert sorted(before["sink"].seen) == list(range(COUNT))


def test_removed_modules_stop_new_ones_start_routes_rewired_and_an_unchanged_port_stays_bound():
    first = load_bootstrap(
        {"udp": (Udp, {}), "old": (Collect, {"delay": 0})},
        {"udp.outbox": ["old.inbox"]},
    )
    second = load_bootstrap(
        {"udp": (Udp, {}), "new": (Collect, {"delay": 0})},
        {"udp.outbox": ["new.inbox"]},
    )
    with gevent.Timeout(30):
        pipeline = Pipeline(first, load_entry_points=False)
        pipeline.start()
        udp, old = pipeline.modules["udp"], pipeline.modules["old"]
        sender = gevent.socket.socket(gevent.socket.AF_INET, gevent.socket.SOCK_DGRAM)
        sender.sendto(b"before", ("127.0.0.1", udp.port))
        assert _wait(lambda: old.seen == ["before"])
        assert pipeline.reload(second) == {"kept": ["udp"], "started": ["new"], "stopped": ["old"]}
        assert pipeline.modules["udp"] is udp and udp.ready  # the same socket, still bound
        assert not old.alive and "old" not in pipeline.modules
        sender.sendto(b"after", ("127.0.0.1", udp.port))
        new = pipeline.modules["new"]
        assert _wait(lambda: new.seen == ["after"])
        sender.close()
        pipeline.stop(5)
    assert old.seen == ["before"]


class Reopener(Output):
    """Counts its reopen() calls (SIGHUP's module hook); raises from it when told to."""

    def __init__(self, broken: bool = False) -> None:
        self.broken = broken
        self.reopened = 0

    def consume_batch(self, events: list) -> None:
        pass

    def reopen(self) -> None:
        self.reopened += 1
        if self.broken:
            raise OSError("no such directory")


def test_reopen_calls_the_hook_of_running_modules_that_define_it():
    pipeline = Pipeline(
        load_bootstrap(
            {"in": (Numbers, {"count": 10}), "good": (Reopener, {}), "bad": (Reopener, {"broken": True})},
            {"in.outbox": ["good.inbox", "bad.inbox"]},
        )
    )
    assert pipeline.reopen() == []  # not running yet: nothing to reopen
    pipeline.start()
    try:
        assert pipeline.reopen() == ["good"]  # Numbers has no hook; "bad" raised, logged, left out
        assert pipeline.modules["good"].reopened == 1 and pipeline.modules["bad"].reopened == 1
    finally:
        pipeline.stop(5)
