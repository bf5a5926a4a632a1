"""The ``testevent`` input: generates events, for demos, tests and benchmarks."""

from __future__ import annotations

from typing import Any

import gevent
import gevent.event

from wishbone.event import clone
from wishbone.module import Input

_IMMUTABLE = (str, int, float, bool, bytes, type(None))


class TestEvent(Input):
    """Generates test events.

    Parameters:
        payload (any): the ``data`` of every event (default ``"test"``).
        interval (float): seconds between events; 0 generates as fast as the
            pipeline takes them (default 1).
        count (int): stop after this many events, then finish (once every input has
            finished, the pipeline drains and exits); 0 never stops (default 0).

    Queues:
        outbox: the generated events.
    """

    __test__ = False  # not a pytest test class, whatever its name
    ready = True  # binds and connects nothing: ready as soon as it runs

    def __init__(self, payload: Any = "test", interval: float = 1.0, count: int = 0) -> None:
        if interval < 0:
            raise ValueError("interval must be 0 or more seconds")
        if count < 0:
            raise ValueError("count must be 0 (endless) or more")
        self.payload = payload
        self.interval = interval
        self.count = count
        self.generated = 0

    def on_start(self) -> None:
        self._wake = gevent.event.Event()
        self.spawn_producer(self._generate)

    def on_stop_intake(self) -> None:
        self._wake.set()  # a stop does not wait out the interval

    def metrics(self) -> dict:
        return {"generated": self.generated}

    def _generate(self) -> None:
        payload = self.payload
        shared = isinstance(payload, _IMMUTABLE)
        # a dict of immutable values (the usual payload): a shallow copy is an independent one
        flat = type(payload) is dict and all(isinstance(value, _IMMUTABLE) for value in payload.values())
        remaining = self.count or -1
        size = self.batch_size if self.interval == 0 else 1
        while self.running and remaining != 0:
            n = size if remaining < 0 else min(size, remaining)
            if shared:
                batch = [{"headers": {}, "data": payload} for _ in range(n)]
            elif flat:
                batch = [{"headers": {}, "data": payload.copy()} for _ in range(n)]
            else:
                batch = [clone({"headers": {}, "data": payload}) for _ in range(n)]
            self.emit_batch(batch)
            self.generated += n
            if remaining > 0:
                remaining -= n
            if remaining == 0:
                break
            if self.interval:
                self._wake.wait(self.interval)
            else:
                gevent.sleep(0)
        if remaining == 0:
            self.finish()
