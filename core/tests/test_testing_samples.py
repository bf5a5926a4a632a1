"""Small modules the testing kit's own tests run through the harness and the conformance suite.

The good ones pass the suite; each bad one breaks exactly one rule and the suite must catch it.
"""

from __future__ import annotations

import gevent
from wishbone.event import new_event
from wishbone.module import Input, Module, Processor


class Upper(Processor):
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


class Splitter(Processor):
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


class Ticker(Input):
    """Emits a numbered event every interval seconds.

    Parameters:
        interval (float): seconds between events.
        port (int): not used; a required parameter, to exercise configs from fixtures.

    Queues:
        outbox: the numbered events.
    """

    ready = True  # binds nothing: it only counts

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


class Undocumented(Processor):
    def __init__(self, level: int = 1) -> None:
        self.level = level


class Leaky(Processor):
    """Starts a greenlet behind the framework's back and never stops it.

    Queues:
        inbox: events in.
    """

    def on_start(self) -> None:
        self.forever = gevent.spawn(gevent.sleep, 3600)


class SlowStop(Processor):
    """Takes far too long to stop.

    Queues:
        inbox: events in.
    """

    def on_stop(self) -> None:
        gevent.sleep(30)


class Fragile(Processor):
    """Its consumer dies on the first event (it raises what the framework does not catch).

    Queues:
        inbox: events in.
    """

    def consume(self, event: dict) -> None:
        raise gevent.GreenletExit("consumer gone")


class NoKind(Module):
    """Passes events on, but declares no kind (it subclasses Module itself).

    Queues:
        inbox: events in.
        outbox: the same events.
    """


class NotReady(Input):
    """An input that never says whether it is bound or connected.

    Queues:
        outbox: nothing, ever.
    """


class EarlyAck(Processor):
    """Re-wraps each event in a plain new dict, which acknowledges the original early.

    Queues:
        inbox: events in.
        outbox: new events with the same data.
    """

    def consume(self, event: dict) -> None:
        self.emit(new_event(event["data"]))


class LyingReader(Processor):
    """Says it does not change events, and changes them.

    Queues:
        inbox: events in.
        outbox: the changed events.
    """

    changes_events = False

    def consume(self, event: dict) -> None:
        event["headers"]["touched"] = True
        self.emit(event)
