"""Small modules the testing kit's own tests run through the harness and the conformance suite.

The good ones pass the suite; each bad one breaks exactly one rule and the suite must catch it.
"""

from __future__ import annotations

import gevent
from wishbone.event import new_event
from wishbone.module import Module


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


class Undocumented(Module):
    def __init__(self, level: int = 1) -> None:
        self.level = level


class Leaky(Module):
    """Starts a greenlet behind the framework's back and never stops it.

    Queues:
        inbox: events in.
    """

    def on_start(self) -> None:
        self.forever = gevent.spawn(gevent.sleep, 3600)


class SlowStop(Module):
    """Takes far too long to stop.

    Queues:
        inbox: events in.
    """

    def on_stop(self) -> None:
        gevent.sleep(30)


class Fragile(Module):
    """Its consumer dies on the first event (it raises what the framework does not catch).

    Queues:
        inbox: events in.
    """

    def consume(self, event: dict) -> None:
        raise gevent.GreenletExit("consumer gone")
