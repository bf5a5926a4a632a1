"""Broken sample modules: each breaks exactly one rule and the conformance suite must catch it.

test_testing_catches imports them in its pytest subprocesses (``PYTHONPATH`` is this folder).
The good samples are in :mod:`wishbone.testing.samples`.
"""

from __future__ import annotations

import gevent
from wishbone.module import Module


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


class Fragile(Module):
    """Its consumer dies on the first event (it raises what the framework does not catch).

    Queues:
        inbox: events in.
    """

    def consume(self, event: dict) -> None:
        raise gevent.GreenletExit("consumer gone")
