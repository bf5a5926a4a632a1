"""The two ends of a route: a module emits into a :class:`SourceQueue` and consumes a
:class:`DestinationQueue`.

Events move in batches. A module's ``emit()`` appends to its source queue's ``pending``
list; at the end of each consumed batch (or when an input calls ``flush()``) the source
queue checks the shape of the whole batch once, hands it to every destination (the first
gets the batch, the others independent copies) and counts. A destination holds batches in
a bounded gevent queue: when it is full, the sender blocks (backpressure all the way up to
the input), unless the destination was configured to drop, and then every drop is counted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import gevent.queue

from wishbone.ack import mark_abandoned, mark_failed
from wishbone.event import clone, split_valid

if TYPE_CHECKING:
    from wishbone.log import RateLimitedLog

__all__ = ["DEFAULT_BATCH_SIZE", "DEFAULT_MAXSIZE", "DestinationQueue", "SourceQueue"]

#: Events handed over at once. Bigger batches cost less per event, and add latency.
DEFAULT_BATCH_SIZE = 100
#: Events a destination queue holds before its senders block.
DEFAULT_MAXSIZE = 10_000


class DestinationQueue:
    """A bounded queue a module consumes (``inbox`` and other consumed queues).

    Metrics: ``received`` (in), ``taken`` (out, consumed by the module), ``dropped``
    (refused while full, in drop mode) and ``size`` (events waiting now).

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
        self._batches: gevent.queue.Queue = gevent.queue.Queue(max(1, -(-maxsize // batch_size)))
        self.received = 0
        self.taken = 0
        self.dropped = 0
        self.size = 0
        self.closed = False

    def put_batch(self, batch: list) -> None:
        """Accept *batch*; block while full (or drop it, in drop mode)."""
        batches = self._batches
        if self.drop_when_full and batches.full():
            self.dropped += len(batch)
            mark_failed(batch)
            return
        batches.put(batch)
        n = len(batch)
        self.received += n
        self.size += n

    def get_batch(self) -> list | None:
        """Wait for the next batch; None once the queue is closed and empty."""
        batches = self._batches
        if self.closed and not batches.qsize():
            return None
        batch = batches.get()
        if batch is None:
            return None
        n = len(batch)
        self.taken += n
        self.size -= n
        return batch

    def close(self) -> None:
        """No more batches will come: the consumer drains what is left, then stops."""
        if self.closed:
            return
        self.closed = True
        try:
            self._batches.put_nowait(None)
        except gevent.queue.Full:
            pass  # the consumer sees ``closed`` once it has emptied the queue

    def discard(self) -> int:
        """Drop what is still queued (after a forced stop); return how many events."""
        lost = 0
        while True:
            try:
                batch = self._batches.get_nowait()
            except gevent.queue.Empty:
                break
            if batch:
                mark_abandoned(batch)
                lost += len(batch)
        self.dropped += lost
        self.size = 0
        return lost

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
        for batch in batches:
            self.send(batch)

    def send(self, batch: list) -> None:
        """Check, count and hand *batch* to every destination (blocks on a full one)."""
        if not batch:
            return
        self.received += len(batch)
        good, bad = split_valid(batch)
        if bad:
            self.dropped += len(bad)
            mark_failed(bad)
            if self.on_malformed is not None:
                self.on_malformed.warning(
                    "%s: dropped %d malformed event(s); expected a dict with exactly a dict "
                    "'headers' and a 'data' key, got e.g. %.200r",
                    self.name,
                    len(bad),
                    bad[0],
                )
            if not good:
                return
        routes = self.routes
        if not routes or self.marks_failed:
            mark_failed(good)
        if not routes:
            self.dropped += len(good)
            return
        self.sent += len(good)
        if len(routes) == 1:
            routes[0].put_batch(good)
            return
        # Copy before the first hand-off: a put may yield, and the first consumer may
        # change its events before the copies are made.
        copies = [[clone(event) for event in good] for _ in routes[1:]]
        routes[0].put_batch(good)
        for route, copy in zip(routes[1:], copies, strict=True):
            route.put_batch(copy)

    def discard(self) -> int:
        """Drop what is pending (after a forced stop); return how many events."""
        lost = len(self.pending)
        mark_abandoned(self.pending)
        self.pending.clear()
        self.dropped += lost
        return lost

    def metrics(self) -> dict:
        """This queue's counters: in, out, dropped, size."""
        return {"in": self.received, "out": self.sent, "dropped": self.dropped, "size": len(self.pending)}
