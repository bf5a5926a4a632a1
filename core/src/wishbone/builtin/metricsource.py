"""The ``metrics`` input: its own pipeline's metrics snapshots as ordinary events.

A module is not handed its pipeline, so a small plugin (:data:`plugin`, registered in the
``wishbone.plugins`` entry-point group) gives it over in ``wishbone_module_before_start``,
before the module's ``on_start`` runs. From then on the module takes a snapshot every
``interval`` seconds (``Pipeline.snapshot()`` only reads counters) and emits it, whole or
as graphite lines, so the routing table can send metrics anywhere an event can go.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

import gevent.event

from wishbone.hookspecs import hookimpl
from wishbone.module import Module

if TYPE_CHECKING:
    from wishbone.pipeline import Pipeline

__all__ = ["MetricsSource", "PipelineHandover", "graphite_lines", "plugin"]

_UNSAFE = re.compile(r"[^a-zA-Z0-9_.\-]")


def graphite_lines(snapshot: dict, prefix: str = "wishbone") -> list[str]:
    """One graphite plaintext line per figure of *snapshot* (numbers only), no newline.

    ``{prefix}.{instance}.queue.{module}.{queue}.{in|out|dropped|size} value timestamp`` and
    ``{prefix}.{instance}.module.{module}.{consumed|failed|...} value timestamp``.
    """
    stamp = int(snapshot["time"])
    base = f"{prefix}.{snapshot['instance']}" if prefix else str(snapshot["instance"])
    lines = []
    for kind, table in (("queue", snapshot["queues"]), ("module", snapshot["modules"])):
        for name, figures in table.items():
            path = f"{base}.{kind}.{_UNSAFE.sub('_', name)}"
            for key, value in figures.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                lines.append(f"{path}.{_UNSAFE.sub('_', key)} {value} {stamp}")
    return lines


class MetricsSource(Module):
    """Emits its pipeline's metrics snapshots as events, to route anywhere.

    Every ``interval`` seconds it takes a snapshot of the pipeline it runs in (per queue
    in/out/dropped/size, per module consumed/failed and module-specific figures) and emits:

    * format ``snapshot``: one event per snapshot, ``data`` = ``{"time", "instance",
      "queues": {"a.outbox": {"in", "out", "dropped", "size"}}, "modules": {"a":
      {"consumed", "failed", ...}}}``;
    * format ``graphite``: one event per figure, ``data`` = a graphite plaintext line
      without newline, ``wishbone.0.queue.a.outbox.in 123 1700000000``.

    Needs the ``wishbone.plugins`` entry point ``metrics-source`` of the core (installed
    with it) to be handed its pipeline; without it, it logs a warning and emits nothing.

    Parameters:
        interval (float): seconds between snapshots (default 5).
        format (str): ``snapshot`` or ``graphite`` (default ``snapshot``).
        prefix (str): first path element of graphite lines (default ``wishbone``).

    Queues:
        outbox: the metrics events.
    """

    consumes: dict[str, str] = {}

    def __init__(
        self, interval: float = 5.0, format: Literal["snapshot", "graphite"] = "snapshot", prefix: str = "wishbone"
    ) -> None:
        if not interval > 0:
            raise ValueError("interval must be more than 0 seconds")
        self.interval = interval
        self.format = format
        self.prefix = prefix.strip(".")
        self.pipeline: Pipeline | None = None
        self.snapshots = 0
        self._wake = gevent.event.Event()

    def on_start(self) -> None:
        if self.pipeline is None:
            self.log.warning(
                "No pipeline was handed over (the wishbone.plugins entry point 'metrics-source' is not loaded): "
                "no metrics will be emitted."
            )
            return
        self.spawn_producer(self._produce)

    def on_stop_intake(self) -> None:
        self._wake.set()

    def metrics(self) -> dict:
        return {"snapshots": self.snapshots}

    def events(self, snapshot: dict) -> list[dict]:
        """The events one *snapshot* becomes, in this module's format."""
        if self.format == "graphite":
            return [{"headers": {}, "data": line} for line in graphite_lines(snapshot, self.prefix)]
        return [{"headers": {}, "data": snapshot}]

    def _produce(self) -> None:
        assert self.pipeline is not None
        while self.running:
            if self._wake.wait(self.interval):
                break
            self.snapshots += 1  # first, so a snapshot counts itself
            snapshot = self.pipeline.snapshot()
            self.emit_batch(self.events(snapshot))


class PipelineHandover:
    """The plugin that hands each :class:`MetricsSource` the pipeline it runs in."""

    @hookimpl
    def wishbone_module_before_start(self, pipeline: Pipeline, module: Module) -> None:
        """Give a metrics source its pipeline before it starts."""
        if isinstance(module, MetricsSource):
            module.pipeline = pipeline


#: The plugin object the ``wishbone.plugins`` entry point ``metrics-source`` names.
plugin = PipelineHandover()
