"""The ``dedupe`` processor: an event whose key was seen within ``window`` seconds is dropped.

Keys are kept in a dict (key -> when first seen) and a deque in the order they were seen,
so that expiry and eviction take the oldest first at O(1) each. ``max_size`` bounds the
memory: beyond it the oldest key is forgotten early (counted). One background greenlet
expires keys older than the window.
"""

from __future__ import annotations

import collections
import time

import gevent.event
from wishbone.expression import Expression
from wishbone.keys import batch_keys, keyed
from wishbone.module import Processor

__all__ = ["Dedupe"]

#: When a key that is not remembered was seen: before any window.
_NEVER = float("-inf")


class Dedupe(Processor):
    """Drops an event whose key was already seen within the last ``window`` seconds.

    A duplicate is dropped on purpose, like a filter's drop: counted as ``duplicates``, its
    delivery settles positively (an acknowledging input acks it). If the ``duplicate``
    queue is routed, it goes there instead. An event without the key field, or whose key
    is null, passes (counted as ``unkeyed``). The window counts from a key's first sighting: a key seen
    again within it does not extend it.

    Parameters:
        key (str): field path of the value that identifies an event (default "data": the
            whole data; a list or dict compares by its JSON text).
        key_expression (str | None): a JMESPath expression used instead of ``key``; one that
            cannot be evaluated on an event sends it to ``failed``, one that selects null
            counts as unkeyed.
        window (float): seconds a key is remembered (default 60).
        max_size (int): keys remembered at once; beyond it the oldest is forgotten before
            its window ends (counted as ``evicted``) (default 100000).

    Queues:
        inbox: events to deduplicate.
        outbox: the first event of each key within the window, and unkeyed events.
        duplicate: the duplicates, if routed (else they are dropped).
        failed: events whose ``key_expression`` cannot be evaluated, the error in ``headers.error``.
    """

    emits = ("duplicate",)
    changes_events = False

    def __init__(
        self,
        key: str = "data",  # compiled in batch_keys: a bad path is a ValueError with the column
        window: float = 60.0,
        max_size: int = 100_000,
        key_expression: Expression | None = None,
    ) -> None:
        if not window > 0:
            raise ValueError(f"window must be more than 0 seconds, got {window}")
        if max_size < 1:
            raise ValueError(f"max_size must be 1 or more, got {max_size}")
        self.key = key
        self.key_expression = key_expression
        self.window = float(window)
        self.max_size = max_size
        self._keys_of = batch_keys(None if key_expression else key, key_expression)
        self._seen: dict = {}  # key -> monotonic time first seen
        self._order: collections.deque = collections.deque()  # (time, key), oldest first; stale ones skipped
        self._wake = gevent.event.Event()
        self._divert = False
        self.unique = 0
        self.duplicates = 0
        self.unkeyed = 0
        self.expired = 0
        self.evicted = 0

    def on_start(self) -> None:
        """Note whether ``duplicate`` is routed; start the greenlet that expires old keys."""
        self._divert = self.is_routed("duplicate")
        self.spawn(self._expire)

    def on_stop_intake(self) -> None:
        """The pipeline stops: the background greenlet ends."""
        self._wake.set()

    def consume_batch(self, events: list) -> None:
        """Pass each event whose key is new within the window; drop (or divert) the others."""
        now = time.monotonic()  # one clock read per batch: a batch is handled at one instant
        events, keys = keyed(self._keys_of, events, self.fail)
        seen, max_size = self._seen, self.max_size
        recent = now - self.window  # a key first seen after this is a duplicate
        get = seen.get
        remember = self._order.append
        passed: list = []
        duplicates: list = []
        keep, drop = passed.append, duplicates.append
        unkeyed = 0
        bounded = len(seen) + len(keys) > max_size  # else even all new, this batch cannot pass max_size
        for event, key in zip(events, keys, strict=True):
            if key is None:  # a missing field or a null: nothing to compare
                unkeyed += 1
                keep(event)
            elif get(key, _NEVER) > recent:
                drop(event)
            else:
                seen[key] = now
                remember((now, key))
                if bounded and len(seen) > max_size:
                    self._forget_oldest()
                    self.evicted += 1
                keep(event)
        self.unkeyed += unkeyed
        self.unique += len(passed) - unkeyed
        self.emit_batch(passed)
        if duplicates:
            self.duplicates += len(duplicates)
            if self._divert:
                self.emit_batch(duplicates, "duplicate")

    def consume(self, event: dict) -> None:
        """Deduplicate one event (the framework hands whole batches to consume_batch)."""
        self.consume_batch([event])

    def _forget_oldest(self) -> None:
        order, seen = self._order, self._seen
        while order:
            at, key = order.popleft()
            if seen.get(key) == at:  # not a stale entry of a key seen again since
                del seen[key]
                return

    def _expire(self) -> None:
        order, seen = self._order, self._seen
        period = max(0.01, min(1.0, self.window / 4))
        while not self._wake.wait(period):
            cutoff = time.monotonic() - self.window
            while order and order[0][0] <= cutoff:
                at, key = order.popleft()
                if seen.get(key) == at:
                    del seen[key]
                    self.expired += 1

    def metrics(self) -> dict:
        """Events passed (unique, unkeyed), duplicates dropped, keys remembered, expired and evicted."""
        return {
            "unique": self.unique,
            "duplicates": self.duplicates,
            "unkeyed": self.unkeyed,
            "keys": len(self._seen),
            "expired": self.expired,
            "evicted": self.evicted,
        }
