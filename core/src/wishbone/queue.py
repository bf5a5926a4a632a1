"""The two ends of a route: a module emits into a :class:`SourceQueue` and consumes a
:class:`DestinationQueue`.

Events move in batches. A module's ``emit()`` appends to its source queue's ``pending``
list; at the end of each consumed batch (or when an input calls ``flush()``) the source
queue checks the shape of the whole batch once, hands it to every destination and counts.

On a 1-n route each destination must see an event independent of the others'. A module
that declares it does not change events (``changes_events = False``: outputs, routers,
filters) is a *reader*: readers of one route share the same events, in a
:class:`SharedBatch`, and every module that changes events gets its own copy. A reader
that passes a shared event on (a switch) hands it to a module that changes events as a
copy too, so the promise holds for every observer downstream. Copies are made before the
first hand-off, since a hand-off may yield to a consumer. A destination holds batches in
a bounded gevent queue: when it is full, the sender blocks (backpressure all the way up to
the input), unless the destination was configured to drop, and then every drop is counted.
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import TYPE_CHECKING

import gevent.event

from wishbone.ack import mark_abandoned, mark_failed
from wishbone.event import clone, split_valid

if TYPE_CHECKING:
    from wishbone.log import RateLimitedLog

__all__ = ["DEFAULT_BATCH_SIZE", "DEFAULT_MAXSIZE", "DestinationQueue", "SharedBatch", "SourceQueue", "connect"]

#: Events handed over at once. Bigger batches cost less per event, and add latency.
DEFAULT_BATCH_SIZE = 100
#: Events a destination queue holds before its senders block.
DEFAULT_MAXSIZE = 10_000


class SharedBatch(list):
    """A batch whose events other readers of the same 1-n route also hold: read, don't change."""

    __slots__ = ()


def connect(source: SourceQueue, destination: DestinationQueue) -> None:
    """Route *source* into *destination*: the one way queues are wired (pipeline and harness)."""
    if destination in source.routes:
        raise ValueError(f"{source.name} is already routed to {destination.name}")
    source.routes.append(destination)


