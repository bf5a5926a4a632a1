"""Sample modules of the shapes the testing kit knows, for tests that need a module to run.

:class:`Upper` (a processor that can fail), :class:`Splitter` (two inboxes, two named outputs),
:class:`Ticker` (an input with a required parameter), :class:`Collect` (a sink that keeps what
it consumes), :class:`Exploding` (fails odd events) and :class:`SlowStop` (a stop that hangs:
what the harness's deadline catches). The core's own tests use them; none is an entry point::

    from wishbone.testing.samples import Collect, Upper

    with Harness(Upper, {"suffix": "!"}) as h: ...
    Pipeline(load_bootstrap({"input": ("testevent", {"count": 3}), "sink": (Collect, {})}, routes))
"""

from __future__ import annotations

import gevent

from wishbone.event import new_event
from wishbone.module import Module

__all__ = ["Collect", "Exploding", "SlowStop", "Splitter", "Ticker", "Upper"]


class Upper(Module):
    """Upper-cases text data; anything else makes consume() raise.

    Parameters:
        suffix (str): text appended after upper-casing (default "").

    Queues:
        inbox: events in.
        outbox: the changed events.
        failed: events whose data is not text.
    """

    def __init__(self, suffix: str = "") -> None:
        self.suffix = suffix

    def consume(self, event: dict) -> None:
        data = event["data"]
        if not isinstance(data, str):
            raise TypeError(f"expected text data, got {type(data).__name__}")
        event["data"] = data.upper() + self.suffix
        self.emit(event)


class Splitter(Module):
    """Sends text to ``text`` and everything else to ``other``; also consumes ``side``.

    Parameters:
        none.

    Queues:
        inbox: events in.
        side: a second way in, treated the same.
        text: events with text data.
        other: the rest.
    """

    consumes = {"inbox": "consume", "side": "consume"}
    emits = ("text", "other")

    def consume(self, event: dict) -> None:
        self.emit(event, "text" if isinstance(event["data"], str) else "other")


class Ticker(Module):
    """Emits a numbered event every interval seconds.

    Parameters:
        interval (float): seconds between events.
        port (int): not used; a required parameter, to exercise configs from fixtures.

    Queues:
        outbox: the numbered events.
    """

    consumes: dict[str, str] = {}

    def __init__(self, port: int, interval: float = 0.01) -> None:
        self.port = port
        self.interval = interval

    def on_start(self) -> None:
        self.spawn_producer(self._tick)

    def _tick(self) -> None:
        n = 0
        while self.running:
            self.emit_batch([new_event(n)])
            n += 1
            gevent.sleep(self.interval)


class SlowStop(Module):
    """Takes far too long to stop.

    Queues:
        inbox: events in.
    """

    def on_stop(self) -> None:
        gevent.sleep(30)


class Collect(Module):
    """Keeps what it consumes (test sink).

    Queues: inbox.
    """

    def __init__(self, mutate: bool = False, delay: float = 0.0):
        self.mutate = mutate
        self.delay = delay
        self.seen: list = []

    def consume(self, event):
        if self.mutate:
            event["headers"]["touched"] = self.name
        self.seen.append(event)

    def end_of_batch(self):
        if self.delay:
            gevent.sleep(self.delay)


class Exploding(Module):
    """Raises on odd payloads, passes the rest.

    Queues: inbox, outbox, failed.
    """

    def consume(self, event):
        if event["data"] % 2:
            raise ValueError(f"odd: {event['data']}")
        self.emit(event)
