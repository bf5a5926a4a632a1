"""The base classes of every module: :class:`Input`, :class:`Processor`, :class:`Output`.

A module declares its kind by the class it subclasses; all three share :class:`Module`.
A module author writes::

    class Upper(Processor):
        '''Upper-cases text.

        Parameters:
            strict (bool): fail on non-text data (default False).

        Queues:
            inbox: events in.  outbox: events out.  failed: events consume() raised on.
        '''

        def __init__(self, strict: bool = False):
            self.strict = strict

        def consume(self, event):
            event["data"] = event["data"].upper()
            self.emit(event)

The framework builds the module from its bootstrap ``variables`` (checked against the
``__init__`` signature), gives it its queues, consumes its ``inbox`` in batches calling
``consume(event)`` for each event, and hands what it emitted on at the end of each batch.
An exception in ``consume()`` sends the event to ``failed`` with the error in
``headers["error"]``.

Inputs (:class:`Input`) consume nothing: they start their readers in ``on_start`` with
:meth:`Module.spawn_producer`, loop while ``self.running``, hand events over with
:meth:`Module.emit_batch` (or ``emit`` then ``flush``), and call :meth:`Module.finish`
when they will produce no more (a counted generator, stdin at its end): once every input
of a pipeline has finished, the pipeline drains and stops. Outputs (:class:`Output`)
deliver outside and declare that they do not change the events they consume, so a 1-n
route can hand them the same event as other readers instead of a copy.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, ClassVar

import gevent
from gevent import Greenlet

from wishbone.ack import derive, mark_abandoned
from wishbone.event import error_record
from wishbone.log import RateLimitedLog, source_logger
from wishbone.queue import DEFAULT_BATCH_SIZE, DEFAULT_MAXSIZE, DestinationQueue, SharedBatch, SourceQueue

__all__ = ["KINDS", "Input", "Module", "ModuleContext", "Output", "Processor"]

#: The kinds a module declares by its base class, in the order ``wishbone list`` sorts them.
KINDS = ("input", "processor", "output")


class ModuleContext:
    """What a module may use of the pipeline it runs in, handed over by :meth:`Module.bind`.

    :param instance: the worker's instance number (``Instance #N`` in the log).
    :param snapshot: returns the pipeline's metrics snapshot now (read-only; see
        :meth:`wishbone.pipeline.Pipeline.snapshot`).
    :param input_finished: called with the module when an input calls :meth:`Module.finish`.
    """

    __slots__ = ("instance", "_snapshot", "_input_finished")

    def __init__(
        self,
        instance: int = 0,
        snapshot: Callable[[], dict] | None = None,
        input_finished: Callable[[Module], None] | None = None,
    ) -> None:
        self.instance = instance
        self._snapshot = snapshot
        self._input_finished = input_finished

    def snapshot(self) -> dict:
        """The metrics of the pipeline now: per queue and per module counters."""
        if self._snapshot is None:
            return {"time": time.time(), "instance": self.instance, "queues": {}, "modules": {}}
        return self._snapshot()

    def input_finished(self, module: Module) -> None:
        """Tell the pipeline that *module*, an input, will produce no more."""
        if self._input_finished is not None:
            self._input_finished(module)


class Module:
    """What every module shares. Subclass :class:`Input`, :class:`Processor` or :class:`Output`.

    Class attributes a module may set:

    * ``kind``: ``"input"``, ``"processor"`` or ``"output"``, set by the base class.
    * ``consumes``: queues the framework consumes, mapped to the method it calls per
      event. Default ``{"inbox": "consume"}``; an input has ``{}``.
    * ``emits``: queues it emits to besides ``outbox`` and ``failed``; a module whose queues
      come from its parameters overrides :meth:`emits_for` instead.
    * ``dynamic_queues``: True for a module that routes by configuration and accepts any
      emit queue the routing table names.
    * ``changes_events``: False for a module whose ``consume`` never changes the event it
      is given (outputs, routers, filters): a 1-n route then shares one event among such
      readers instead of copying it for each. The conformance suite proves the claim.
    * ``ready``: True while the module can do its work (bound, connected); an input or
      output that binds or connects defines it as a property (``/ready`` reads it).

    Methods a module may override: ``consume`` (or ``consume_batch``), the lifecycle steps
    ``on_start``, ``on_stop_intake``, ``end_of_batch``, ``on_stop``, then ``metrics`` and
    ``reopen``, the SIGHUP hook: a module writing files closes them there, and the next batch
    opens them again by path (logrotate moved them away).
    """

    kind: ClassVar[str | None] = None
    consumes: ClassVar[dict[str, str]] = {"inbox": "consume"}
    emits: ClassVar[tuple[str, ...]] = ()
    dynamic_queues: ClassVar[bool] = False
    changes_events: ClassVar[bool] = True
    ready: bool = True

    #: An output may define ``consume_batch(events)`` to take each inbox batch whole, a
    #: list it may keep, instead of one ``consume(event)`` call per event (a sink that
    #: writes a batch at once, say). It then handles its own per-event failures with
    #: :meth:`fail`; if it raises, every event of the batch goes to ``failed``.
    consume_batch: ClassVar[Callable[[list], None] | None] = None

    #: ``time.monotonic()`` by which a stop must be done; set when stop() begins, so that
    #: ``on_stop`` (which takes no timeout) can bound its own waiting.
    stop_deadline: float = float("inf")

    # Set by bind(); declared here for readers and type checkers.
    name: str
    log: logging.LoggerAdapter
    context: ModuleContext
    running: bool
    finished: bool
    consumed: int
    failed: int
    source_queues: dict[str, SourceQueue]
    destination_queues: dict[str, DestinationQueue]

    # ------------------------------------------------------------------ to override
    def consume(self, event: dict) -> None:
        """Handle one event from the inbox. The default passes it on to the outbox."""
        self.emit(event)

    def on_start(self) -> None:
        """Open resources and start producers (:meth:`spawn_producer`). Called once."""

    def on_stop_intake(self) -> None:
        """Stop taking in outside data (an input closes its listener). Called once."""

    def end_of_batch(self) -> None:
        """Called after each consumed batch, before its emits are handed on (flush writes)."""

    def on_stop(self) -> None:
        """Release resources, after the whole pipeline has drained. Called once."""

    def metrics(self) -> dict:
        """Module-specific counters to add to the metrics snapshot (e.g. datagrams)."""
        return {}

    def reopen(self) -> None:
        """Reopen the files this module writes (SIGHUP: logrotate moved them away). The default does nothing.

        Each worker calls it on SIGHUP (:meth:`wishbone.pipeline.Pipeline.reopen`), in a greenlet
        of its own, on every running module whose class defines it, before the reload; never
        per event. Close what is open; the next batch opens it again by path (``file_out``).
        It must not block the hub for long, and an exception it raises is logged, not fatal.
        """

    # ------------------------------------------------------------------ for modules
    def emit(self, event: dict, queue: str = "outbox") -> None:
        """Queue *event* on *queue*; it is handed on at the end of the batch or on flush()."""
        self.source_queues[queue].put(event)

    def emit_batch(self, events: list, queue: str = "outbox") -> None:
        """Hand *events* on now (inputs): blocks while a destination is full.

        The list becomes the framework's: don't change it afterwards.
        """
        source = self.source_queues[queue]
        if not source.pending and len(events) <= source.batch_size:
            source.send(events)
            return
        source.pending.extend(events)
        source.flush()  # in batch-size chunks, as every hand-off

    def flush(self) -> None:
        """Hand on everything emitted so far, on every queue."""
        for queue in self.source_queues.values():
            if queue.pending:
                queue.flush()

    def finish(self) -> None:
        """An input says it will produce no more (idempotent).

        Once every input of the pipeline has finished, the pipeline drains into the outputs
        and stops; the ``wishbone`` command then exits 0.
        """
        if not self.finished:
            self.finished = True
            self.context.input_finished(self)

    @property
    def batch_size(self) -> int:
        """Events handed over at once: an input reads about this many before it emits."""
        return self._batch_size

    def is_routed(self, queue: str = "outbox") -> bool:
        """True when the routing table sends *queue* somewhere."""
        source = self.source_queues.get(queue)
        return source is not None and source.routed

    def spawn_producer(self, func: Callable, *args: Any) -> Greenlet:
        """Start a producer greenlet: it loops while ``self.running`` and returns.

        Producers are joined when intake stops (and killed at the stop deadline).
        """
        greenlet = gevent.spawn(func, *args)
        self._producers.append(greenlet)
        return greenlet

    def join_producers(self, timeout: float | None = None) -> bool:
        """Wait until every producer greenlet has returned; True if they did within *timeout*."""
        live = [g for g in self._producers if not g.dead]
        return len(gevent.joinall(live, timeout=timeout)) == len(live)

    def join_background(self, timeout: float | None = None) -> bool:
        """Wait until every background greenlet (:meth:`spawn`) has returned, without killing
        any (``on_stop`` waits for its own flushers); True if they did within *timeout*."""
        live = [g for g in self._background if not g.dead]
        return len(gevent.joinall(live, timeout=timeout)) == len(live)

    def spawn(self, func: Callable, *args: Any) -> Greenlet:
        """Start a background greenlet that lives until the module has stopped."""
        greenlet = gevent.spawn(func, *args)
        self._background.append(greenlet)
        return greenlet

    # ------------------------------------------------------------------ framework side
    @classmethod
    def emits_for(cls, variables: dict) -> tuple[str, ...]:
        """The queues besides ``outbox`` and ``failed`` an instance with *variables* emits to.

        The bootstrap checks the routing table against it. Default: the class's ``emits``;
        a module whose queues its parameters name (a switch's cases) overrides it.
        """
        return cls.emits

    @classmethod
    def source_queue_names(cls, variables: dict | None = None) -> tuple[str, ...]:
        """The queues this class (an instance with *variables*) emits to."""
        return ("outbox", "failed", *cls.emits_for(variables or {}))

    def bind(
        self,
        name: str,
        instance: int = 0,
        queue_options: dict | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        context: ModuleContext | None = None,
        variables: dict | None = None,
    ) -> None:
        """Give the module its name, logger, context and queues (called by the pipeline).

        *variables* are the parameters it was built with (for :meth:`emits_for`).
        """
        self.name = name
        self.log = source_logger(f"Instance #{instance}:{name}")
        self.context = context if context is not None else ModuleContext(instance)
        self._batch_size = batch_size
        self.running = False
        self.finished = False
        self._shared_batch = False
        self.consumed = 0
        self.failed = 0
        self._started = False
        self._stopped = False
        self._producers: list[Greenlet] = []
        self._background: list[Greenlet] = []
        self._consumers: list[Greenlet] = []
        self._malformed = RateLimitedLog(self.log)  # malformed events, one limit
        self._errors = RateLimitedLog(self.log)  # consume() and end_of_batch() failures, another
        options = queue_options or {}
        self.source_queues = {}
        for queue in self.source_queue_names(variables):
            self.add_source_queue(queue, batch_size)
        self.destination_queues = {}
        for queue in self.consumes:
            opts = options.get(queue, {})
            common = {
                "maxsize": opts.get("maxsize", DEFAULT_MAXSIZE),
                "when_full": opts.get("when_full", "block"),
                "batch_size": batch_size,
            }
            if opts.get("durable"):
                from wishbone.durable import DurableQueue  # only a durable setup pays for msgpack

                destination: DestinationQueue = DurableQueue(
                    f"{name}.{queue}",
                    opts["path"],
                    instance,
                    max_bytes=opts.get("max_bytes", 1 << 30),
                    fsync=opts.get("fsync", "batch"),
                    fsync_interval=opts.get("fsync_interval", 1.0),
                    **common,
                )
            else:
                destination = DestinationQueue(f"{name}.{queue}", **common)
            destination.changes_events = self.changes_events
            self.destination_queues[queue] = destination

    def add_source_queue(self, queue: str, batch_size: int = DEFAULT_BATCH_SIZE) -> SourceQueue:
        """Create (or return) the emit queue *queue* (dynamic modules, routing)."""
        if queue not in self.source_queues:
            source = SourceQueue(f"{self.name}.{queue}", batch_size)
            source.on_malformed = self._malformed
            source.marks_failed = queue == "failed"
            self.source_queues[queue] = source
        return self.source_queues[queue]

    def start(self) -> None:
        """Start consuming and call ``on_start``; a second call does nothing."""
        if self._started:
            return
        self._started = True
        self.running = True
        self.on_start()
        for queue, method in self.consumes.items():
            if method == "consume" and self.consume_batch is not None:
                handle = self._whole_batch(self.consume_batch)
            else:
                handle = self._each_event(getattr(self, method))
            self._consumers.append(gevent.spawn(self._consume_loop, self.destination_queues[queue], handle))

    def stop_intake(self, timeout: float = 5.0) -> None:
        """Stop taking in outside data and join the producers (idempotent)."""
        if not self.running:
            return
        self.running = False
        try:
            self.on_stop_intake()
        except Exception:
            self.log.exception("on_stop_intake() failed")
        self._join(self._producers, timeout)
        self.flush()

    def drain(self, timeout: float = 5.0) -> bool:
        """Consume what is queued, then stop consuming. True if it finished in time."""
        deadline = time.monotonic() + timeout
        self.stop_intake(timeout)
        for queue in self.destination_queues.values():
            queue.close()
        drained = self._join(self._consumers, deadline - time.monotonic())
        if not drained:
            lost = sum(q.discard() for q in self.destination_queues.values())
            self.log.warning("Drain deadline passed: %d queued event(s) dropped.", lost)
        self.flush()
        return drained

    def stop(self, timeout: float = 5.0) -> None:
        """Drain, call ``on_stop`` and end every greenlet (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        deadline = self.stop_deadline = time.monotonic() + timeout
        if self._started:
            self.drain(max(0.0, deadline - time.monotonic()))
            try:
                self.on_stop()
            except Exception:
                self.log.exception("on_stop() failed")
        self._join(self._background, max(0.0, deadline - time.monotonic()))
        for queue in self.destination_queues.values():
            queue.shutdown()
        lost = sum(q.discard() for q in self.source_queues.values())
        if lost:
            self.log.warning("%d emitted event(s) could not be handed on and were dropped.", lost)

    @property
    def alive(self) -> bool:
        """True while started, not stopped, and no consumer greenlet has died."""
        return self._started and not self._stopped and all(not g.dead for g in self._consumers)

    def greenlets(self) -> list[Greenlet]:
        """Every greenlet this module runs (for tests: none alive after stop)."""
        return [*self._producers, *self._background, *self._consumers]

    def _join(self, greenlets: list[Greenlet], timeout: float) -> bool:
        live = [g for g in greenlets if not g.dead]
        if not live:
            return True
        done = gevent.joinall(live, timeout=max(0.0, timeout))
        if len(done) == len(live):
            return True
        gevent.killall([g for g in live if not g.dead], timeout=1.0)
        return False

    def _each_event(self, handler: Callable[[dict], None]) -> Callable[[list], None]:
        """A batch handler calling *handler* per event; an exception sends that event to failed."""
        fail = self.fail

        def handle(batch: list) -> None:
            event = None
            for event in batch:
                try:
                    handler(event)
                except Exception as exc:
                    fail(event, exc)
            # A traceback kept by a reference cycle would keep this frame, and with it these
            # events and their input's acknowledgement: let go of them here.
            batch = event = None

        return handle

    def _whole_batch(self, handler: Callable[[list], None]) -> Callable[[list], None]:
        """A batch handler for ``consume_batch``: if it raises, the whole batch goes to failed."""
        fail = self.fail

        def handle(batch: list) -> None:
            try:
                handler(batch)
            except Exception as exc:
                for event in batch:
                    fail(event, exc)
            batch = None  # see _each_event

        return handle

    def _consume_loop(self, queue: DestinationQueue, handle: Callable[[list], None]) -> None:
        get = queue.get_batch
        end_of_batch = self.end_of_batch
        flush = self.flush
        batch: list | None = None
        try:
            while (batch := get()) is not None:
                shared = type(batch) is SharedBatch
                if shared is not self._shared_batch:
                    self._mark_shared(shared)
                handle(batch)
                self.consumed += len(batch)
                batch = None
                try:
                    end_of_batch()
                except Exception as exc:
                    self._errors.warning("end_of_batch() raised %s: %s", type(exc).__name__, str(exc))
                flush()
        except gevent.GreenletExit:
            if batch:  # killed at the deadline mid-batch: left for the source to deliver again
                mark_abandoned(batch)
            raise

    def _mark_shared(self, shared: bool) -> None:
        """This batch's events are (or are no longer) shared with other readers of a 1-n route:
        what this module emits of them must reach a module that changes events as a copy."""
        self._shared_batch = shared
        for queue in self.source_queues.values():
            queue.shared_input = shared

    def fail(self, event: Any, exc: BaseException) -> None:
        """Send *event* to ``failed`` with *exc* recorded in ``headers["error"]`` (counted)."""
        exc.__traceback__ = None  # its frames may hold events: only the type and message are kept
        self.failed += 1
        if isinstance(event, dict) and isinstance(event.get("headers"), dict):
            if self._shared_batch:  # other readers hold this event: record the error on a copy
                event = derive(event, event.get("data"), dict(event["headers"]))
            event["headers"]["error"] = error_record(self.name, exc)
        failed = self.source_queues["failed"]
        if not failed.routed:
            self._errors.warning(
                # str(exc), not exc: a log record holding the exception would hold its
                # traceback, its frames and so the event (and its input's acknowledgement)
                "consume() raised %s: %s; 'failed' is not routed, event dropped.",
                type(exc).__name__,
                str(exc),
            )
        failed.put(event)


class Input(Module):
    """An input: brings outside data in as events; consumes no queue.

    Start readers in ``on_start`` with :meth:`spawn_producer`, hand events over with
    :meth:`emit_batch`, call :meth:`finish` when nothing more will come, and define
    ``ready`` when the input binds or connects.
    """

    kind: ClassVar[str] = "input"
    consumes: ClassVar[dict[str, str]] = {}
    changes_events: ClassVar[bool] = False


class Processor(Module):
    """A processor: consumes events, changes, routes, drops or makes them, emits them on.

    Set ``changes_events = False`` when ``consume`` only reads its event (a router, a filter).
    """

    kind: ClassVar[str] = "processor"


class Output(Module):
    """An output: delivers events outside (writes, sends, publishes); it does not change them.

    Define ``ready`` when the output connects; take whole batches with ``consume_batch``.
    """

    kind: ClassVar[str] = "output"
    changes_events: ClassVar[bool] = False
