"""The ``throttle`` processor: at most ``rate`` events per second per key, dropped or delayed beyond.

A token bucket per key: it holds up to ``burst`` tokens, refills at ``rate`` per second, and
an event takes one. Per batch: its keys at once (:func:`wishbone.keys.batch_keys`) and one
clock read; per event: a dict look-up and a little arithmetic. One background greenlet
forgets keys whose bucket has refilled (an absent key behaves exactly like a full bucket),
so memory follows the active keys; ``max_keys`` bounds it.
"""

from __future__ import annotations

import collections
import time
from typing import Literal

import gevent
import gevent.event
from wishbone.expression import Expression
from wishbone.keys import batch_keys, keyed
from wishbone.module import Processor
from wishbone.paths import FieldPath

__all__ = ["Throttle"]


class Throttle(Processor):
    """Lets at most ``rate`` events per second through per key; drops or delays the rest.

    In ``drop`` mode an event over the rate is dropped on purpose, like a filter's: it is
    counted as ``throttled`` and its delivery settles positively (an acknowledging input
    acks it: it was handled, not lost by accident). If the ``throttled`` queue is routed,
    the event goes there instead. In ``block`` mode the module waits until the event may
    pass, so the pressure goes back upstream (a bounded inbox fills, then the input waits).
    At stop, events still queued pass without waiting, so that the drain ends in time.

    Parameters:
        rate (float): events per second let through, per key.
        burst (int): events that may pass at once after a quiet time, the size of each key's
            bucket; 0 means ``max(1, rate)`` (default 0).
        key (str | None): field path whose value is the key (``data.user``); events without
            it share key null. Default null: one rate for every event.
        key_expression (str | None): a JMESPath expression instead of ``key``; one that
            cannot be evaluated on an event sends it to ``failed``.
        mode (str): ``"drop"`` or ``"block"`` (default "drop").
        max_keys (int): keys tracked at once; a new key beyond it forgets the oldest one
            (counted as ``evicted``; that key starts again with a full bucket) (default 10000).

    Queues:
        inbox: events to throttle.
        outbox: events within the rate.
        throttled: events over the rate in drop mode, if routed (else they are dropped).
        failed: events whose ``key_expression`` cannot be evaluated, the error in ``headers.error``.
    """

    emits = ("throttled",)
    changes_events = False

    def __init__(
        self,
        rate: float,
        burst: int = 0,
        key: FieldPath | None = None,
        mode: Literal["drop", "block"] = "drop",
        max_keys: int = 10000,
        key_expression: Expression | None = None,
    ) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be more than 0 events per second, got {rate}")
        if burst < 0:
            raise ValueError(f"burst must be 0 (the rate) or more events, got {burst}")
        if max_keys < 1:
            raise ValueError(f"max_keys must be 1 or more, got {max_keys}")
        self.rate = float(rate)
        self.burst = float(burst or max(1.0, rate))
        self.key = key
        self.key_expression = key_expression
        self.mode = mode
        self.max_keys = max_keys
        self._keys_of = batch_keys(key, key_expression)
        self._block = mode == "block"
        self._buckets: collections.OrderedDict = collections.OrderedDict()  # key -> [tokens, monotonic time]
        self._wake = gevent.event.Event()
        self._divert = False
        self.passed = 0
        self.throttled = 0
        self.delayed = 0
        self.evicted = 0

    def on_start(self) -> None:
        """Note whether ``throttled`` is routed; start the greenlet that forgets refilled keys."""
        self._divert = self.is_routed("throttled")
        if self._keys_of is not None:
            self.spawn(self._forget_refilled)

    def on_stop_intake(self) -> None:
        """The pipeline stops: what is still queued passes without waiting."""
        self._wake.set()

    def consume_batch(self, events: list) -> None:
        """Let each event through if its key has a token; else drop, divert or wait."""
        now = time.monotonic()  # one clock read per batch: a batch is handled at one instant
        events, keys = keyed(self._keys_of, events, self.fail)
        buckets = self._buckets
        get = buckets.get
        rate, burst, max_keys, block = self.rate, self.burst, self.max_keys, self._block
        passed: list = []
        throttled: list = []
        take = passed.append
        for event, key in zip(events, keys, strict=True):
            state = get(key)
            if state is None:
                if len(buckets) >= max_keys:
                    buckets.popitem(last=False)
                    self.evicted += 1
                state = buckets[key] = [burst, now]
            tokens = state[0] + (now - state[1]) * rate
            if tokens > burst:
                tokens = burst
            if tokens >= 1.0:
                state[0], state[1] = tokens - 1.0, now
                take(event)
            elif not block:
                state[0], state[1] = tokens, now
                throttled.append(event)
            elif self.running:
                self.delayed += 1
                self.passed += len(passed)
                self.emit_batch(passed)  # what passed before it moves on while it waits
                passed = [event]
                take = passed.append
                self._wake.wait((1.0 - tokens) / rate)
                now = time.monotonic()
                state[0], state[1] = 0.0, now  # it took the token it waited for
            else:  # stopping: what is queued passes without waiting
                state[0], state[1] = 0.0, now
                take(event)
        self.passed += len(passed)
        self.emit_batch(passed)
        if throttled:
            self.throttled += len(throttled)
            if self._divert:
                self.emit_batch(throttled, "throttled")

    def consume(self, event: dict) -> None:
        """Throttle one event (the framework hands whole batches to consume_batch)."""
        self.consume_batch([event])

    def _forget_refilled(self) -> None:
        period = min(60.0, max(1.0, self.burst / self.rate))
        while not self._wake.wait(period):
            now = time.monotonic()
            rate, burst = self.rate, self.burst
            full = [key for key, (tokens, at) in self._buckets.items() if tokens + (now - at) * rate >= burst]
            for key in full:
                del self._buckets[key]

    def metrics(self) -> dict:
        """Events passed, throttled (drop mode), delayed (block mode); keys tracked and evicted."""
        return {
            "passed": self.passed,
            "throttled": self.throttled,
            "delayed": self.delayed,
            "keys": len(self._buckets),
            "evicted": self.evicted,
        }
