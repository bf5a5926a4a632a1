"""Broken sample modules: each breaks exactly one rule and the conformance suite must catch it.

test_testing_catches imports them in its pytest subprocesses (``PYTHONPATH`` is this folder).
The good samples are in :mod:`wishbone.testing.samples`.
"""

from __future__ import annotations

import gevent
from wishbone.event import new_event
from wishbone.module import Input, Module, Processor


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
