"""Run one module in isolation: feed its consumed queues, collect what it emits.

::

    with Harness(Upper, {"strict": True}) as h:      # built, bound, started
        h.feed([new_event("a"), new_event(1)])       # into "inbox"
        [ok] = h.collect("outbox", 1)                # waits, with a deadline
        [bad] = h.collect("failed", 1)
    # stopped (drained) on exit, within a deadline

The module is built the way the bootstrap builds it: its variables are checked against its
``__init__`` signature (:func:`wishbone.params.check_parameters`, so a bad parameter raises
:class:`~wishbone.params.ParameterError`), then it is bound and its queues wired. Every
queue it emits to is routed to a *collector*; every queue it consumes gets a *feeder*, a
:class:`~wishbone.queue.SourceQueue` routed into it, so fed events take the path they take
in a pipeline: a batch hand-off that checks their shape, drops and counts malformed ones.
"""

from __future__ import annotations

import time
from typing import Any

import gevent

from wishbone.log import RateLimitedLog, source_logger
from wishbone.module import Module
from wishbone.params import check_parameters
from wishbone.queue import DEFAULT_BATCH_SIZE, DestinationQueue, SourceQueue, connect

__all__ = ["Collector", "Harness", "HarnessTimeout"]

#: A collector never pushes back on the module under test.
_COLLECTOR_SIZE = 10_000_000


class HarnessTimeout(AssertionError):
    """A harness deadline passed: what was expected, and what happened instead."""


