"""The ``metrics`` input: its own pipeline's metrics snapshots as ordinary events.

Every ``interval`` seconds the module takes a snapshot through its context
(``self.context.snapshot()``, which only reads counters) and emits it, whole or as
graphite lines, so the routing table can send metrics anywhere an event can go.
"""

from __future__ import annotations

import re
from typing import Literal

import gevent.event

from wishbone.module import Input

__all__ = ["MetricsSource", "graphite_lines"]

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


class MetricsSource(Input):
    """Emits its pipeline's metrics snapshots as events, to route anywhere.

    Every ``interval`` seconds it takes a snapshot of the pipeline it runs in (per queue
    in/out/dropped/size, per module consumed/failed and module-specific figures) and emits:

    * format ``snapshot``: one event per snapshot, ``data`` = ``{"time", "instance",
      "queues": {"a.outbox": {"in", "out", "dropped", "size"}}, "modules": {"a":
      {"consumed", "failed", ...}}}``;
    * format ``graphite``: one event per figure, ``data`` = a graphite plaintext line
      without newline, ``wishbone.0.queue.a.outbox.in 123 1700000000``.

    Parameters:
        interval (float): seconds between snapshots (default 5).
        format (str): ``snapshot`` or ``graphite`` (default ``snapshot``).
        prefix (str): first path element of graphite lines (default ``wishbone``).

    Queues:
        outbox: the metrics events.
    """

    ready = True  # reads its own pipeline: nothing to connect

    def __init__(
        self, interval: float = 5.0, format: Literal["snapshot", "graphite"] = "snapshot", prefix: str = "wishbone"
    ) -> None:
        if not interval > 0:
            raise ValueError("interval must be more than 0 seconds")
        self.interval = interval
        self.format = format
        self.prefix = prefix.strip(".")
        self.snapshots = 0
        self._wake = gevent.event.Event()

    def on_start(self) -> None:
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
        while self.running:
            if self._wake.wait(self.interval):
                break
            self.snapshots += 1  # first, so a snapshot counts itself
            snapshot = self.context.snapshot()
            self.emit_batch(self.events(snapshot))
