"""Modules that exist only in this suite (not entry points): a slow output, a malformed-event
emitter and an in-process counting sink. They are built with :func:`wishbone.testing.load_bootstrap`."""

from __future__ import annotations

import gevent
from wishbone.module import Module

__all__ = ["CountingSink", "MalformedEmitter", "MalformedRelay", "SlowSink"]

#: Items that are not events: each is dropped by the queue it is emitted on.
NOT_EVENTS = (
    None,
    42,
    "text",
    b"bytes",
    [],
    {"data": 1},  # no headers
    {"headers": {}},  # no data
    {"headers": [], "data": 1},  # headers not a dict
    {"headers": {}, "data": 1, "extra": 2},  # an unknown key
)


class SlowSink(Module):
    """An output that sleeps after every batch (a slow disk, a slow broker).

    Parameters:
        delay (float): seconds slept after each consumed batch.

    Queues:
        inbox: events to count, slowly.
    """

    def __init__(self, delay: float = 0.01) -> None:
        self.delay = delay
        self.count = 0

    def consume(self, event: dict) -> None:
        self.count += 1

    def end_of_batch(self) -> None:
        gevent.sleep(self.delay)


class CountingSink(Module):
    """An output that counts what it consumes, by the value of ``data``.

    Queues:
        inbox: events to count.
    """

    def __init__(self) -> None:
        self.count = 0
        self.seen: dict = {}

    def consume(self, event: dict) -> None:
        self.count += 1
        key = repr(event["data"])
        self.seen[key] = self.seen.get(key, 0) + 1


class MalformedEmitter(Module):
    """An input that emits, on each of its queues, *rounds* batches mixing good events and non-events.

    Each round emits one good event and every item of ``NOT_EVENTS`` on ``outbox``, ``failed``
    and ``side``, with ``emit`` + ``flush`` (batched path) and with ``emit_batch`` (direct path).

    Parameters:
        rounds (int): how many rounds.

    Queues:
        outbox, failed, side: good events and non-events alike.
    """

    consumes: dict[str, str] = {}
    emits = ("side",)

    def __init__(self, rounds: int = 100) -> None:
        self.rounds = rounds
        self.good = 0
        self.bad = 0

    def on_start(self) -> None:
        self.spawn_producer(self._emit)

    def _emit(self) -> None:
        for n in range(self.rounds):
            if not self.running:
                return
            for queue in ("outbox", "failed", "side"):
                if n % 2:
                    self.emit_batch([{"headers": {}, "data": n}, *NOT_EVENTS], queue)
                else:
                    self.emit({"headers": {}, "data": n}, queue)
                    for item in NOT_EVENTS:
                        self.emit(item, queue)
                    self.flush()
                self.good += 1
                self.bad += len(NOT_EVENTS)
            gevent.sleep(0)


class MalformedRelay(Module):
    """Passes each event on, and with it every item of ``NOT_EVENTS``, on ``outbox`` and ``failed``.

    Queues:
        inbox: events in.  outbox, failed: each event once, plus every non-event.
    """

    def __init__(self) -> None:
        pass

    def consume(self, event: dict) -> None:
        for queue in ("outbox", "failed"):
            self.emit(event if queue == "outbox" else {"headers": {}, "data": event["data"]}, queue)
            for item in NOT_EVENTS:
                self.emit(item, queue)
