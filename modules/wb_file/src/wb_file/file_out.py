"""The ``file_out`` output: appends one line per event, one write per batch (per file).

Each consumed batch is encoded and written to the file with one ``write()`` (looped only
if the kernel takes part of it), on a descriptor opened with ``O_APPEND``, so several
writers never interleave inside a batch's lines. A path that is a template
(``/var/log/x/{{ data.service }}.log``) sorts a batch's lines by the file they go to, and
each file gets one write. The file is reopened when
:meth:`FileOut.reopen` is called (SIGHUP, see the README) and when its path no longer names
the open inode (logrotate moved it away), checked at most every ``check_interval``
seconds. ``fsync`` says what survives a power loss (see the class docstring); it runs in
gevent's threadpool, so a slow disk holds back the writing greenlet, not the hub.
"""

from __future__ import annotations

import os
import time
from typing import Literal

import gevent
import gevent.event
from wishbone import blocking, codec
from wishbone.log import RateLimitedLog
from wishbone.module import Output
from wishbone.template import Template, compile_template

__all__ = ["FileOut"]


class _Open:
    """An open file: its descriptor, identity and when its path was last checked."""

    __slots__ = ("fd", "dev", "ino", "checked", "dirty")

    def __init__(self, fd: int, st: os.stat_result) -> None:
        self.fd = fd
        self.dev = st.st_dev
        self.ino = st.st_ino
        self.checked = time.monotonic()
        self.dirty = False


