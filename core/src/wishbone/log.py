"""Logging in the seed's format, and a rate limit for messages about bad input.

Lines look like ``2012-11-25 16:38:30,202 INFO Instance #0:loopback: Started.``: the
*source* is ``Server`` for the process supervisor and ``Instance #N:NAME`` for a module.
"""

from __future__ import annotations

import logging
import time

__all__ = ["FORMAT", "RateLimitedLog", "SeedFormatter", "configure", "source_logger"]

FORMAT = "%(asctime)s %(levelname)s %(source)s: %(message)s"
LEVELS = ("debug", "info", "warning", "error", "critical")


class SeedFormatter(logging.Formatter):
    """Formats records as the seed did; records without a source show their logger name."""

    def __init__(self) -> None:
        super().__init__(FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "source"):
            record.source = record.name
        return super().format(record)


def source_logger(source: str, name: str = "wishbone") -> logging.LoggerAdapter:
    """Return a logger whose lines are prefixed with *source* (``Instance #0:input``)."""
    return logging.LoggerAdapter(logging.getLogger(name), {"source": source})


def configure(level: str = "info", stream=None, filename: str | None = None) -> None:
    """Send Wishbone's log to *stream* (default stderr) or *filename* at *level*."""
    if level not in LEVELS:
        raise ValueError(f"unknown log level {level!r}; expected one of {', '.join(LEVELS)}")
    handler: logging.Handler
    handler = logging.FileHandler(filename) if filename else logging.StreamHandler(stream)
    handler.setFormatter(SeedFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())


class RateLimitedLog:
    """Logs at most one warning per *interval* seconds; counts what it held back.

    Used for bad input (malformed events, garbage datagrams), so that a flood of it
    cannot flood the log. Call it per batch, never per event.
    """

    def __init__(self, log: logging.LoggerAdapter, interval: float = 5.0) -> None:
        self.log = log
        self.interval = interval
        self._next = 0.0
        self._held = 0

    def warning(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now < self._next:
            self._held += 1
            return
        if self._held:
            message += f" ({self._held} similar messages suppressed)"
            self._held = 0
        self._next = now + self.interval
        self.log.warning(message, *args)
