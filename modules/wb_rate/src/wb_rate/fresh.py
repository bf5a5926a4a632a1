"""The ``fresh`` processor: a dead man's switch, an event when nothing arrived for a while.

Per batch: one counter increment and a flag test. One background greenlet looks every
tenth of ``timeout`` (at most every second) whether the counter moved.
"""

from __future__ import annotations

import time
from typing import Any

import gevent.event
from wishbone.event import clone
from wishbone.module import Processor

__all__ = ["Fresh"]


class Fresh(Processor):
    """Emits an event on ``alarm`` when no event arrived for ``timeout`` seconds (a dead man's switch).

    The alarm has ``data`` = ``payload`` and headers ``{"fresh": {"state": "timeout",
    "silent": seconds}}``; it fires within a tenth of ``timeout`` (at most 1 s) after the
    deadline, counted from the last event (or the start). With ``repeat`` it fires again
    every ``repeat`` seconds while the silence lasts. When events come back, a recovery
    event (``data`` = ``recovery``, state ``"recovery"``) follows if ``recovery`` is set.
    The events themselves pass on unchanged to ``outbox`` when it is routed; when it is
    not, fresh is a sink and they are done there.

    Parameters:
        timeout (float): seconds without events before the alarm (default 60).
        payload (any): the alarm event's data (default "timeout").
        recovery (any): the recovery event's data; null sends none (default null).
        repeat (float): seconds between repeated alarms while silent; 0 alarms once (default 0).

    Queues:
        inbox: the events to watch.
        outbox: the same events, unchanged, when routed.
        alarm: the timeout and recovery events.
        failed: events watching raised on, the error in ``headers.error`` (none in normal use).
    """

    emits = ("alarm",)
    changes_events = False

    def __init__(
        self, timeout: float = 60.0, payload: Any = "timeout", recovery: Any = None, repeat: float = 0.0
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"timeout must be more than 0 seconds, got {timeout}")
        if repeat < 0:
            raise ValueError(f"repeat must be 0 (alarm once) or more seconds, got {repeat}")
        self.timeout = float(timeout)
        self.payload = payload
        self.recovery = recovery
        self.repeat = float(repeat)
        self._wake = gevent.event.Event()
        self._pass = True
        self.seen = 0
        self.silent = False
        self._quiet_since = time.monotonic()
        self.alarms = 0
        self.recoveries = 0

    def on_start(self) -> None:
        """Note whether ``outbox`` is routed; start the greenlet that watches the silence."""
        self._pass = self.is_routed("outbox")
        self._quiet_since = time.monotonic()
        self.spawn(self._watch)

    def on_stop_intake(self) -> None:
        """The pipeline stops: the watching greenlet ends."""
        self._wake.set()

    def consume_batch(self, events: list) -> None:
        """Count the events (ending a silence: recovery); pass them on if ``outbox`` is routed."""
        self.seen += len(events)
        if self.silent:
            self._recovered()
        if self._pass:
            self.emit_batch(events)

    def consume(self, event: dict) -> None:
        """Watch one event (the framework hands whole batches to consume_batch)."""
        self.consume_batch([event])

    def _recovered(self) -> None:
        self.silent = False
        if self.recovery is not None:
            silent = time.monotonic() - self._quiet_since
            self.recoveries += 1
            event = {"headers": {"fresh": {"state": "recovery", "silent": silent}}, "data": self.recovery}
            self.emit(clone(event), "alarm")

    def _watch(self) -> None:
        tick = max(0.01, min(1.0, self.timeout / 10))
        last_seen = self.seen
        next_alarm = self._quiet_since + self.timeout
        while not self._wake.wait(tick):
            now = time.monotonic()
            if self.seen != last_seen:
                last_seen = self.seen
                self._quiet_since = now
                next_alarm = now + self.timeout
            elif now >= next_alarm and (not self.silent or self.repeat):
                self.silent = True
                self.alarms += 1
                silent = now - self._quiet_since
                alarm = {"headers": {"fresh": {"state": "timeout", "silent": silent}}, "data": self.payload}
                self.emit(clone(alarm), "alarm")  # a copy: a module downstream may change it
                self.flush()
                next_alarm = now + self.repeat if self.repeat else float("inf")

    def metrics(self) -> dict:
        """Events seen, alarms and recoveries sent."""
        return {"seen": self.seen, "alarms": self.alarms, "recoveries": self.recoveries}