class FileOut(Output):
    """Appends the data of each event to a file as one line; one write per batch and file.

    ``path`` may be a template of the event (``"/var/log/x/{{ data.service }}.log"``): the
    lines of a batch are sorted by the file they go to, each file gets one write, and at most
    ``max_files`` files stay open (the least recently written is closed first). A field the
    path names that an event lacks, or a path holding a ``..`` part, sends that event to
    ``failed``. The directories of the path are created. The file is opened for appending and reopened
    (created anew) when ``reopen()`` is called, which the worker does on SIGHUP (logrotate's
    ``postrotate kill -HUP``), and when the path no longer names the open file (moved away
    or deleted), looked at no more often than every ``check_interval`` seconds. Events whose
    data does not encode as one line, and the events of a batch whose write failed (disk
    full, no permission), go to ``failed`` with the reason in ``headers.error``; the next
    batch tries again.

    ``fsync``: "none" (the default) leaves the data to the kernel: it survives the process
    being killed, not a power loss or kernel crash (up to the kernel's writeback delay,
    about 30 s on Linux, is lost). "batch" calls fsync after every batch write, before the
    batch counts as delivered: nothing acknowledged is lost even on power loss, at the cost
    of one disk flush per batch. "interval" calls fsync every ``fsync_interval`` seconds:
    at most that much acknowledged data is lost on power loss.

    Parameters:
        path (str): the file to append to, a template (``{{ data.service }}``, see
            wishbone.template); strftime codes are filled in from the time of writing, in UTC,
            before the template renders (``"/srv/logs/app-%Y-%m-%d.log"``: one file per day;
            ``%%`` is a percent sign).
        format (str): a template making each event's line (``"{{ data.host }}: {{
            data.message }}"``), encoded with ``encode``; default none: the event's data.
        encode (str): how data becomes bytes, a codec of wishbone.codec: "lines" (str or
            bytes holding no newline, plus a newline; the default) or "json_lines" (one
            compact JSON text per line); "raw", "text", "json" and "msgpack" write what they
            encode with no separator.
        fsync (str): "none" (default), "batch" or "interval", as above.
        fsync_interval (float): seconds between fsyncs with fsync "interval" (default 1).
        check_interval (float): at most this often (seconds) the path is checked for a
            moved-away file (default 1).
        max_files (int): files kept open at once with a templated path (default 128).

    Queues:
        inbox: the events to write.
        failed: events that did not encode or could not be written (headers.error: why).

    Metrics:
        lines, bytes: written.  writes: write calls.  reopens: files reopened.
        write_errors: batches that could not be written.  fsyncs.  files: open now.
        bad_paths: events whose path did not render or held ``..``.
    """

    def __init__(
        self,
        path: Template,
        format: Template | None = None,
        encode: str = "lines",
        fsync: Literal["none", "batch", "interval"] = "none",
        fsync_interval: float = 1.0,
        check_interval: float = 1.0,
        max_files: int = 128,
    ) -> None:
        if not path:
            raise ValueError("path must name a file")
        self._encode = codec.get(encode).encode
        self._lines = encode == "lines"  # text lines are joined and encoded a batch at once
        if not 0 < fsync_interval <= 3600:
            raise ValueError(f"fsync_interval must be more than 0 and at most 3600 seconds, got {fsync_interval}")
        if not 0 <= check_interval <= 3600:
            raise ValueError(f"check_interval must be 0 to 3600 seconds, got {check_interval}")
        if max_files < 1:
            raise ValueError(f"max_files must be at least 1, got {max_files}")
        self.path = path
        self._static = compile_template(path, "strict").static  # one file (per day): no rendering per event
        self._timed = "%" in path  # strftime codes: one file per day (hour, ...)
        self._last_dated: str | None = None
        self._render = compile_template(path, "strict").render
        self.format = format
        line = None if format is None else compile_template(format)
        self._line = None if line is None else line.render
        self._lines_of = None if line is None else line.render_batch
        self.encode = encode
        self.fsync = fsync
        self.fsync_interval = fsync_interval
        self.check_interval = check_interval
        self.max_files = max_files
        self.lines = self.bytes = self.writes = self.reopens = self.write_errors = self.fsyncs = 0
        self.bad_paths = 0
        self._files: dict[str, _Open] = {}
        self._healthy = False

    # ------------------------------------------------------------------ lifecycle
    @property
    def ready(self) -> bool:  # type: ignore[override]  # a property where Module has a plain default
        """True while the file is open for writing (the last open and write succeeded)."""
        return self._healthy

    def on_start(self) -> None:
        """Open the file (creating its directories); a failure is logged and retried per batch."""
        self._trouble = RateLimitedLog(self.log)
        self._stopping = gevent.event.Event()
        if not self._static:
            self._healthy = True  # the files are known only from the events: opened as they come
        else:
            try:
                self._file(self._dated(self.path))
                self._healthy = True
            except OSError as exc:
                self.log.error("Cannot open %s (%s): events go to 'failed' until it can be.", self.path, exc)
        if self.fsync == "interval":
            self.spawn(self._syncer)

    def on_stop(self) -> None:
        """Flush to disk (unless fsync is "none") and close."""
        self._stopping.set()
        self.join_background(max(0.1, self.stop_deadline - time.monotonic()))
        for f in self._files.values():
            if self.fsync != "none" and f.dirty:
                self._sync(f)
            os.close(f.fd)
        self._files.clear()
        self._healthy = False

    def reopen(self) -> None:
        """Close the open files; the next batch opens (creates) its file again by path.

        Call it after the file was moved away (logrotate): the worker calls it on SIGHUP
        (``Module.reopen``, the SIGHUP hook). Safe from any greenlet: a write never yields.
        """
        closed = list(self._files)
        for path in closed:
            self._drop(path)
            self.reopens += 1
        self.log.info("Reopening %s (%d file(s) closed).", self.path, len(closed))

    def metrics(self) -> dict:
        """Lines, bytes and write calls so far; reopens, write errors, fsyncs."""
        return {
            "lines": self.lines,
            "bytes": self.bytes,
            "writes": self.writes,
            "reopens": self.reopens,
            "write_errors": self.write_errors,
            "fsyncs": self.fsyncs,
            "files": len(self._files),
            "bad_paths": self.bad_paths,
        }

    # ------------------------------------------------------------------ writing
    def consume(self, event: dict) -> None:
        """Write one event (the framework calls consume_batch; this is for a single event)."""
        self.consume_batch([event])

    def consume_batch(self, events: list) -> None:
        """Encode the batch and write it with one write call per file; failures to ``failed``."""
        if not self._static:
            self._consume_templated(events)
            return
        values, kept = self._values(events)
        if values:
            chunks, kept = self._encoded(values, kept)
            if chunks:
                self._write(self._dated(self.path), chunks, kept)

    def _values(self, events: list) -> tuple[list, list]:
        """What each event's line is made of: its data, or its ``format`` rendered; the events kept."""
        line = self._line
        if line is None:
            return [event["data"] for event in events], events
        try:
            return self._lines_of(events), events  # the whole batch in one go, as a rule
        except ValueError:  # a TemplateError: find the events it failed on, one by one
            pass
        values = []
        kept = []
        for event in events:
            try:
                values.append(line(event))
            except ValueError as exc:  # a TemplateError (a filter on the wrong type, strict...)
                self.fail(event, exc)
                continue
            kept.append(event)
        return values, kept

    def _encoded(self, values: list, events: list) -> tuple[list, list]:
        """(the encoded chunks, the events they hold); those that do not encode go to ``failed``.

        With ``lines`` a batch of text is joined and encoded at once, one check for a stray
        newline for the whole batch; only a batch that fails it is encoded line by line to
        find which.
        """
        if self._lines:
            try:
                text = "\n".join(values)
                if "\r" not in text and text.count("\n") == len(values) - 1:
                    return [text.encode("utf-8"), b"\n"], events
            except (TypeError, UnicodeEncodeError):  # bytes or other data; a lone surrogate
                pass
        encode = self._encode
        chunks = []
        kept = []
        for value, event in zip(values, events, strict=True):
            try:
                chunks.append(encode(value))
            except ValueError as exc:
                self.fail(event, exc)
                continue
            kept.append(event)
        return chunks, kept

    def _consume_templated(self, events: list) -> None:
        """The lines of *events* sorted by the file their path renders to; one write per file."""
        render = self._dated_render()
        files: dict[str, list] = {}
        for event in events:
            try:
                path = render(event)
            except ValueError as exc:  # a field the path names is missing (TemplateError)
                self.bad_paths += 1
                self.fail(event, exc)
                continue
            found = files.get(path)
            if found is None:
                if not path or "\0" in path or ".." in path.split("/"):
                    self.bad_paths += 1
                    self.fail(event, ValueError(f"path {path!r}: empty, or with a '..' part or a NUL"))
                    continue
                found = files[path] = []
            found.append(event)
        for path, grouped in files.items():
            values, kept = self._values(grouped)
            if values:
                chunks, kept = self._encoded(values, kept)
                if chunks:
                    self._write(path, chunks, kept)

    def _dated(self, path: str) -> str:
        """*path* with its strftime codes (``%Y-%m-%d``) filled in from the time now, in UTC."""
        if not self._timed:
            return path
        dated = time.strftime(path, time.gmtime())
        if dated != self._last_dated:  # a new day (hour...): yesterday's file is done with
            if self._last_dated is not None:
                for open_path in list(self._files):
                    self._drop(open_path)
            self._last_dated = dated
            self._render = compile_template(dated, "strict").render
        return dated

    def _dated_render(self):
        """The render function of the path template with today's strftime codes filled in."""
        if self._timed:
            self._dated(self.path)
        return self._render

    def _write(self, path: str, chunks: list, events: list) -> None:
        """Append *chunks* (the lines of *events*) to *path* in one write; on an error, fail *events*."""
        data = b"".join(chunks)
        try:
            f = self._file(path)
            view = memoryview(data)
            while view:
                n = os.write(f.fd, view)
                self.writes += 1
                view = view[n:]
            f.dirty = True
            if self.fsync == "batch":
                blocking.call(os.fsync, f.fd)  # in gevent's threadpool: the hub runs on meanwhile
                self.fsyncs += 1
                f.dirty = False
        except OSError as exc:
            self.write_errors += 1
            self._healthy = False
            self._trouble.warning("Writing %d line(s) to %s failed (%s): sent to 'failed'.", len(events), path, exc)
            self._drop(path)
            for event in events:
                self.fail(event, exc)
            return
        self._healthy = True
        self.lines += len(events)
        self.bytes += len(data)

    def _file(self, path: str) -> _Open:
        """The open file for *path*: opened (and its directories made) when needed, reopened
        when the path names another inode (checked at most every check_interval seconds)."""
        f = self._files.pop(path, None)
        if f is not None:
            self._files[path] = f  # last in the order: the most recently written
            now = time.monotonic()
            if now - f.checked < self.check_interval:
                return f
            f.checked = now
            try:
                st = os.stat(path)
                if st.st_ino == f.ino and st.st_dev == f.dev:
                    return f
            except FileNotFoundError:
                pass
            self.log.info("%s was moved away or deleted: reopening it.", path)
            self._drop(path)
            self.reopens += 1
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        f = _Open(fd, os.fstat(fd))
        while len(self._files) >= self.max_files:  # the least recently written goes first
            self._drop(next(iter(self._files)))
        self._files[path] = f
        return f

    def _drop(self, path: str) -> None:
        f = self._files.pop(path, None)
        if f is not None:
            if self.fsync != "none" and f.dirty:
                self._sync(f)
            try:
                os.close(f.fd)
            except OSError:
                pass

    # ------------------------------------------------------------------ fsync "interval"
    def _sync(self, f: _Open) -> None:
        try:
            blocking.call(os.fsync, f.fd)
            self.fsyncs += 1
            f.dirty = False
        except OSError as exc:
            self._trouble.warning("fsync of %s failed (%s).", self.path, exc)

    def _syncer(self) -> None:
        while not self._stopping.wait(self.fsync_interval):
            for f in list(self._files.values()):
                if f.dirty:
                    self._sync(f)
