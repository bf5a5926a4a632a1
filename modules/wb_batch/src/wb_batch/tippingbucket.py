"""The ``tippingbucket`` processor: many events into one, by count or by age, per key.

Each key has one open bucket. An event lands in its key's bucket; a bucket *tips* (is
emitted as one event) when it holds ``size`` events, when its first event is ``age``
seconds old, when ``max_keys`` buckets are open and a new key needs room (the oldest tips
early), and at stop, once the inbox has drained. The tipped event is made with
:func:`wishbone.ack.merge`, so an input that acknowledges its source learns about every
original only when the bucket has been delivered (or failed).

Per batch, its keys at once (:func:`wishbone.keys.batch_keys`); per event a few dict operations,
in one loop per batch. One background greenlet tips aged buckets, sleeping until the oldest one is due.
"""

from __future__ import annotations

import collections
import time
from typing import Literal

import gevent.event
from wishbone.ack import merge
from wishbone.expression import Expression
from wishbone.keys import batch_keys, keyed
from wishbone.module import Processor
from wishbone.paths import FieldPath

__all__ = ["TippingBucket"]

#: Why a bucket tipped; each has its counter in :meth:`TippingBucket.metrics`.
REASONS = ("size", "age", "evicted", "stop")


class TippingBucket(Processor):
    """Collects events into one event of ``size`` items, or of what arrived within ``age`` seconds.

    The tipped event's ``data`` is the list of the collected events' data (or, with
    ``keep: "event"``, of ``{"headers", "data"}`` dicts); its headers are
    ``{"tippingbucket": {"key": KEY, "size": N, "reason": "size"|"age"|"evicted"|"stop"}}``.
    It settles every original event's delivery: they are acknowledged when it is delivered,
    rejected if it fails.

    Parameters:
        size (int): events per bucket; a full bucket tips at once (default 100).
        age (float): seconds after its first event that a bucket tips, full or not (default 10).
        key (str | None): field path whose value picks the bucket (``data.host``); events
            without the field share the bucket of key null. Default null: one bucket.
        key_expression (str | None): a JMESPath expression instead of ``key``
            (``join('/', [data.host, data.app])``); one that cannot be evaluated on an event
            sends it to ``failed``.
        max_keys (int): buckets open at once; a new key beyond it tips the oldest bucket
            early (counted as ``evicted``), so memory stays bounded (default 1000).
        keep (str): ``"data"`` collects each event's data, ``"event"`` its headers and data
            (default "data").

    Queues:
        inbox: events to collect.
        outbox: one event per tipped bucket.
        failed: events whose ``key_expression`` cannot be evaluated, the error in
            ``headers.error`` (a missing key field is key null, not an error).
    """

    def __init__(
        self,
        size: int = 100,
        age: float = 10.0,
        key: FieldPath | None = None,
        max_keys: int = 1000,
        keep: Literal["data", "event"] = "data",
        key_expression: Expression | None = None,
    ) -> None:
        if size < 1:
            raise ValueError(f"size must be 1 or more events, got {size}")
        if not age > 0:
            raise ValueError(f"age must be more than 0 seconds, got {age}")
        if max_keys < 1:
            raise ValueError(f"max_keys must be 1 or more, got {max_keys}")
        self.size = size
        self.age = float(age)
        self.key = key
        self.key_expression = key_expression
        self.max_keys = max_keys
        self.keep = keep
        self._keys_of = batch_keys(key, key_expression)
        self._buckets: dict = {}  # key -> list of events (the per-event lookup)
        self._due: collections.OrderedDict = collections.OrderedDict()  # key -> monotonic tip time, oldest first
        self._wake = gevent.event.Event()
        self.tipped = dict.fromkeys(REASONS, 0)

    # ------------------------------------------------------------------ per batch
    def consume_batch(self, events: list) -> None:
        """Put each event in its key's bucket; tip each bucket that fills."""
        events, keys = keyed(self._keys_of, events, self.fail)
        buckets = self._buckets
        get = buckets.get
        size = self.size
        for event, key in zip(events, keys, strict=True):
            bucket = get(key)
            if bucket is None:
                bucket = self._open(key)
            bucket.append(event)
            if len(bucket) >= size:
                del buckets[key]
                del self._due[key]
                self._tip(key, bucket, "size")

    def consume(self, event: dict) -> None:
        """Put one event in its key's bucket (the framework hands whole batches to consume_batch)."""
        self.consume_batch([event])

    def _open(self, key: object) -> list:
        if len(self._buckets) >= self.max_keys:
            oldest, _ = self._due.popitem(last=False)
            self._tip(oldest, self._buckets.pop(oldest), "evicted")
        bucket: list = []
        self._buckets[key] = bucket
        self._due[key] = time.monotonic() + self.age
        return bucket

    def _tip(self, key: object, events: list, reason: str) -> None:
        if self.keep == "data":
            items = [event["data"] for event in events]
        else:
            items = [{"headers": event["headers"], "data": event["data"]} for event in events]
        self.tipped[reason] += 1
        self.emit(merge(events, items, {"tippingbucket": {"key": key, "size": len(items), "reason": reason}}))

    # ------------------------------------------------------------------ in the background
    def on_start(self) -> None:
        """Start the one greenlet that tips aged buckets."""
        self.spawn(self._tip_aged_buckets)

    def _tip_aged_buckets(self) -> None:
        due = self._due
        while True:
            now = time.monotonic()
            tipped = False
            while due:
                key, at = next(iter(due.items()))
                if at > now:
                    break
                del due[key]
                self._tip(key, self._buckets.pop(key), "age")
                tipped = True
            if tipped:
                self.flush()
            wait = self.age if not due else max(0.001, next(iter(due.values())) - time.monotonic())
            if self._wake.wait(wait):
                return

    def on_stop_intake(self) -> None:
        """The pipeline stops: the background greenlet ends (the drain tips what is left)."""
        self._wake.set()

    def drain(self, timeout: float = 5.0) -> bool:
        """Consume what is queued, then tip every open bucket, so that a stop loses nothing."""
        drained = super().drain(timeout)
        self.tip_all("stop")
        self.flush()
        return drained

    def tip_all(self, reason: str = "stop") -> None:
        """Tip every open bucket now, oldest first."""
        while self._due:
            key, _ = self._due.popitem(last=False)
            self._tip(key, self._buckets.pop(key), reason)

    def metrics(self) -> dict:
        """Buckets tipped (in all and by reason), buckets open and events held now."""
        return {
            "tipped": sum(self.tipped.values()),
            **{f"tipped_{reason}": n for reason, n in self.tipped.items()},
            "open_buckets": len(self._buckets),
            "held": sum(len(bucket) for bucket in self._buckets.values()),
        }