class Collector:
    """Receives what the module emits on one queue and keeps it for the test to take.

    :param name: ``instance.queue`` of the queue it collects.
    """

    def __init__(self, name: str, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self.name = name
        self.queue = DestinationQueue(f"{name}>collector", maxsize=_COLLECTOR_SIZE, batch_size=batch_size)
        self.events: list = []

    def _pull(self, block: bool) -> bool:
        """Move one waiting batch into ``events``; False when none came."""
        if not block and self.queue.size == 0:
            return False
        batch = self.queue.get_batch()
        if batch is None:
            return False
        self.events.extend(batch)
        return True

    def take(self, count: int, timeout: float) -> list:
        """Remove and return the first *count* events, waiting up to *timeout* seconds."""
        while self._pull(block=False):
            pass
        if len(self.events) < count:
            with gevent.Timeout(timeout, False):
                while len(self.events) < count and self._pull(block=True):
                    pass
        if len(self.events) < count:
            raise HarnessTimeout(
                f"expected {count} event(s) on {self.name} within {timeout}s, got {len(self.events)}: "
                f"{self.events[:5]!r:.400}"
            )
        taken, self.events[:] = self.events[:count], self.events[count:]
        return taken

    def take_all(self) -> list:
        """Remove and return every event received so far (no waiting)."""
        taken, self.events = self.events, []
        queue = self.queue
        while queue.size:  # events wait: get_batch returns at once
            taken.extend(queue.get_batch())
        return taken


class Harness:
    """One module, built from *module_cls* and *variables*, wired to feeders and collectors.

    :param module_cls: the :class:`~wishbone.module.Module` subclass under test.
    :param variables: its parameters, as a bootstrap file's ``variables`` would give them.
    :param name: its instance name (in logs and in ``headers["error"]["module"]``).
    :param queues: extra queues to collect (a module with ``dynamic_queues``).
    :param queue_options: per consumed queue ``{"maxsize": N, "when_full": "block"|"drop"}``.
    :param batch_size: events handed over at once.
    :param timeout: default deadline in seconds for start, stop and collect.

    Use it as a context manager (start on enter, stop on exit), or call :meth:`start` and
    :meth:`stop` yourself. A harness runs once: stopped is final.
    """

    def __init__(
        self,
        module_cls: type[Module],
        variables: dict | None = None,
        *,
        name: str = "under_test",
        queues: tuple[str, ...] = (),
        queue_options: dict | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        timeout: float = 5.0,
    ) -> None:
        if not (isinstance(module_cls, type) and issubclass(module_cls, Module)):
            raise TypeError(f"{module_cls!r} is not a wishbone Module class")
        variables = dict(variables or {})
        check_parameters(module_cls, variables)
        self.timeout = timeout
        self.module = module_cls(**variables)
        self.module.bind(name, 0, queue_options, batch_size, variables=variables)
        self.name = name
        self.collectors: dict[str, Collector] = {}
        for queue in (*module_cls.source_queue_names(variables), *queues):
            source = self.module.add_source_queue(queue, batch_size)
            self.collectors[queue] = collector = Collector(source.name, batch_size)
            connect(source, collector.queue)
        self.feeders: dict[str, SourceQueue] = {}
        malformed = RateLimitedLog(source_logger(f"harness:{name}"))
        for queue, destination in self.module.destination_queues.items():
            feeder = SourceQueue(f"harness>{name}.{queue}", batch_size)
            feeder.on_malformed = malformed
            connect(feeder, destination)
            self.feeders[queue] = feeder
        self.start_seconds: float | None = None
        self.stop_seconds: float | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float | None = None) -> Harness:
        """Start the module (``on_start``, consumers); fail if it takes over *timeout* s."""
        timeout = self.timeout if timeout is None else timeout
        began = time.monotonic()
        self._within(timeout, "start()", self.module.start)
        self.start_seconds = time.monotonic() - began
        return self

    def stop(self, timeout: float | None = None) -> Harness:
        """Drain and stop the module; fail if it takes over *timeout* s (plus one of grace)."""
        timeout = self.timeout if timeout is None else timeout
        began = time.monotonic()
        # Module.stop enforces *timeout* itself; the outer deadline catches an on_stop that hangs.
        self._within(timeout + 1.0, "stop()", self.module.stop, timeout)
        self.stop_seconds = time.monotonic() - began
        return self

    def __enter__(self) -> Harness:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _within(self, timeout: float, what: str, func: Any, *args: Any) -> None:
        try:
            with gevent.Timeout(timeout):
                func(*args)
        except gevent.Timeout:
            raise HarnessTimeout(f"{type(self.module).__name__}.{what} did not return within {timeout}s") from None

    # ------------------------------------------------------------------ events
    def feed(self, events: list, queue: str = "inbox") -> None:
        """Hand *events* to the module's consumed *queue*, as an upstream module would.

        Malformed items are dropped and counted on the feeder (see :meth:`fed`); the rest
        are queued for ``consume()``. Blocks while the module's queue is full.
        """
        feeder = self.feeders.get(queue)
        if feeder is None:
            known = ", ".join(self.feeders) or "none: it is an input"
            raise KeyError(f"{type(self.module).__name__} consumes no queue {queue!r} (it consumes: {known})")
        [destination] = feeder.routes
        if type(destination) is DestinationQueue and destination.size < destination.maxsize:
            # A plain queue with room takes the batch without waiting: no deadline to arm
            # (arming one costs more than the hand-off of a 100-event batch).
            feeder.send(list(events))
            return
        self._within(self.timeout, f"feed into {queue!r}", feeder.send, list(events))

    def collect(self, queue: str = "outbox", count: int = 1, timeout: float | None = None) -> list:
        """Remove and return the next *count* events emitted on *queue*, waiting for them.

        Raises :class:`HarnessTimeout` naming what did arrive when the deadline passes.
        """
        return self._collector(queue).take(count, self.timeout if timeout is None else timeout)

    def collected(self, queue: str = "outbox") -> list:
        """Remove and return every event emitted on *queue* so far, without waiting."""
        return self._collector(queue).take_all()

    def wait_consumed(self, count: int, timeout: float | None = None) -> None:
        """Wait until the module has consumed *count* events in all (``module.consumed``)."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while self.module.consumed < count:
            if time.monotonic() > deadline:
                raise HarnessTimeout(
                    f"expected {type(self.module).__name__} to consume {count} event(s) within {timeout}s, "
                    f"it consumed {self.module.consumed}"
                )
            gevent.sleep(0.01)

    def _collector(self, queue: str) -> Collector:
        if queue not in self.collectors:
            known = ", ".join(self.collectors)
            raise KeyError(f"no collector for queue {queue!r} (collected: {known}; pass queues=(...) for others)")
        return self.collectors[queue]

    # ------------------------------------------------------------------ counters
    def fed(self, queue: str = "inbox") -> dict:
        """The feeder's counters for *queue*: ``in``, ``out`` (handed on), ``dropped`` (malformed)."""
        return self.feeders[queue].metrics()

    def metrics(self) -> dict:
        """Every counter, shaped like a pipeline snapshot (queues, then the module's own)."""
        module = self.module
        queues = {q.name: q.metrics() for q in (*module.source_queues.values(), *module.destination_queues.values())}
        return {
            "queues": queues,
            "module": {"consumed": module.consumed, "failed": module.failed, **module.metrics()},
        }

    def live_greenlets(self) -> list:
        """The module's greenlets that are still alive (none should be, after stop)."""
        return [g for g in self.module.greenlets() if not g.dead]
