"""The ``stdin`` input: lines from standard input, read without blocking the hub.

One producer greenlet reads file descriptor 0 in chunks. A pipe, a terminal or a socket is
switched to non-blocking mode and waited on with gevent (``gevent.socket.wait_read``), so
the rest of the pipeline runs while stdin is quiet; a regular file (``wishbone ... <
file``) is read a chunk at a time. The reader yields after every chunk either way. The
blocking mode is put back when the reader ends, so a shell that shares the terminal is
left as it was.

At end of input the last line (even without a newline) is handed on and the input calls
``finish()``: the pipeline drains into its outputs and ``wishbone debug`` exits 0.
"""

from __future__ import annotations

import os
import stat
import time

import gevent
from gevent.socket import wait_read
from wishbone import codec
from wishbone.event import error_record
from wishbone.log import RateLimitedLog
from wishbone.module import Input

__all__ = ["LineTooLong", "Stdin"]

#: Bytes read at once: bounds the time one read holds the hub.
CHUNK = 65536
#: How long the reader waits for input before it looks at ``self.running`` again.
IDLE_CHECK = 0.2
#: While input streams, the reader lets the event loop run at least this often (seconds) ...
LOOP_EVERY = 0.02
#: ... with a sleep this short, which still runs one iteration of the loop.
LOOP_TURN = 0.0001


class LineTooLong(ValueError):
    """A line longer than ``max_line_bytes``: its first bytes went to ``failed``, the rest was skipped."""


class _Idle(Exception):
    """Nothing to read within IDLE_CHECK seconds."""


_IDLE = _Idle()


class Stdin(Input):
    """Reads standard input, one event per line; at end of input the pipeline drains and exits 0.

    Each line (``\\n`` or ``\\r\\n`` ended; the last line needs no newline) becomes
    ``{"headers": {}, "data": <the line decoded>}``. A line that does not decode, and a line
    longer than ``max_line_bytes`` (its first ``max_line_bytes`` bytes; the rest is skipped
    and never held in memory), go to ``failed`` with the raw bytes as data and the reason in
    ``headers.error``; they are counted and logged at a bounded rate. At end of input the
    module finishes: once every input has, the pipeline drains and the process exits 0.

    With ``--instances N`` only instance #0 reads stdin; in the others it finishes at once.

    Delivery: at most once for what is in flight. Standard input cannot be read again, so
    events read but not yet written when the process is killed are lost; a SIGTERM drains
    them first.

    Parameters:
        decode (str): what each line becomes, a codec of wishbone.codec: "lines" (UTF-8
            text, the default), "text" (the same for one line), "raw" (bytes), "json" or
            "json_lines" (the JSON value of each line; blank lines are skipped), "msgpack".
        max_line_bytes (int): the longest line taken, in bytes without its newline
            (default 102400); a longer one goes to failed.

    Queues:
        outbox: one event per line.
        failed: lines that did not decode or were too long (data: their bytes; headers.error: why).

    Metrics:
        lines: lines read.  failed_lines: lines sent to failed.  bytes: bytes read.
    """

    def __init__(self, decode: str = "lines", max_line_bytes: int = 102400) -> None:
        self._decode = codec.get(decode).decode_frame
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be 1 or more, got {max_line_bytes}")
        self.decode = decode
        self.max_line_bytes = max_line_bytes
        self.skip_blank = decode in ("json", "json_lines")
        self.lines = self.failed_lines = self.bytes = 0
        self._reading = False

    @property
    def ready(self) -> bool:  # type: ignore[override]  # a property where Module has a plain default
        """True while stdin is being read (False before start and after end of input)."""
        return self._reading

    def on_start(self) -> None:
        """Start the reader greenlet (in instance #0; the others finish at once)."""
        self._bad = RateLimitedLog(self.log)
        if self.context.instance != 0:
            # Workers share one stdin: two readers would split lines between them.
            self.log.info("stdin is read by instance #0 only: nothing to read here.")
            self.finish()
            return
        self._reading = True
        self.spawn_producer(self._read, 0)

    def metrics(self) -> dict:
        """Lines read, lines sent to failed, bytes read."""
        return {"lines": self.lines, "failed_lines": self.failed_lines, "bytes": self.bytes}

    # ------------------------------------------------------------------ the reader
    def _read(self, fd: int) -> None:
        try:
            regular = stat.S_ISREG(os.fstat(fd).st_mode)
        except OSError as exc:
            self.log.error("Cannot read stdin: %s; finishing.", exc)
            self._end()
            return
        blocking = None if regular else os.get_blocking(fd)
        if blocking:
            os.set_blocking(fd, False)
        turned = time.monotonic()
        pending = b""  # the start of a line whose newline has not come yet
        skipping = False  # inside a line that was too long: drop bytes up to its newline
        try:
            while self.running:
                try:
                    chunk = os.read(fd, CHUNK)
                except BlockingIOError:
                    try:
                        wait_read(fd, IDLE_CHECK, timeout_exc=_IDLE)  # other greenlets run meanwhile
                    except _Idle:
                        pass
                    continue
                except OSError as exc:
                    self.log.error("Reading stdin failed: %s; finishing.", exc)
                    break
                if not chunk:  # end of input: the last line needs no newline
                    if pending and not skipping:
                        self._hand_on([pending])
                    break
                self.bytes += len(chunk)
                parts = (pending + chunk).split(b"\n") if pending else chunk.split(b"\n")
                pending = parts.pop()
                if skipping and parts:
                    del parts[0]  # the end of the long line
                    skipping = False
                if skipping:
                    pending = b""
                elif len(pending) > self.max_line_bytes:
                    parts.append(pending)  # _hand_on sends it to failed, cut to max_line_bytes
                    pending = b""
                    skipping = True
                if parts:
                    self._hand_on(parts)
                # Input may always be there (a regular file, a fast writer): let the others
                # run after every chunk. sleep(0) runs the greenlets that are ready but can
                # hold back the event loop itself (timers, signal watchers) while data
                # streams; a short real sleep runs one iteration of it, every LOOP_EVERY.
                now = time.monotonic()
                if now - turned >= LOOP_EVERY:
                    gevent.sleep(LOOP_TURN)
                    turned = now
                else:
                    gevent.sleep(0)
            else:
                return  # stopped: not the end of input
        finally:
            if blocking:
                try:
                    os.set_blocking(fd, True)
                except OSError:
                    pass
        self._end()

    def _end(self) -> None:
        self._reading = False
        self.log.info("End of input after %d line(s).", self.lines)
        self.finish()

    def _hand_on(self, parts: list[bytes]) -> None:
        """Decode *parts* (lines without their newline) and emit them; the bad ones to failed."""
        decode = self._decode
        limit = self.max_line_bytes
        events = []
        failed = None
        for line in parts:
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) > limit:
                exc: Exception = LineTooLong(f"line longer than {limit} bytes: the first {limit} kept, rest skipped")
                line = line[:limit]
            else:
                if self.skip_blank and not line.strip():
                    continue
                try:
                    events.append({"headers": {}, "data": decode(line)})
                    continue
                except ValueError as error:
                    exc = error
            self.emit({"headers": {"error": error_record(self.name, exc)}, "data": line}, "failed")
            self.failed_lines += 1
            failed = f"{type(exc).__name__}: {exc}"
        self.lines += len(parts)
        if failed is not None:
            self._bad.warning("Lines that could not be taken went to 'failed' (%s).", failed)
        self.emit_batch(events)
        self.flush()