class DestinationQueue:
    """A bounded queue a module consumes (``inbox`` and other consumed queues).

    The bound is counted in events: a batch is let in while fewer than *maxsize* events
    wait, so the queue holds at most one batch beyond it. Metrics: ``received`` (in),
    ``taken`` (out, consumed by the module), ``dropped`` (refused while full in drop mode,
    sent after the queue closed, or discarded at a forced stop) and ``size`` (waiting now).

    :param name: ``instance.queue``.
    :param maxsize: events it holds before senders block (or drops start).
    :param when_full: ``"block"`` (backpressure, the default) or ``"drop"``.
    """

    def __init__(
        self,
        name: str,
        maxsize: int = DEFAULT_MAXSIZE,
        when_full: str = "block",
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self.name = name
        self.maxsize = maxsize
        self.drop_when_full = when_full == "drop"
        self._batches: collections.deque[list] = collections.deque()
        self._not_empty = gevent.event.Event()
        self._room = gevent.event.Event()
        self._room.set()
        self.received = 0
        self.taken = 0
        self.dropped = 0
        self.size = 0
        self.closed = False
        #: False when the consuming module only reads events (it may share them with others)
        self.changes_events = True

    def put_batch(self, batch: list) -> None:
        """Accept *batch*; block while full (or drop it, in drop mode)."""
        while self.size >= self.maxsize and not self.closed:
            if self.drop_when_full:
                self.dropped += len(batch)
                mark_failed(batch)
                return
            self._room.clear()
            self._room.wait()
        if self.closed:  # its consumer has gone (a routing cycle drained in the wrong order)
            self.dropped += len(batch)
            mark_abandoned(batch)
            return
        self._batches.append(batch)
        n = len(batch)
        self.received += n
        self.size += n
        self._not_empty.set()

    def get_batch(self) -> list | None:
        """Wait for the next batch; None once the queue is closed and empty."""
        batches = self._batches
        while not batches:
            if self.closed:
                return None
            self._not_empty.clear()
            self._not_empty.wait()
        batch = batches.popleft()
        n = len(batch)
        self.taken += n
        self.size -= n
        if self.size < self.maxsize:
            self._room.set()
        return batch

    def close(self) -> None:
        """No more batches will come: the consumer drains what is left, then stops."""
        self.closed = True
        self._not_empty.set()
        self._room.set()

    def discard(self) -> int:
        """Drop what is still queued (after a forced stop); return how many events."""
        lost = 0
        while self._batches:
            batch = self._batches.popleft()
            mark_abandoned(batch)
            lost += len(batch)
        self.dropped += lost
        self.size = 0
        self._room.set()
        return lost

    def shutdown(self) -> None:
        """Called once its module has stopped (a durable queue saves its state here)."""

    def metrics(self) -> dict:
        """This queue's counters: in, out, dropped, size."""
        return {"in": self.received, "out": self.taken, "dropped": self.dropped, "size": self.size}


class SourceQueue:
    """A queue a module emits into (``outbox``, ``failed``, custom ones).

    Metrics: ``received`` (in, emitted by the module), ``sent`` (out, handed to
    destinations), ``dropped`` (malformed, or the queue is not routed anywhere).
    """

    def __init__(self, name: str, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self.name = name
        self.batch_size = batch_size
        self.pending: list = []
        self.put: Callable[[dict], None] = self.pending.append
        self.routes: list[DestinationQueue] = []
        self.received = 0
        self.sent = 0
        self.dropped = 0
        self.on_malformed: RateLimitedLog | None = None
        #: True for ``failed``: whatever is sent through it settles its input negatively
        self.marks_failed = False
        #: True while the module emits events of a :class:`SharedBatch` it was handed
        self.shared_input = False

    @property
    def routed(self) -> bool:
        """True when the routing table connects this queue to at least one destination."""
        return bool(self.routes)

    def flush(self) -> None:
        """Hand what was emitted since the last flush to every destination."""
        pending = self.pending
        if not pending:
            return
        if len(pending) <= self.batch_size:
            batch = pending[:]
            pending.clear()
            self.send(batch)
            return
        batches = [pending[i : i + self.batch_size] for i in range(0, len(pending), self.batch_size)]
        pending.clear()
        for i, batch in enumerate(batches):
            try:
                self.send(batch)
            except BaseException:  # killed while blocked: what was not handed on is abandoned
                for rest in batches[i + 1 :]:
                    self.received += len(rest)
                    self._abandon(rest)
                raise

    def send(self, batch: list) -> None:
        """Check, count and hand *batch* to every destination (blocks on a full one)."""
        if not batch:
            return
        self.received += len(batch)
        good, bad = split_valid(batch)
        if bad:
            self._drop_bad(bad, "malformed", "expected a dict with exactly a dict 'headers' and a 'data' key")
            if not good:
                return
        routes = self.routes
        if not routes or self.marks_failed:
            mark_failed(good)
        if not routes:
            self.dropped += len(good)
            return
        if len(routes) == 1 and not self.shared_input:
            outgoing = [good]
        else:
            good, outgoing = self._distribute(good)
        for i, route in enumerate(routes):
            try:
                route.put_batch(outgoing[i])
            except BaseException:  # killed while blocked (a forced stop): nothing more is handed on
                for rest in outgoing[i:]:
                    self._abandon(rest)
                raise
        self.sent += len(good)

    def _distribute(self, good: list) -> tuple[list, list[list]]:
        """One batch per route: readers share *good*, the others get copies (see the module doc).

        Returns the events handed on (uncopyable ones are dropped) and the batches in route
        order. Without readers the first route takes *good* itself, unless it is shared.
        """
        routes = self.routes
        readers = sum(1 for route in routes if not route.changes_events)
        shared = self.shared_input or readers > 1
        owner = -1  # the route that may take the originals to change them: none if shared
        if not readers and not shared:
            owner = 0
        copies_needed = sum(1 for route in routes if route.changes_events) - (owner == 0)
        copies: list[list] = []
        if copies_needed:
            good, copies = self._copies(good, copies_needed)
        outgoing = []
        for i, route in enumerate(routes):
            if i == owner:
                outgoing.append(good)
            elif route.changes_events:
                outgoing.append(copies.pop())
            else:
                outgoing.append(SharedBatch(good) if shared else good)
        return good, outgoing

    def _copies(self, good: list, n: int) -> tuple[list, list[list]]:
        """*n* independent copies of *good*; events that cannot be copied are dropped."""
        try:
            return good, [[clone(event) for event in good] for _ in range(n)]
        except Exception:
            pass
        kept, copies, uncopyable = [], [[] for _ in range(n)], []
        for event in good:
            try:
                made = [clone(event) for _ in range(n)]
            except Exception:
                uncopyable.append(event)
                continue
            kept.append(event)
            for copy, one in zip(copies, made, strict=True):
                copy.append(one)
        self._drop_bad(uncopyable, "uncopyable", "1-n routes need events whose data can be copied")
        return kept, copies

    def _drop_bad(self, bad: list, what: str, expected: str) -> None:
        self.dropped += len(bad)
        mark_failed(bad)
        if self.on_malformed is not None:
            self.on_malformed.warning(
                "%s: dropped %d %s event(s); %s, got e.g. %.200r", self.name, len(bad), what, expected, bad[0]
            )

    def _abandon(self, events: list) -> None:
        self.dropped += len(events)
        mark_abandoned(events)

    def discard(self) -> int:
        """Drop what is pending (after a forced stop); return how many events."""
        lost = len(self.pending)
        self._abandon(self.pending)
        self.pending.clear()
        return lost

    def metrics(self) -> dict:
        """This queue's counters: in, out, dropped, size."""
        return {"in": self.received, "out": self.sent, "dropped": self.dropped, "size": len(self.pending)}
