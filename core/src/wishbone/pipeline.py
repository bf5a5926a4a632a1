"""A running setup: modules built from a bootstrap file, their queues routed, metrics on.

The in-process API the command line drives::

    pipeline = Pipeline.from_file("examples/demo.json")
    pipeline.start()
    pipeline.wait()          # until request_stop() (a signal handler calls it) or every input finished
    pipeline.stop(timeout=10)  # inputs stop, queues drain into outputs, outputs flush

Stopping is a drain: modules are taken in routing order, sources first; each stops its
intake, consumes what is queued and hands it on, so by the time a module drains nothing
upstream can still send to it. Then every module's ``on_stop`` runs, outputs first (they
flush and wait for confirmations), inputs last (they settle acknowledgements and close).

:meth:`Pipeline.reload` swaps in a new bootstrap document while events flow: a module whose
definition is the same keeps running (its queues, its connections, its bound port), the others
drain and stop, the new ones start, and every route is rewired (see its docstring).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import gevent
import gevent.event

from wishbone import bootstrap as bootstrap_mod
from wishbone.bootstrap import Bootstrap, BootstrapError
from wishbone.log import source_logger
from wishbone.module import Module, ModuleContext
from wishbone.params import ParameterError
from wishbone.plugins import plugin_manager
from wishbone.queue import DEFAULT_BATCH_SIZE, DestinationQueue, SourceQueue, connect

__all__ = ["Pipeline"]


class Pipeline:
    """Modules, their routes and their metrics, built from a checked :class:`Bootstrap`.

    :param bootstrap: the checked bootstrap document.
    :param instance: this process's instance number (``Instance #N`` in the log).
    :param plugins: extra pluggy plugins (hookimpls) to register.
    :param batch_size: events handed over at once between queues.
    """

    def __init__(
        self,
        bootstrap: Bootstrap,
        instance: int = 0,
        plugins: Iterable[object] = (),
        batch_size: int = DEFAULT_BATCH_SIZE,
        load_entry_points: bool = True,
    ) -> None:
        self.bootstrap = bootstrap
        self.instance = instance
        self.log = source_logger(f"Instance #{instance}")
        self.pm = plugin_manager(plugins, load_entry_points=load_entry_points)
        self.pm.hook.wishbone_bootstrap_loaded(config=bootstrap.document, source=bootstrap.source)
        self.modules: dict[str, Module] = {}
        self.batch_size = batch_size
        self._context = context = ModuleContext(instance, self.snapshot, self._input_finished)
        for name, spec in bootstrap.modules.items():
            module = self.modules[name] = self._build(spec.cls, spec.variables, bootstrap_mod.jpath("bootstrap", name))
            module.bind(name, instance, spec.queues, batch_size, context, spec.variables)
        for route in bootstrap.routes:
            source = self.modules[route.source].add_source_queue(route.source_queue, batch_size)
            connect(source, self.modules[route.destination].destination_queues[route.destination_queue])
        self.inputs = [m for m in self.modules.values() if not m.consumes]
        self._finished = gevent.event.Event()
        self.metrics_module = None
        spec = bootstrap.metrics
        if spec.enable and spec.cls is not None:
            self.metrics_module = self._build(spec.cls, spec.variables, "metrics")
            self.pm.register(self.metrics_module, name="wishbone-metrics")
            self.pm.check_pending()
        self._stop_requested = gevent.event.Event()
        self._metrics_loop: gevent.Greenlet | None = None
        self._started = False
        self._stopped = False
        self.drained: bool | None = None

    @classmethod
    def from_file(cls, path: str, **kwargs) -> Pipeline:
        """Build the pipeline the bootstrap file at *path* describes."""
        return cls(bootstrap_mod.load_file(path), **kwargs)

    @classmethod
    def from_dict(cls, document: dict, source: str = "<dict>", **kwargs) -> Pipeline:
        """Build the pipeline a bootstrap *document* (already parsed) describes."""
        return cls(bootstrap_mod.load_dict(document, source), **kwargs)

    def _build(self, module_cls: type, variables: dict, path: str, bootstrap: Bootstrap | None = None):
        try:
            return module_cls(**variables)
        except ParameterError as exc:  # a parameter the module checked itself: name its place
            where = bootstrap_mod.jpath(path, "variables", *([exc.parameter, *exc.keys] if exc.parameter else []))
            raise BootstrapError(self.bootstrap.source, where, exc.detail if exc.parameter else exc.message) from None
        except Exception as exc:
            raise BootstrapError(
                (bootstrap or self.bootstrap).source,
                bootstrap_mod.jpath(path, "variables"),
                f"{module_cls.__name__} refused its parameters: {exc}",
            ) from None

    # ----------------------------------------------------------------------------- order
    def order(self) -> list[Module]:
        """Modules sources first: a module comes after every module routed into it."""
        return _ordered(self.modules, self.bootstrap.routes)

    # ----------------------------------------------------------------------------- reload
    def reload(self, bootstrap: Bootstrap, timeout: float = 10.0) -> dict[str, list[str]]:
        """Swap in *bootstrap* (already checked) while events flow; return what was kept, started and stopped.

        A module whose definition (module, group, variables, queue options) is the same in
        both documents is *kept*: the same object goes on running, with its queues, what they
        hold, its connections and its bound port. The others are built first; a module that
        refuses its parameters raises :class:`BootstrapError` before anything changed (the
        running pipeline goes on as it was). Then, so that nothing accepted is lost:

        1. the new processors and outputs start (nothing is routed to them yet);
        2. every route is rewired to the new routing table at once; a hand-off already under
           way into a departing module is waited for (its consumer is still running);
        3. the changed and removed modules drain in routing order, sources first, handing
           what they hold on along their old routes, then stop (``on_stop``), outputs first;
        4. the new inputs start, once the ones they replace have stopped, so a changed
           listener is drained and then bound again on its port.

        A changed module with a durable queue cannot be swapped while it runs (two writers on
        one directory): that reload is refused with a :class:`BootstrapError`.
        """
        if not self._started or self._stopped:
            raise RuntimeError("reload() needs a running pipeline")
        old = self.bootstrap
        kept = {n for n, spec in bootstrap.modules.items() if old.modules.get(n) == spec}
        departing = [m for m in self.order() if m.name not in kept]
        for module in departing:
            spec = old.modules[module.name]
            durable = [q for q, opts in spec.queues.items() if isinstance(opts, dict) and opts.get("durable")]
            if durable and module.name in bootstrap.modules:
                raise BootstrapError(
                    bootstrap.source,
                    bootstrap_mod.jpath("bootstrap", module.name),
                    f"{module.name!r} has a durable queue ({durable[0]}) and changed: restart to apply this change",
                )
        built: dict[str, Module] = {}
        for name, spec in bootstrap.modules.items():
            if name not in kept:
                built[name] = self._build(spec.cls, spec.variables, bootstrap_mod.jpath("bootstrap", name), bootstrap)
                built[name].bind(name, self.instance, spec.queues, self.batch_size, self._context, spec.variables)
        modules = {name: built.get(name) or self.modules[name] for name in bootstrap.modules}
        wanted: dict[SourceQueue, list[DestinationQueue]] = {
            queue: [] for module in modules.values() for queue in module.source_queues.values()
        }
        for route in bootstrap.routes:
            source = modules[route.source].add_source_queue(route.source_queue, self.batch_size)
            wanted.setdefault(source, []).append(modules[route.destination].destination_queues[route.destination_queue])
        hook = self.pm.hook
        new_order = _ordered(modules, bootstrap.routes)
        started: list[Module] = []
        try:
            for module in reversed(new_order):  # 1: outputs first, inputs later (step 4)
                if module.name in built and module.consumes:
                    self._start_one(module)
                    started.append(module)
        except Exception:
            for module in started:
                module.stop(1.0)
            raise
        self.pm.hook.wishbone_bootstrap_loaded(config=bootstrap.document, source=bootstrap.source)
        leaving = {id(q) for m in departing for q in m.destination_queues.values()}
        under_way = {q: q.received for q in wanted if any(id(d) in leaving for d in q.routes)}
        for queue, routes in wanted.items():  # 2: a new list; a hand-off under way keeps the old one
            queue.routes = routes
        deadline = time.monotonic() + timeout
        if not self._hand_offs_done(under_way, deadline):
            self.log.warning("Reload: a hand-off into a departing module did not finish in time.")
        for module in departing:  # 3
            module.drain(max(0.1, deadline - time.monotonic()))
        for module in reversed(departing):
            self._call_hook(hook.wishbone_module_before_stop, pipeline=self, module=module)
            module.stop(max(0.1, deadline - time.monotonic()))
            module.log.info("Stopped (reload).")
            self._call_hook(hook.wishbone_module_after_stop, pipeline=self, module=module)
        if old.metrics != bootstrap.metrics:
            self.log.warning("Reload: the metrics section changed; it applies at the next restart.")
        self.bootstrap, self.modules = bootstrap, modules
        self.inputs = [m for m in modules.values() if not m.consumes]
        for module in reversed(new_order):  # 4
            if module.name in built and not module.consumes:
                try:
                    self._start_one(module)
                except Exception as exc:
                    self.log.error("Reload: %r failed to start: %s: %s", module.name, type(exc).__name__, exc)
        if self.inputs and all(m.finished for m in self.inputs):
            self._input_finished(self.inputs[0])
        return {
            "kept": sorted(kept),
            "started": sorted(built),
            "stopped": sorted(m.name for m in departing),
        }

    # ----------------------------------------------------------------------------- SIGHUP
    def reopen(self) -> list[str]:
        """Call :meth:`~wishbone.module.Module.reopen` on every running module whose class defines it.

        What SIGHUP does in a worker (logrotate). Returns the names of the modules that
        reopened; one that raised is logged and left out, the others still reopen.
        """
        reopened = []
        for name, module in self.modules.items():
            if type(module).reopen is Module.reopen or not module.running:
                continue
            try:
                module.reopen()
            except Exception as exc:
                self.log.error("%r could not reopen its files: %s: %s", name, type(exc).__name__, exc)
                continue
            reopened.append(name)
        return reopened

    def _start_one(self, module: Module) -> None:
        hook = self.pm.hook
        hook.wishbone_module_before_start(pipeline=self, module=module)
        module.start()
        module.log.info("Started.")
        hook.wishbone_module_after_start(pipeline=self, module=module)

    @staticmethod
    def _hand_offs_done(queues: dict[SourceQueue, int], deadline: float) -> bool:
        """Wait until each queue has handed on (or dropped) the events it had taken in at the rewiring.

        A hand-off under way then still holds the old routes; every later one takes the new.
        """
        while True:
            busy = [q for q, received in queues.items() if q.sent + q.dropped < received]
            if not busy:
                return True
            if time.monotonic() >= deadline:
                return False
            gevent.sleep(0.005)

    # ----------------------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Start every module, outputs first so inputs never send into a stopped module."""
        if self._started:
            return
        self._started = True
        hook = self.pm.hook
        for module in reversed(self.order()):
            hook.wishbone_module_before_start(pipeline=self, module=module)
            module.start()
            module.log.info("Started.")
            hook.wishbone_module_after_start(pipeline=self, module=module)
        if self.metrics_module is not None:
            self._metrics_loop = gevent.spawn(self._collect_metrics, self.bootstrap.metrics.interval)
        hook.wishbone_pipeline_started(pipeline=self)

    def request_stop(self) -> None:
        """Ask :meth:`wait` to return (safe from a signal handler)."""
        self._stop_requested.set()

    @property
    def finished(self) -> bool:
        """True once every input has finished (:meth:`Module.finish`): time to drain and stop."""
        return self._finished.is_set()

    def _input_finished(self, module: Module) -> None:
        if self.inputs and all(m.finished for m in self.inputs):
            self.log.info("Every input has finished: draining.")
            self._finished.set()
            self._stop_requested.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until :meth:`request_stop` or until every input finished; True if either came.

        It waits in slices, so the hub always has a timer: with nothing else left to run
        (every input done, no metrics loop) gevent never raises ``LoopExit`` here.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
            if left <= 0:
                return self._stop_requested.is_set()
            if self._stop_requested.wait(left):
                return True

    def join_inputs(self, timeout: float | None = None) -> bool:
        """Wait until every input's producers have returned (a counted ``testevent`` is done).

        True if they all did within *timeout*. For tests and benchmarks; :meth:`wait` is what
        a server uses (it also returns once every input called ``finish()``).
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        for module in self.inputs:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not module.join_producers(left):
                return False
        return True

    def stop(self, timeout: float = 10.0) -> bool:
        """Drain and stop every module within *timeout* seconds; True if nothing was forced."""
        if self._stopped:
            return bool(self.drained)
        self._stopped = True
        self._stop_requested.set()
        hook = self.pm.hook
        deadline = time.monotonic() + timeout
        self._call_hook(hook.wishbone_pipeline_draining, pipeline=self, timeout=timeout)
        order = self.order()
        drained = True
        for module in order:
            drained &= module.drain(max(0.1, deadline - time.monotonic()))
        for module in reversed(order):
            self._call_hook(hook.wishbone_module_before_stop, pipeline=self, module=module)
            module.stop(max(0.1, deadline - time.monotonic()))
            module.log.info("Stopped.")
            self._call_hook(hook.wishbone_module_after_stop, pipeline=self, module=module)
        if self._metrics_loop is not None:
            self._metrics_loop.kill()
            self._publish_metrics()
        self.drained = drained
        self._call_hook(hook.wishbone_pipeline_stopped, pipeline=self, drained=drained)
        return drained

    def _call_hook(self, hook, **kwargs) -> None:
        """Call a stop-time hook; a failing plugin is logged and the stop goes on."""
        try:
            hook(**kwargs)
        except Exception:
            self.log.exception("A plugin's %s failed", hook.name)

    def run(self, timeout: float = 10.0) -> bool:
        """Start, wait for a stop request, then stop; return whether it drained."""
        self.start()
        self.wait()
        return self.stop(timeout)

    @property
    def healthy(self) -> bool:
        """True while every module is running (no consumer has died)."""
        return self._started and not self._stopped and all(m.alive for m in self.modules.values())

    # ----------------------------------------------------------------------------- metrics
    def snapshot(self) -> dict:
        """Every counter now: per queue in/out/dropped/size, per module consumed/failed."""
        queues = {}
        modules = {}
        for module in self.modules.values():
            for queue in module.source_queues.values():
                queues[queue.name] = queue.metrics()
            for queue in module.destination_queues.values():
                queues[queue.name] = queue.metrics()
            modules[module.name] = {"consumed": module.consumed, "failed": module.failed, **module.metrics()}
        return {"time": time.time(), "instance": self.instance, "queues": queues, "modules": modules}

    def _publish_metrics(self) -> None:
        try:
            self.pm.hook.wishbone_metrics_collected(pipeline=self, snapshot=self.snapshot())
        except Exception:
            self.log.exception("A metrics plugin failed")

    def _collect_metrics(self, interval: float) -> None:
        while True:
            gevent.sleep(interval)
            self._publish_metrics()


def _ordered(modules: dict[str, Module], routes: Iterable[bootstrap_mod.Route]) -> list[Module]:
    """*modules* sources first: a module comes after every module routed into it."""
    upstream: dict[str, set[str]] = {name: set() for name in modules}
    for route in routes:
        upstream[route.destination].add(route.source)
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered or name in visiting:  # a cycle: break it where found
            return
        visiting.add(name)
        for parent in sorted(upstream[name]):
            visit(parent)
        visiting.discard(name)
        ordered.append(name)

    for name in modules:
        visit(name)
    return [modules[name] for name in ordered]
