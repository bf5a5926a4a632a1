"""Sample modules of the shapes the testing kit knows, for tests that need a module to run.

:class:`Upper` (a processor that can fail), :class:`Splitter` (two inboxes, two named outputs),
:class:`Ticker` (an input with a required parameter), :class:`Counter` (a finite input),
:class:`Collect` (a sink that keeps what it consumes), :class:`Exploding` (fails odd events) and
:class:`SlowStop` (a stop that hangs: what the harness's deadline catches). The core's own tests
use them; none is an entry point::

    from wishbone.testing.samples import Collect, Upper

    with Harness(Upper, {"suffix": "!"}) as h: ...
    Pipeline(load_bootstrap({"input": ("testevent", {"count": 3}), "sink": (Collect, {})}, routes))
"""

from __future__ import annotations

import gevent

from wishbone.ack import track
from wishbone.event import new_event
from wishbone.module import Input, Module, Output, Processor

__all__ = ["Collect", "Counter", "Exploding", "SlowStop", "Splitter", "Ticker", "TrackedCounter", "Upper"]


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


class SlowStop(Output):
    """Takes far too long to stop.

    Queues:
        inbox: events in.
    """

    ready = True  # delivers nowhere

    def on_stop(self) -> None:
        gevent.sleep(30)


class Collect(Module):
    """Keeps what it consumes in ``seen`` (a test sink).

    Parameters:
        mutate (bool): write its name into each event's headers (``touched``), as a module that
            changes events does (default false).
        delay (float): seconds to sleep after each batch: a slow sink (default 0).

    Queues:
        inbox: events in.
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


class Counter(Input):
    """Generates events 0..count-1 in batches of 100, then stops (an input).

    Parameters:
        count (int): how many events (default 10).
        bad_every (int): every bad_every-th event is malformed, it lacks headers (default 0: none).

    Queues:
        outbox: the numbered events.
    """

    ready = True  # generates, binds nothing

    def __init__(self, count: int = 10, bad_every: int = 0):
        self.count = count
        self.bad_every = bad_every

    def on_start(self):
        self.spawn_producer(self._run)

    def _run(self):
        batch = []
        for i in range(self.count):
            if self.bad_every and i % self.bad_every == 0:
                batch.append({"data": i})  # no headers: malformed
            else:
                batch.append({"headers": {}, "data": i})
            if len(batch) == 100:
                self.emit_batch(batch)
                batch = []
        self.emit_batch(batch)


class Exploding(Processor):
    """Raises ValueError on odd data (the event goes to ``failed``), passes the rest on.

    Queues:
        inbox: events in (integer data).
        outbox: the even ones.
        failed: the odd ones, with the error in their headers.
    """

    def consume(self, event):
        if event["data"] % 2:
            raise ValueError(f"odd: {event['data']}")
        self.emit(event)


class TrackedCounter(Input):
    """Emits tracked events numbered 0..count-1, records how each settled, then finishes.

    Its ``settled`` list of ``(number, ok)`` says whether each event was delivered (True),
    failed (False) or abandoned (None): what a test of deliveries through a module asserts.

    Parameters:
        count (int): how many events (default 10).

    Queues:
        outbox: the numbered events, each tracked.
    """

    ready = True  # connects nothing

    def __init__(self, count: int = 10) -> None:
        self.count = count
        self.settled: list = []

    def on_start(self) -> None:
        self.spawn_producer(self._run)

    def _settle(self, tag: int, ok: bool | None) -> None:
        self.settled.append((tag, ok))

    def _run(self) -> None:
        for start in range(0, self.count, 100):
            numbers = range(start, min(start + 100, self.count))
            self.emit_batch([track(new_event(i), self._settle, i) for i in numbers])
        self.finish()
