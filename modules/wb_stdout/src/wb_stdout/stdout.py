"""The ``stdout`` output: one line per event, written once per batch."""

from __future__ import annotations

import errno
import io
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from wishbone import Module
from wishbone.ack import mark_failed
from wishbone.log import RateLimitedLog

from wb_stdout.writer import FdWriter

__all__ = ["STDOUT", "to_text"]

_TEXT_ONLY = {str}


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return str(value)


def to_text(data: Any) -> str:
    """The text written for *data*: strings as they are, bytes decoded, the rest as JSON.

    Bytes are decoded as UTF-8; bytes that are not UTF-8 are written as ``\\xNN`` escapes,
    so nothing is lost or replaced by ``?``. JSON is compact-ish (``json.dumps`` defaults),
    keeps non-ASCII text as is, and writes values JSON has no type for with ``str()``.
    """
    if type(data) is str:
        return data
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data).decode("utf-8", "backslashreplace")
    return json.dumps(data, ensure_ascii=False, default=_json_default)


class STDOUT(Module):
    """Writes events to stdout, one line per event; passes them on when its outbox is routed.

    Each event becomes one line: its ``data`` (text as is; bytes decoded as UTF-8 with
    ``\\xNN`` escapes for invalid bytes; anything else as JSON), or with ``complete`` the
    whole event as JSON. A newline ends each line, unless the text already ends with one.
    The lines of a batch are written with one write call at the end of the batch,
    cooperatively (a full pipe does not stall the other modules).

    When stdout is closed (a pipe to ``head -1`` that has exited: EPIPE) the module logs it
    once and stops writing; it goes on consuming, counting each event as ``dropped`` (and
    still passing it on when the outbox is routed), so the server neither crashes nor spins.

    Parameters:
        complete (bool): write the whole event (headers and data) as JSON instead of only
            its data (default false).
        counter (bool): start each line with a running number and a space, ``1 hello``
            (default false).
        prefix (str): text that starts each line, before the counter (default "").
        path (str or null): append to this file instead of stdout (default null: stdout).

    Queues:
        inbox: events to write.
        outbox: the same events, after they were written, when routed (else not emitted).
        failed: events that could not be formatted (error in ``headers.error``).

    Metrics:
        written: lines written.  dropped: events not written (stdout closed, write error).
        write_errors: failed write calls (each loses one batch).
    """

    def __init__(
        self, complete: bool = False, counter: bool = False, prefix: str = "", path: str | None = None
    ) -> None:
        if path is not None and not path:
            raise ValueError("path must be a file path, or null for stdout")
        self.complete = complete
        self.counter = counter
        self.prefix = prefix
        self.path = path
        self.written = 0
        self.dropped = 0
        self.write_errors = 0
        self.closed = False
        self._count = 0
        self._events: list[dict] = []
        self._pass_on = False
        self._fd: int | None = None
        self._owns_fd = False
        self._writer: FdWriter | None = None

    # ------------------------------------------------------------------ lifecycle
    def on_start(self) -> None:
        self._pass_on = self.is_routed("outbox")
        self._format = self._formatter()
        self._plain = not (self.complete or self.counter or self.prefix)
        self._errors = RateLimitedLog(self.log)
        if self.path is not None:
            # O_NONBLOCK only for the open: a FIFO without a reader fails (ENXIO) instead of
            # stalling the whole process; writes then go through FdWriter like stdout's
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC | os.O_NONBLOCK
            try:
                self._fd = os.open(self.path, flags, 0o644)
            except OSError as exc:
                raise OSError(exc.errno, f"cannot open {self.path!r} for writing: {exc.strerror}") from None
            os.set_blocking(self._fd, True)
            self._owns_fd = True
        else:
            try:
                sys.stdout.flush()  # what Python buffered comes first
                self._fd = sys.stdout.fileno()
            except (AttributeError, ValueError, OSError, io.UnsupportedOperation):
                self._fd = 1
        try:
            self._writer = FdWriter(self._fd)
        except OSError as exc:  # fd 1 not open at all (``>&-``)
            self._close(exc)

    def on_stop(self) -> None:
        self.end_of_batch()
        if self._owns_fd and self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def metrics(self) -> dict:
        return {"written": self.written, "dropped": self.dropped, "write_errors": self.write_errors}

    # ------------------------------------------------------------------ per event
    def consume(self, event: dict) -> None:
        """Keep *event* for the end of the batch."""
        self._events.append(event)

    def consume_batch(self, events: list) -> None:
        """Keep the whole batch for :meth:`end_of_batch` (no call per event)."""
        self._events.extend(events)

    def _formatter(self) -> Callable[[dict], str]:
        prefix = self.prefix
        complete = self.complete
        counter = self.counter

        def line(event: dict) -> str:
            text = to_text(event) if complete else to_text(event["data"])
            return text if text.endswith("\n") else text + "\n"

        if not counter:
            if not prefix:
                return line
            return lambda event: prefix + line(event)

        def numbered(event: dict) -> str:
            text = line(event)  # a failure must not use up a number
            self._count += 1
            return f"{prefix}{self._count} {text}"

        return numbered

    # ------------------------------------------------------------------ per batch
    def end_of_batch(self) -> None:
        """Format the batch's lines, write them with one call, pass the events on."""
        events = self._events
        if not events:
            return
        self._events = []
        if self.closed or self._writer is None:
            self.dropped += len(events)
            mark_failed(events)
        else:
            text, lines, events = self._lines_of(events)
            if lines:
                self._write(text, lines, events)
        if self._pass_on:
            emit = self.emit
            for event in events:
                emit(event)

    def _lines_of(self, events: list[dict]) -> tuple[str, int, list[dict]]:
        """The text to write for *events*, its number of lines, and the events it holds."""
        if self._plain:
            # The common case, text data, with no per-event call: join the batch, and fall
            # back to line by line only if a text may end with a newline of its own.
            texts = [event["data"] for event in events]
            if set(map(type, texts)) == _TEXT_ONLY:
                text = "\n".join(texts) + "\n"
                if "\n\n" not in text:
                    return text, len(texts), events
        lines, good = [], []
        fmt = self._format
        for event in events:
            try:
                lines.append(fmt(event))
            except Exception as exc:
                self.fail(event, exc)
                continue
            good.append(event)
        return "".join(lines), len(lines), good

    def _write(self, text: str, lines: int, events: list[dict]) -> None:
        try:
            self._writer.write(text.encode("utf-8", "backslashreplace"))
        except OSError as exc:
            self.write_errors += 1
            self.dropped += len(events)
            mark_failed(events)
            if exc.errno == errno.EPIPE:
                self._close(exc)
            else:
                self._errors.warning("Writing %d line(s) failed, they are dropped: %s", lines, exc)
            return
        self.written += lines

    def _close(self, exc: OSError) -> None:
        self.closed = True
        where = self.path or "stdout"
        self.log.warning("%s is closed (%s): no more output; events are counted as dropped.", where, exc.strerror)
