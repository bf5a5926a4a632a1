"""The ``stdout`` output: one line per event, written once per batch."""

from __future__ import annotations

import errno
import io
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from wishbone.ack import mark_failed
from wishbone.codec import json_dumps
from wishbone.log import RateLimitedLog
from wishbone.module import Output

from wb_stdout.writer import FdWriter

__all__ = ["STDOUT", "escape", "to_text"]

_TEXT_ONLY = {str}

# What would break a line or reach the terminal as a command: C0 controls but tab (newline,
# carriage return, ESC which starts every escape sequence, backspace, bell...), DEL, C1 controls
# (CSI, OSC, NEL...), the Unicode line and paragraph separators, and the bidirectional
# overrides and isolates (text that displays in another order than it reads).
_SPECIAL = "\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[\x00-\x08\x0a-\x1f{_SPECIAL}]")
# The same, for a batch's UTF-8 bytes, as a quick test: the C0 controls but tab and newline and
# DEL are deleted by bytes.translate (~2 ns a byte, a regular expression takes 15); C1 controls
# are \xc2\x80-\xc2\x9f in UTF-8 and the rest start with \xe2\x80 or \xe2\x81 (a false alarm,
# say a "©", only costs the line-by-line path).
_C0_BUT_TAB_AND_NEWLINE = bytes([*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F])
_UNSAFE_IN_JSON = re.compile(f"[{_SPECIAL}]")  # JSON escapes C0 itself


def _escape_char(match: re.Match) -> str:
    char = match.group()
    if char == "\n":
        return "\\n"
    if char == "\r":
        return "\\r"
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _json_escape_char(match: re.Match) -> str:
    return f"\\u{ord(match.group()):04x}"


def _nothing_to_escape(data: bytes) -> bool:
    """True if the UTF-8 *data* holds nothing :func:`escape` changes except newlines (conservative)."""
    return (
        len(data.translate(None, _C0_BUT_TAB_AND_NEWLINE)) == len(data)
        and b"\xc2" not in data
        and b"\xe2\x80" not in data
        and b"\xe2\x81" not in data
    )


def escape(text: str) -> str:
    """*text* as one line that is safe on a terminal: see :func:`to_text` for what is escaped."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_escape_char, text)


def to_text(data: Any) -> str:
    """The line written for *data* (without its newline): one line, nothing a terminal acts on.

    Strings as they are, bytes decoded as UTF-8 (bytes that are not UTF-8 as ``\\xNN``
    escapes, nothing replaced by ``?``); one line ending at the very end (``\\n`` or
    ``\\r\\n``) is the end of the line, not data. What would break the line or drive the
    terminal is written as a backslash escape: newline ``\\n``, carriage return ``\\r``,
    other control characters (ESC, which starts every terminal escape sequence, included) and
    DEL ``\\xNN``, C1 controls ``\\x9b``, line/paragraph separators and bidirectional
    overrides ``\\u2028``; tab stays. Backslashes already in the text are written as they
    are (a JSON text in a string stays that JSON text).

    Anything else is written as JSON by the core's codec (``wishbone.codec``): compact, UTF-8,
    always valid JSON (NaN as ``null``); the characters above that JSON leaves raw are
    written as ``\\u`` escapes, which keeps it the same JSON.
    """
    if type(data) is str:
        text = data
    elif isinstance(data, (bytes, bytearray, memoryview)):
        text = bytes(data).decode("utf-8", "backslashreplace")
    else:
        text = json_dumps(data).decode("utf-8")
        if _UNSAFE_IN_JSON.search(text) is None:
            return text
        return _UNSAFE_IN_JSON.sub(_json_escape_char, text)
    if text.endswith("\n"):
        text = text[:-2] if text.endswith("\r\n") else text[:-1]
    return escape(text)


class STDOUT(Output):
    """Writes events to stdout, one line per event; passes them on when its outbox is routed.

    Each event becomes exactly one line: its ``data`` (text as is; bytes decoded as UTF-8 with
    ``\\xNN`` escapes for invalid bytes; anything else as JSON), or with ``complete`` the
    whole event as JSON. A newline ends each line (a text's own final newline is that end).
    Newlines, carriage returns, other control characters and terminal escape sequences in
    data are written as backslash escapes (``\\n``, ``\\r``, ``\\x1b``), so one event is
    one line and nothing in the data drives the terminal; JSON is always valid JSON (NaN as
    null).
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
        self._write_failures = RateLimitedLog(self.log)
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

    @property
    def ready(self) -> bool:
        """True while there is somewhere to write: the file or stdout is open and not closed by its reader."""
        return self._writer is not None and not self.closed

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
            return (to_text(event) if complete else to_text(event["data"])) + "\n"

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
            data, lines, events = self._lines_of(events)
            if lines:
                self._write(data, lines, events)
        if self._pass_on:
            emit = self.emit
            for event in events:
                emit(event)

    def _lines_of(self, events: list[dict]) -> tuple[bytes, int, list[dict]]:
        """The bytes to write for *events*, their number of lines, and the events they hold."""
        if self._plain:
            # The common case, text data, with no per-event call: join the batch, and fall
            # back to line by line only if a text holds a newline or something to escape.
            texts = [event["data"] for event in events]
            if set(map(type, texts)) == _TEXT_ONLY:
                try:
                    data = ("\n".join(texts) + "\n").encode("utf-8")
                except UnicodeEncodeError:  # a lone surrogate: line by line, escaped
                    data = b""
                if data.count(b"\n") == len(texts) and _nothing_to_escape(data):
                    return data, len(texts), events
        lines, good = [], []
        fmt = self._format
        for event in events:
            try:
                lines.append(fmt(event))
            except Exception as exc:
                self.fail(event, exc)
                continue
            good.append(event)
        return "".join(lines).encode("utf-8", "backslashreplace"), len(lines), good

    def _write(self, data: bytes, lines: int, events: list[dict]) -> None:
        try:
            self._writer.write(data)
        except OSError as exc:
            self.write_errors += 1
            self.dropped += len(events)
            mark_failed(events)
            if exc.errno == errno.EPIPE:
                self._close(exc)
            else:
                self._write_failures.warning("Writing %d line(s) failed, they are dropped: %s", lines, exc)
            return
        self.written += lines

    def _close(self, exc: OSError) -> None:
        self.closed = True
        where = self.path or "stdout"
        self.log.warning("%s is closed (%s): no more output; events are counted as dropped.", where, exc.strerror)
