"""The ``prometheus`` metrics module: a Prometheus endpoint with ``/metrics``, ``/health`` and ``/ready``.

Each scrape takes a fresh :meth:`Pipeline.snapshot` (cheap: it reads counters) and turns it
into labelled series through a collector on a registry of this instance's own, so several
pipelines in one process never share or clash. The server is a gevent WSGI server in the
pipeline's own hub: it binds before the first module starts (a port in use fails the start
before any module runs), serves from ``wishbone_pipeline_started`` on, through the drain
(``/health`` and ``/ready`` answer 503 then), and closes at ``wishbone_pipeline_stopped``.

Every metric is documented in ``docs/metrics.md``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import gevent.socket
from gevent.pywsgi import WSGIServer
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, UnknownMetricFamily
from prometheus_client.registry import Collector

from wishbone.hookspecs import hookimpl
from wishbone.log import source_logger

if TYPE_CHECKING:
    from wishbone.module import Module
    from wishbone.pipeline import Pipeline

__all__ = ["DEFAULT_PORT", "Prometheus", "PipelineCollector", "module_ready", "pipeline_ready"]

#: Default port of worker 0. 9090 is Prometheus's own and 9100 node_exporter's; this is neither.
DEFAULT_PORT = 9800

#: Label naming the worker process (``--instances``). Not ``instance``: Prometheus sets that
#: label itself on every scraped series (``host:port``) and would rename ours.
INSTANCE_LABEL = "wishbone_instance"

_QUEUE_COUNTERS = (
    ("in", "wishbone_queue_events_in", "Events that entered the queue."),
    ("out", "wishbone_queue_events_out", "Events that left the queue (handed on, or taken by its module)."),
    (
        "dropped",
        "wishbone_queue_events_dropped",
        "Events the queue dropped (malformed, unrouted, full, or forced stop).",
    ),
)
#: What a durable queue adds to its snapshot (wishbone.durable.DurableQueue.metrics): (key, kind,
#: name, help, divisor to the unit of the name). Exposed only for the queues that have them.
_DURABLE = (
    ("bytes", "gauge", "wishbone_queue_disk_bytes", "Bytes a durable queue holds on disk now.", 1),
    ("segments", "gauge", "wishbone_queue_disk_segments", "Segment files of a durable queue now.", 1),
    ("damaged", "counter", "wishbone_queue_damaged_records", "Records of a durable queue skipped as damaged.", 1),
    ("replayed", "counter", "wishbone_queue_replayed_events", "Events a durable queue recovered at start.", 1),
    ("writes", "counter", "wishbone_queue_disk_writes", "Writes of a durable queue (each of one or more batches).", 1),
    ("syncs", "counter", "wishbone_queue_disk_syncs", "Writes of a durable queue that were synced (fdatasync).", 1),
    (
        "write_wait_ms",
        "counter",
        "wishbone_queue_write_wait_seconds",
        "Seconds senders waited for a durable queue's writes to be on disk (summed over senders).",
        1000,
    ),
)
_RESERVED_MODULE_KEYS = {"consumed", "failed"}
# Sample names the consumed/failed counters expose: a module figure must not shadow them.
_RESERVED_NAMES = {f"wishbone_module_{k}{s}" for k in _RESERVED_MODULE_KEYS for s in ("", "_total", "_created")}
_UNSAFE = re.compile(r"[^a-zA-Z0-9_]")


def module_ready(module: Module) -> bool:
    """True when *module* says it is ready: its ``ready`` attribute, True if it has none.

    IO modules may define a ``ready`` property (connected to the broker, socket bound); one
    that raises counts as not ready, so a buggy property answers 503 instead of a 500.
    """
    try:
        return bool(getattr(module, "ready", True))
    except Exception:
        return False


def pipeline_ready(pipeline: Pipeline) -> bool:
    """True while *pipeline* is healthy and every module is ready."""
    return pipeline.healthy and all(module_ready(m) for m in pipeline.modules.values())


class PipelineCollector(Collector):
    """Turns a pipeline's metrics snapshot into Prometheus metric families.

    :param snapshot: returns the snapshot to expose (a fresh one per scrape), or None.
    :param status: returns ``(healthy, ready)``, or None before the pipeline is known.
    """

    def __init__(self, snapshot: Callable[[], dict | None], status: Callable[[], tuple[bool, bool] | None]) -> None:
        self._snapshot = snapshot
        self._status = status

    def collect(self) -> Iterable[Metric]:
        """Every wishbone_* family for one scrape (none before a snapshot exists)."""
        snapshot = self._snapshot()
        if snapshot is None:
            return []
        return list(self._families(snapshot))

    def _families(self, snapshot: dict) -> Iterator[Metric]:
        instance = str(snapshot.get("instance", 0))
        queue_labels = ["queue", "module", INSTANCE_LABEL]
        queues = snapshot.get("queues", {})
        for key, name, doc in _QUEUE_COUNTERS:
            family = CounterMetricFamily(name, doc, labels=queue_labels)
            for queue, counts in queues.items():
                family.add_metric([queue, queue.split(".", 1)[0], instance], counts.get(key, 0))
            yield family
        size = GaugeMetricFamily("wishbone_queue_size", "Events waiting in the queue now.", labels=queue_labels)
        for queue, counts in queues.items():
            size.add_metric([queue, queue.split(".", 1)[0], instance], counts.get("size", 0))
        yield size
        durable = {queue: counts for queue, counts in queues.items() if "segments" in counts}
        for key, kind, name, doc, divisor in _DURABLE if durable else ():
            made = (GaugeMetricFamily if kind == "gauge" else CounterMetricFamily)(name, doc, labels=queue_labels)
            for queue, counts in durable.items():
                made.add_metric([queue, queue.split(".", 1)[0], instance], counts.get(key, 0) / divisor)
            yield made

        modules = snapshot.get("modules", {})
        module_labels = ["module", INSTANCE_LABEL]
        consumed = CounterMetricFamily(
            "wishbone_module_consumed", "Events the module consumed (consume() called).", labels=module_labels
        )
        failed = CounterMetricFamily(
            "wishbone_module_failed", "Events consume() raised on (sent to the failed queue).", labels=module_labels
        )
        extra: dict[str, UnknownMetricFamily] = {}
        for module, counts in modules.items():
            consumed.add_metric([module, instance], counts.get("consumed", 0))
            failed.add_metric([module, instance], counts.get("failed", 0))
            for key, value in counts.items():
                if key in _RESERVED_MODULE_KEYS or isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                name = "wishbone_module_" + _UNSAFE.sub("_", key)
                if name in _RESERVED_NAMES:
                    continue
                if name not in extra:
                    extra[name] = UnknownMetricFamily(
                        name, f"Module-specific figure {key!r} from the module's metrics().", labels=module_labels
                    )
                extra[name].add_metric([module, instance], value)
        yield consumed
        yield failed
        yield from extra.values()

        status = self._status()
        if status is not None:
            healthy, ready = status
            yield _gauge(
                "wishbone_pipeline_healthy", "1 while every module runs (what /health answers).", instance, healthy
            )
            yield _gauge(
                "wishbone_pipeline_ready", "1 while every module is ready (what /ready answers).", instance, ready
            )
        yield _gauge(
            "wishbone_snapshot_timestamp_seconds",
            "Unix time the figures were taken.",
            instance,
            snapshot.get("time", 0),
        )


def _gauge(name: str, doc: str, instance: str, value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[INSTANCE_LABEL])
    family.add_metric([instance], float(value))
    return family


class Prometheus:
    """Serves the pipeline's metrics to Prometheus over HTTP, with health and readiness checks.

    Endpoints: ``/metrics`` (Prometheus text format, OpenMetrics on request),
    ``/health`` (200 while every module runs, else 503), ``/ready`` (200 while every
    module runs and reports ready, else 503). Figures are taken fresh at each scrape.

    With ``--instances N`` every worker serves its own figures on ``port + instance``
    (worker 0 on ``port``, worker 1 on ``port + 1``...), labelled ``wishbone_instance``.

    Parameters:
        address (str): address to listen on (default ``127.0.0.1``; ``0.0.0.0`` for all).
        port (int): port of worker 0; worker N listens on port + N. 0 picks a free port
            per worker (logged) (default 9800).
        process_metrics (bool): also expose ``process_*`` (CPU, memory, open files) and
            ``python_info`` (default true).
    """

    def __init__(self, address: str = "127.0.0.1", port: int = DEFAULT_PORT, process_metrics: bool = True) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0..65535, got {port}")
        self.address = address
        self.port = port
        self.process_metrics = process_metrics
        self.pipeline: Pipeline | None = None
        self.latest: dict | None = None
        self.server: WSGIServer | None = None
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(PipelineCollector(self._snapshot, self._status))
        if process_metrics:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
        self._metrics_app = make_wsgi_app(self.registry)
        self.log = source_logger("prometheus")

    # ----------------------------------------------------------------- hooks
    @hookimpl
    def wishbone_module_before_start(self, pipeline: Pipeline, module: Module) -> None:
        """Bind the listening socket before the first module starts: a busy port fails early."""
        self._bind(pipeline)

    @hookimpl
    def wishbone_pipeline_started(self, pipeline: Pipeline) -> None:
        """Start serving."""
        self._bind(pipeline)
        assert self.server is not None
        if not self.server.started:
            self.server.start()
            self.log.info("Serving metrics on http://%s:%d/metrics", self.address, self.bound_port)

    @hookimpl
    def wishbone_metrics_collected(self, pipeline: Pipeline, snapshot: dict) -> None:
        """Keep the interval's snapshot (served if the pipeline itself is not known)."""
        self.latest = snapshot

    @hookimpl
    def wishbone_pipeline_stopped(self, pipeline: Pipeline, drained: bool) -> None:
        """Close the server: the pipeline is gone."""
        self.close()

    # ----------------------------------------------------------------- server
    @property
    def bound_port(self) -> int | None:
        """The port actually listened on (useful with ``port`` 0), None before binding."""
        if self.server is None or self.server.socket is None:
            return None
        return self.server.socket.getsockname()[1]

    def close(self) -> None:
        """Stop serving and close the socket (idempotent)."""
        if self.server is not None:
            self.server.stop(timeout=1)
            self.log.info("Metrics endpoint closed.")
            self.server = None

    def _bind(self, pipeline: Pipeline) -> None:
        if self.server is not None:
            return
        self.pipeline = pipeline
        self.log = source_logger(f"Instance #{pipeline.instance}:prometheus")
        port = self.port + pipeline.instance if self.port else 0
        listener = gevent.socket.socket(gevent.socket.AF_INET6 if ":" in self.address else gevent.socket.AF_INET)
        try:
            listener.setsockopt(gevent.socket.SOL_SOCKET, gevent.socket.SO_REUSEADDR, 1)
            listener.bind((self.address, port))
            listener.listen(64)
        except OSError as exc:
            listener.close()
            raise RuntimeError(f"prometheus: cannot listen on {self.address}:{port}: {exc.strerror or exc}") from None
        self.server = WSGIServer(listener, self.application, spawn=16, log=None, error_log=self.log)

    def _snapshot(self) -> dict | None:
        if self.pipeline is not None:
            return self.pipeline.snapshot()
        return self.latest

    def _status(self) -> tuple[bool, bool] | None:
        if self.pipeline is None:
            return None
        return self.pipeline.healthy, pipeline_ready(self.pipeline)

    def application(self, environ: dict, start_response: Callable) -> list[bytes]:
        """The WSGI application: /metrics, /health, /ready, and an index at /."""
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            return self._metrics_app(environ, start_response)
        if path in ("/health", "/ready"):
            ok = self._status_of(path)
            body = b"ok\n" if ok else b"unavailable\n"
            start_response("200 OK" if ok else "503 Service Unavailable", _text_headers(body))
            return [body]
        if path == "/":
            body = b"wishbone metrics: /metrics /health /ready\n"
            start_response("200 OK", _text_headers(body))
            return [body]
        body = b"not found: try /metrics, /health or /ready\n"
        start_response("404 Not Found", _text_headers(body))
        return [body]

    def _status_of(self, path: str) -> bool:
        status = self._status()
        if status is None:
            return False
        healthy, ready = status
        return healthy if path == "/health" else ready


def _text_headers(body: bytes) -> list[tuple[str, Any]]:
    return [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))]
