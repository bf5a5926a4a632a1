"""The ``log`` metrics module: writes each metrics snapshot to the log."""

from __future__ import annotations

import logging
from typing import Literal

from wishbone.hookspecs import hookimpl
from wishbone.log import source_logger


class LogMetrics:
    """Writes every metrics snapshot to the log, one line per queue and per module.

    Parameters:
        level (str): log level of the lines: debug, info or warning (default info).
        skip_idle (bool): leave out queues whose counters are all zero (default true).
    """

    def __init__(self, level: Literal["debug", "info", "warning"] = "info", skip_idle: bool = True) -> None:
        self.level = getattr(logging, level.upper())
        self.skip_idle = skip_idle
        self.log = None

    @hookimpl
    def wishbone_metrics_collected(self, pipeline, snapshot: dict) -> None:
        if self.log is None:
            self.log = source_logger(f"Instance #{snapshot['instance']}:metrics")
        for name, q in snapshot["queues"].items():
            if self.skip_idle and not any(q.values()):
                continue
            self.log.log(
                self.level, "queue %s in=%d out=%d dropped=%d size=%d", name, q["in"], q["out"], q["dropped"], q["size"]
            )
        for name, m in snapshot["modules"].items():
            extra = " ".join(f"{k}={v}" for k, v in m.items())
            self.log.log(self.level, "module %s %s", name, extra)
