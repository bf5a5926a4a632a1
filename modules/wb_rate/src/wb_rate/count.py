"""The ``count`` processor: how many events passed, per key, emitted as events every interval.

Per batch: the batch's keys (:func:`wishbone.keys.batch_keys`), counted in one
:meth:`collections.Counter.update` while the batch cannot overflow ``max_keys`` (else one
dict increment per event). One background greenlet swaps the counts for a new Counter
every ``interval`` and emits one event per key on ``counts``; at stop, once the inbox has
drained, the last (partial) interval is emitted too.
"""

from __future__ import annotations

import collections
import time

import gevent.event
from wishbone.expression import Expression
from wishbone.keys import batch_keys, keyed
from wishbone.module import Processor
from wishbone.paths import FieldPath

__all__ = ["Count"]

#: The key that counts new keys once ``max_keys`` are counted in an interval.
OTHER = "(other)"


class Count(Processor):
    """Counts events per key and emits the counts and rates as events every ``interval`` seconds.

    Each interval, one event per key seen in it goes to ``counts``, with ``data``
    ``{"key": KEY, "count": N, "rate": N per second, "interval": seconds}``; without a
    ``key``, one event every interval, also when nothing passed (count 0). The events
    themselves pass on unchanged to ``outbox`` when it is routed; when it is not, count is
    a sink and they are done there (an acknowledging input acks them).

    Parameters:
        interval (float): seconds between emissions of the counts (default 60).
        key (str | None): field path whose value is counted (``data.status``); events
            without it count under key null. Default null: one total.
        key_expression (str | None): a JMESPath expression instead of ``key``; one that
            cannot be evaluated on an event sends it to ``failed``.
        max_keys (int): keys counted in one interval; further new keys count under
            ``"(other)"`` (counted as ``overflowed``) (default 1000).

    Queues:
        inbox: events to count.
        outbox: the same events, unchanged, when routed.
        counts: one event per key and interval.
        failed: events whose ``key_expression`` cannot be evaluated, the error in ``headers.error``.
    """

    emits = ("counts",)
    changes_events = False

    def __init__(
        self,
        interval: float = 60.0,
        key: FieldPath | None = None,
        max_keys: int = 1000,
        key_expression: Expression | None = None,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be more than 0 seconds, got {interval}")
        if max_keys < 1:
            raise ValueError(f"max_keys must be 1 or more, got {max_keys}")
        self.interval = float(interval)
        self.key = key
        self.key_expression = key_expression
        self.max_keys = max_keys
        self._keys_of = batch_keys(key, key_expression)
        self._counts: collections.Counter = collections.Counter()
        self._total = 0
        self._since = time.monotonic()
        self._wake = gevent.event.Event()
        self._pass = True
        self.counted = 0
        self.overflowed = 0
        self.reports = 0

    def on_start(self) -> None:
        """Note whether ``outbox`` is routed; start the greenlet that emits the counts."""
        self._pass = self.is_routed("outbox")
        self._since = time.monotonic()
        self.spawn(self._report_every_interval)

    def on_stop_intake(self) -> None:
        """The pipeline stops: the background greenlet ends (the drain emits the last counts)."""
        self._wake.set()

    def consume_batch(self, events: list) -> None:
        """Count each event under its key; pass the batch on if ``outbox`` is routed."""
        if self._keys_of is None:
            self._total += len(events)
        else:
            events, keys = keyed(self._keys_of, events, self.fail)
            counts = self._counts
            if len(counts) + len(keys) <= self.max_keys:  # even all new, no key can overflow: count in C
                counts.update(keys)
            else:
                max_keys = self.max_keys
                for key in keys:
                    n = counts.get(key)
                    if n is None:
                        if len(counts) >= max_keys:
                            key = OTHER
                            self.overflowed += 1
                        n = counts.get(key, 0)
                    counts[key] = n + 1
        if self._pass:
            self.emit_batch(events)

    def consume(self, event: dict) -> None:
        """Count one event (the framework hands whole batches to consume_batch)."""
        self.consume_batch([event])

    def _report_every_interval(self) -> None:
        while not self._wake.wait(max(0.0, self._since + self.interval - time.monotonic())):
            self.report()
            self.flush()

    def drain(self, timeout: float = 5.0) -> bool:
        """Consume what is queued, then emit the counts of the last, partial interval."""
        drained = super().drain(timeout)
        self.report()
        self.flush()
        return drained

    def report(self) -> None:
        """Emit the counts since the last report on ``counts`` and start a new interval."""
        now = time.monotonic()
        elapsed = max(now - self._since, 1e-9)
        self._since = now
        if self._keys_of is None:
            counts = {None: self._total}
            self._total = 0
        else:
            counts, self._counts = self._counts, collections.Counter()
        for key, n in counts.items():
            self.counted += n
            data = {"key": key, "count": n, "rate": n / elapsed, "interval": elapsed}
            self.emit({"headers": {}, "data": data}, "counts")
        self.reports += 1

    def metrics(self) -> dict:
        """Events counted in reported intervals, reports made, keys beyond max_keys."""
        return {"counted": self.counted, "reports": self.reports, "overflowed": self.overflowed}
