"""The ``file_in`` input: tails files by path or glob, at least once, with a checkpoint.

One producer greenlet reads every matched file in chunks of 64 KiB and yields to the hub
after each chunk; when every file is at its end it sleeps ``poll_interval`` seconds (a
poll: no inotify). Every ``glob_interval`` seconds it matches the patterns again: new files
are picked up, a file whose path now names another inode (rotation by rename) or no file
at all (deleted) is read to its end and then closed, a file that shrank below the read
position (copytruncate) is read again from its start.

Files are known by device and inode, plus a fingerprint of their first 256 bytes (an
inode the file system reused for another file does not resume at the old offset). Every
event is tracked: the lines of one chunk form a *batch*, one tracked event split into one
event per line (:func:`wishbone.ack.split`), settled once the last of them is done. The
checkpoint of a file advances to the end of the last batch that is settled together with
every batch before it, and is written
atomically (temporary file, fsync in gevent's threadpool, rename) every
``checkpoint_interval`` seconds and at stop: a kill -9 and a restart lose nothing and read
again at most what was in flight.
"""

from __future__ import annotations

import collections
import errno
import fcntl
import glob
import hashlib
import json
import os
import stat
import time
from fnmatch import fnmatch
from typing import Any, Literal

import gevent
import gevent.event
from wishbone import blocking, codec
from wishbone.ack import split, track
from wishbone.event import error_record
from wishbone.log import RateLimitedLog
from wishbone.module import Input

__all__ = ["FileIn", "LineTooLong"]

#: Bytes read at once: bounds the time one read holds the hub.
CHUNK = 65536
#: Chunks read from one file before the next file's turn.
CHUNKS_PER_TURN = 16
#: The reader lets the event loop run at least this often (seconds) while it streams ...
LOOP_EVERY = 0.02
#: ... with a sleep this short, which still runs one iteration of the loop.
LOOP_TURN = 0.0001
#: Bytes at the start of a file that identify it together with its device and inode.
FINGERPRINT_BYTES = 256
CHECKPOINT_VERSION = 1


class LineTooLong(ValueError):
    """A line longer than ``max_line_bytes``: its first bytes went to ``failed``, the rest was skipped."""


class _Batch:
    """The events read from one chunk of one file; ``done`` once their delivery settled."""

    __slots__ = ("done", "end", "failed", "abandoned")

    def __init__(self, end: int) -> None:
        self.done = False
        self.end = end  # the file offset just after the last line of the batch
        self.failed = False
        self.abandoned = False


def _settle(batch: _Batch, ok: bool | None) -> None:
    """Delivery callback (any greenlet): only record."""
    batch.done = True
    if ok is None:
        batch.abandoned = True  # a forced stop cut it off: the checkpoint stays before it
    elif not ok:
        batch.failed = True


def _fingerprint(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


class _File:
    """One file being read, known by (device, inode)."""

    __slots__ = (
        "path",
        "fd",
        "key",
        "offset",
        "boundary",
        "settled",
        "pending",
        "skipping",
        "outstanding",
        "fingerprint",
        "fingerprint_bytes",
        "gone_since",
        "at_eof",
    )

    def __init__(self, path: str, fd: int, key: tuple[int, int], offset: int) -> None:
        self.path = path
        self.fd = fd
        self.key = key
        self.offset = offset  # where the next read starts
        self.boundary = offset  # just after the last newline read (or the start)
        self.settled = offset  # everything before it is delivered: the checkpoint
        self.pending = b""  # a line whose newline has not been read yet
        self.skipping = False  # inside a line that was too long, up to its newline
        self.outstanding: collections.deque[_Batch] = collections.deque()
        self.fingerprint = ""
        self.fingerprint_bytes = 0
        self.gone_since: float | None = None
        self.at_eof = False

    def restart(self) -> None:
        """Read again from the start (copytruncate): batches in flight no longer count."""
        os.lseek(self.fd, 0, os.SEEK_SET)
        self.offset = self.boundary = self.settled = 0
        self.pending = b""
        self.skipping = False
        self.outstanding = collections.deque()
        head = os.pread(self.fd, FINGERPRINT_BYTES, 0)
        self.fingerprint, self.fingerprint_bytes = _fingerprint(head), len(head)

    def advance(self) -> int:
        """Move ``settled`` over the batches settled in order; return how many had a failure."""
        failed = 0
        outstanding = self.outstanding
        while outstanding:
            batch = outstanding[0]
            if not batch.done or batch.abandoned:
                break
            outstanding.popleft()
            self.settled = batch.end
            failed += batch.failed
        return failed


class FileIn(Input):
    """Tails files by path or glob: one event per line, at least once with a checkpoint.

    Each line (``\\n`` or ``\\r\\n`` ended) becomes ``{"headers": {"file": PATH}, "data":
    <the line decoded>}``. Files are read in 64 KiB chunks with a yield to the hub
    after each; at the end of every file the reader polls every ``poll_interval`` seconds.
    The patterns are matched again every ``glob_interval`` seconds: new files are read from
    their start; a file renamed away (logrotate's default) or deleted is read to its end,
    then closed; a file truncated in place (``copytruncate``) is read again from its start.
    A path that is not a regular file (a directory) is skipped, counted and logged at a
    bounded rate. A line that does not decode, and a line longer than ``max_line_bytes``
    (its first ``max_line_bytes`` bytes; the rest is skipped, never held in memory), go to
    ``failed`` with the reason in ``headers.error``.

    Delivery: at least once with a ``checkpoint``. Every event is tracked; a file's
    checkpoint (device, inode, a fingerprint of its first bytes, offset) advances only over
    lines whose events were delivered (or sent to failed), and is written atomically every
    ``checkpoint_interval`` seconds and at stop. After a kill -9 a restart reads again at
    most what was in flight. Without a checkpoint events are not tracked and each start
    begins at ``start_at``.

    Parameters:
        paths (list[str]): files or glob patterns (``**`` matches directories recursively).
        exclude (list[str]): glob patterns of paths to leave out (default none), e.g. "*.gz".
        checkpoint (str | None): the checkpoint file (its directory is created); None keeps
            no state (default None). One file_in per checkpoint: a second is refused. With
            ``--instances N`` only instance #0 reads; in the others the input stays idle
            (mode "read": finishes at once).
        start_at (str): where a file without a checkpoint entry starts when found at
            startup: "beginning" (default) or "end". Files that appear later start at their
            beginning.
        mode (str): "tail" (default: follow the files for ever) or "read" (read every
            matched file to its end, then finish: the pipeline drains and exits 0).
        decode (str): what each line becomes, a codec of wishbone.codec: "lines" (UTF-8
            text, the default), "text", "raw" (bytes), "json" or "json_lines" (the JSON
            value; blank lines skipped), "msgpack".
        max_line_bytes (int): the longest line taken, bytes without the newline (default 102400).
        poll_interval (float): seconds between reads of a file at its end (default 0.25).
        glob_interval (float): seconds between matches of the patterns (default 1).
        checkpoint_interval (float): seconds between checkpoint writes (default 1).

    Queues:
        outbox: one event per line.
        failed: lines that did not decode or were too long (data: their bytes; headers.error: why).

    Metrics:
        lines, bytes: read.  failed_lines: lines sent to failed.  files: open now.
        rotations, truncations, deletions: seen.  not_regular: paths skipped (directories).
        read_errors, checkpoint_errors.  unsettled: batches read and not yet delivered.
        failed_batches: chunks in which an event reached a failed queue or was dropped downstream.
    """

    def __init__(
        self,
        paths: list[str],
        exclude: list[str] | None = None,
        checkpoint: str | None = None,
        start_at: Literal["beginning", "end"] = "beginning",
        mode: Literal["tail", "read"] = "tail",
        decode: str = "lines",
        max_line_bytes: int = 102400,
        poll_interval: float = 0.25,
        glob_interval: float = 1.0,
        checkpoint_interval: float = 1.0,
    ) -> None:
        if not paths or not all(isinstance(p, str) and p for p in paths):
            raise ValueError("paths must name at least one file or glob pattern")
        self._decode = codec.get(decode).decode_frame
        if max_line_bytes < 1:
            raise ValueError(f"max_line_bytes must be 1 or more, got {max_line_bytes}")
        for name, value in (
            ("poll_interval", poll_interval),
            ("glob_interval", glob_interval),
            ("checkpoint_interval", checkpoint_interval),
        ):
            if not 0 < value <= 3600:
                raise ValueError(f"{name} must be more than 0 and at most 3600 seconds, got {value}")
        self.paths = list(paths)
        self.exclude = list(exclude or [])
        self.checkpoint = checkpoint
        self.start_at = start_at
        self.mode = mode
        self.decode = decode
        self.fast_text = decode in ("lines", "text")
        self.skip_blank = decode in ("json", "json_lines")
        self.max_line_bytes = max_line_bytes
        self.poll_interval = poll_interval
        self.glob_interval = glob_interval
        self.checkpoint_interval = checkpoint_interval
        self.lines = self.bytes = self.failed_lines = 0
        self.rotations = self.truncations = self.deletions = self.not_regular = 0
        self.read_errors = self.checkpoint_errors = self.failed_batches = 0
        self._files: dict[tuple[int, int], _File] = {}
        self._reading = False
        # Without a checkpoint nothing would read the settlements: events go untracked.
        self._tracking = checkpoint is not None

    # ------------------------------------------------------------------ lifecycle
    @property
    def ready(self) -> bool:  # type: ignore[override]  # a property where Module has a plain default
        """True once started and the checkpoint (if any) is held: the files are being read."""
        return self._reading

    def on_start(self) -> None:
        """Take the checkpoint's lock, load it, start the reader and the checkpoint writer."""
        self._problems = RateLimitedLog(self.log)  # file trouble: directories, read errors
        self._bad_lines = RateLimitedLog(self.log)
        self._wake = gevent.event.Event()
        self._stopping = gevent.event.Event()
        self._saved: list | None = None  # what the checkpoint file holds now
        self._lock_fd: int | None = None
        self._entries: dict[tuple[int, int], dict] = {}
        self._skipped: dict[str, int] = {}  # non-regular paths seen at the last match
        if self.context.instance != 0:
            # Files have one reader: with --instances N, the worker of instance #0 reads them;
            # here the input stays idle (tail: as if following files that never grow) or,
            # for a one-shot read, finishes at once.
            self.log.info("Files are read by instance #0 only: nothing to read here.")
            self._reading = True
            if self.mode == "read":
                self.finish()
            return
        if self.checkpoint is not None:
            self._lock_checkpoint()
            self._entries = self._load_checkpoint()
        self._reading = True
        self.spawn_producer(self._run)
        if self.checkpoint is not None:
            self.spawn(self._checkpointer)

    def on_stop_intake(self) -> None:
        """Wake the reader so that it sees the stop at once."""
        self._wake.set()

    def on_stop(self) -> None:
        """Write the last checkpoint (everything delivered by now), close the files."""
        self._stopping.set()
        self.join_background(max(0.1, self.stop_deadline - time.monotonic() - 0.2))
        if self.checkpoint is not None and self._lock_fd is not None:
            self._write_checkpoint()
        for f in self._files.values():
            os.close(f.fd)
        self._files.clear()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self._reading = False

    def metrics(self) -> dict:
        """Lines and bytes read, files open, rotations seen, errors, batches in flight."""
        return {
            "lines": self.lines,
            "bytes": self.bytes,
            "failed_lines": self.failed_lines,
            "files": len(self._files),
            "rotations": self.rotations,
            "truncations": self.truncations,
            "deletions": self.deletions,
            "not_regular": self.not_regular,
            "read_errors": self.read_errors,
            "checkpoint_errors": self.checkpoint_errors,
            "unsettled": sum(len(f.outstanding) for f in self._files.values()),
            "failed_batches": self.failed_batches,
        }

    # ------------------------------------------------------------------ the reader
    def _run(self) -> None:
        self._match(startup=True)
        next_match = time.monotonic() + self.glob_interval
        wake = self._wake
        turned = time.monotonic()
        while self.running:
            progressed = False
            for f in list(self._files.values()):
                for _ in range(CHUNKS_PER_TURN):
                    if not self.running or f.fd < 0 or not self._read_chunk(f):
                        break
                    progressed = True
                    # A file is always readable: let the others run after every chunk.
                    # sleep(0) runs the greenlets that are ready, but while the pipeline
                    # streams it was measured to hold back the event loop itself (timers:
                    # the checkpoint writer, metrics; signal watchers) for seconds; a
                    # short real sleep runs one iteration of it, at least every LOOP_EVERY.
                    now = time.monotonic()
                    if now - turned >= LOOP_EVERY:
                        gevent.sleep(LOOP_TURN)
                        turned = now
                    else:
                        gevent.sleep(0)
            if self.mode == "read":
                if not progressed and all(f.at_eof for f in self._files.values()):
                    for f in self._files.values():
                        if f.pending and not f.skipping:  # one-shot: the last line needs no newline
                            self._hand_on(f, [f.pending], f.offset, False)
                            f.pending = b""
                    self.log.info("Read %d file(s) to their end: %d line(s).", len(self._files), self.lines)
                    self.finish()
                    return
                continue
            if time.monotonic() >= next_match:
                self._match()
                next_match = time.monotonic() + self.glob_interval
            if not progressed:
                wake.clear()
                wake.wait(self.poll_interval)

    def _read_chunk(self, f: _File) -> bool:
        """Read and hand on one chunk of *f*; False at its end (or on an error)."""
        try:
            chunk = os.read(f.fd, CHUNK)
        except OSError as exc:
            self.read_errors += 1
            self._problems.warning("Reading %s failed (%s); closing it, it is matched again later.", f.path, exc)
            self._close(f)
            return False
        if not chunk:
            f.at_eof = True
            try:
                size = os.fstat(f.fd).st_size
            except OSError:
                return False
            if size < f.offset:  # truncated in place (copytruncate): read it again from the start
                self.truncations += 1
                self.log.info(
                    "%s was truncated (%d < %d bytes read): reading it from its start.", f.path, size, f.offset
                )
                try:
                    f.restart()
                except OSError:
                    self._close(f)
                    return False
                return True
            return False
        if f.at_eof:  # new data after a pause: was the file truncated and written again meanwhile?
            f.at_eof = False
            if self._check_rewritten(f):
                return True
        n = len(chunk)
        f.offset += n
        self.bytes += n
        buf = f.pending + chunk if f.pending else chunk
        if f.skipping:
            newline = buf.find(b"\n")
            if newline < 0:
                f.pending = b""
                return True
            buf = buf[newline + 1 :]
            f.skipping = False
            f.boundary = f.offset - len(buf)
            if self._tracking:
                skipped = _Batch(f.boundary)  # nothing to deliver: the long line is behind
                skipped.done = True
                f.outstanding.append(skipped)
        end = buf.rfind(b"\n")
        if end < 0:
            complete = None
            f.pending = buf
        else:
            complete = buf[:end]
            f.pending = buf[end + 1 :]
        too_long = len(f.pending) > self.max_line_bytes
        if complete is None and not too_long:
            return True
        end_offset = f.offset - len(f.pending) if complete is not None else f.boundary
        lines = complete.split(b"\n") if complete is not None and not self.fast_text else complete
        self._hand_on(f, lines, end_offset, too_long)
        return True

    def _hand_on(self, f: _File, lines: Any, end_offset: int, too_long: bool) -> None:
        """Emit the events of one chunk as one batch that settles up to *end_offset*.

        *lines* is the bytes of complete lines joined by newlines (fast text path), a list of
        lines, or None; with *too_long*, ``f.pending`` is a line over the limit. With a
        checkpoint the chunk is one tracked event split into one event per line
        (:func:`wishbone.ack.split`): every line's event carries the chunk's delivery, which
        settles once the last of them is done, negatively if any failed.
        """
        batch = _Batch(end_offset)
        f.boundary = end_offset
        failed: list = []
        if type(lines) is bytes:
            items = self._text_items(lines, failed)
        elif lines is not None:
            items = self._decoded_items(lines, failed)
        else:
            items = []
        if too_long:
            limit = self.max_line_bytes
            exc = LineTooLong(f"line longer than {limit} bytes: the first {limit} kept, the rest skipped")
            failed.append((exc, f.pending[:limit]))
            f.pending = b""
            f.skipping = True
        path = f.path
        name = self.name
        if not self._tracking:
            events = [{"headers": {"file": path}, "data": item} for item in items]
            failed_events = [
                {"headers": {"file": path, "error": error_record(name, exc)}, "data": raw} for exc, raw in failed
            ]
        elif items or failed:
            chunk = track({"headers": {"file": path}, "data": None}, _settle, batch)
            events = split(chunk, items)
            failed_events = [
                split(chunk, [raw], {"file": path, "error": error_record(name, exc)})[0] for exc, raw in failed
            ]
            f.outstanding.append(batch)  # before the hand-off, which may yield to the consumers
            chunk = None  # the lines' events hold the delivery now
        else:
            events, failed_events = [], []
            batch.done = True
            f.outstanding.append(batch)
        self.lines += len(items) + len(failed)
        if failed:
            self.failed_lines += len(failed)
            exc = failed[-1][0]
            self._bad_lines.warning(
                "%s: lines that could not be taken went to 'failed' (%s: %s).", path, type(exc).__name__, exc
            )
            for event in failed_events:
                self.emit(event, "failed")
        self.emit_batch(events)
        if failed:
            self.flush()

    def _text_items(self, complete: bytes, failed: list) -> list:
        """The UTF-8 lines of *complete*, decoded in one go (the common case)."""
        if len(complete) > self.max_line_bytes:
            return self._decoded_items(complete.split(b"\n"), failed)
        try:
            text = complete.decode("utf-8")
        except UnicodeDecodeError:
            return self._decoded_items(complete.split(b"\n"), failed)
        lines = text.split("\n")
        if "\r" in text:
            lines = [line[:-1] if line.endswith("\r") else line for line in lines]
        return lines

    def _decoded_items(self, lines: list, failed: list) -> list:
        """*lines* decoded one by one: too long or undecodable ones into *failed*."""
        decode = self._decode
        limit = self.max_line_bytes
        skip_blank = self.skip_blank
        items = []
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            if len(line) > limit:
                failed.append((LineTooLong(f"line longer than {limit} bytes: the first {limit} kept"), line[:limit]))
                continue
            if skip_blank and not line.strip():
                continue
            try:
                items.append(decode(line))
            except ValueError as exc:
                failed.append((exc, line))
        return items

    # ------------------------------------------------------------------ finding files
    def _excluded(self, path: str) -> bool:
        return any(fnmatch(path, pattern) for pattern in self.exclude)

    def _match(self, startup: bool = False) -> None:
        """Match the patterns: open new files, notice rotated, deleted and replaced ones."""
        seen: dict[tuple[int, int], tuple[str, os.stat_result]] = {}
        skipped: dict[str, int] = {}
        for pattern in self.paths:
            for path in sorted(glob.glob(pattern, recursive=True)):
                if self.exclude and self._excluded(path):
                    continue
                try:
                    st = os.stat(path)
                except OSError:
                    continue  # gone between the match and the stat
                if not stat.S_ISREG(st.st_mode):
                    skipped[path] = st.st_ino
                    if self._skipped.get(path) != st.st_ino:
                        self.not_regular += 1
                        self._problems.warning("%s is not a regular file (a directory?): skipped.", path)
                    continue
                seen.setdefault((st.st_dev, st.st_ino), (path, st))
        self._skipped = skipped
        now = time.monotonic()
        for key, f in list(self._files.items()):
            if key in seen:
                f.path = seen[key][0]
                f.gone_since = None
                self._check_rewritten(f)
                continue
            if f.gone_since is None:  # renamed away or deleted: read it to its end first
                f.gone_since = now
                try:
                    deleted = os.fstat(f.fd).st_nlink == 0
                except OSError:
                    deleted = True
                if deleted:
                    self.deletions += 1
                else:
                    self.rotations += 1
                self.log.info("%s was %s: reading it to its end.", f.path, "deleted" if deleted else "rotated")
            elif f.at_eof and now - f.gone_since >= self.glob_interval:
                self._close(f)
        for key, (path, _) in seen.items():
            if key not in self._files:
                self._open(path, key, startup)
        if startup:
            self._entries.clear()  # files the checkpoint knew that are not there any more

    def _check_rewritten(self, f: _File) -> bool:
        """A file whose first bytes changed was truncated and written again: read it from its start.

        Also extends the fingerprint while the file is shorter than FINGERPRINT_BYTES.
        """
        try:
            head = os.pread(f.fd, FINGERPRINT_BYTES, 0)
            n = f.fingerprint_bytes
            if n and (len(head) < n or _fingerprint(head[:n]) != f.fingerprint):
                self.truncations += 1
                self.log.info("%s was truncated and written again: reading it from its start.", f.path)
                f.restart()
                return True
        except OSError:
            return False
        if len(head) > n:
            f.fingerprint, f.fingerprint_bytes = _fingerprint(head), len(head)
        return False

    def _open(self, path: str, key: tuple[int, int], startup: bool) -> None:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError as exc:
            self.read_errors += 1
            self._problems.warning("Cannot open %s (%s): tried again at the next match.", path, exc)
            return
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != key:
                os.close(fd)  # replaced between the match and the open: the next match sees it
                return
            head = os.pread(fd, FINGERPRINT_BYTES, 0)
            offset = self._start_offset(path, key, head, st.st_size, startup)
            os.lseek(fd, offset, os.SEEK_SET)
        except OSError as exc:
            os.close(fd)
            self.read_errors += 1
            self._problems.warning("Cannot read %s (%s): tried again at the next match.", path, exc)
            return
        f = _File(path, fd, key, offset)
        f.fingerprint, f.fingerprint_bytes = _fingerprint(head), len(head)
        self._files[key] = f
        self.log.info("Reading %s from offset %d.", path, offset)

    def _start_offset(self, path: str, key: tuple[int, int], head: bytes, size: int, startup: bool) -> int:
        entry = self._entries.pop(key, None)
        if entry is not None:
            n = entry.get("fingerprint_bytes", 0)
            offset = entry.get("offset", 0)
            if len(head) >= n and _fingerprint(head[:n]) == entry.get("fingerprint") and 0 <= offset <= size:
                return offset
            self.log.info("%s is not the file its checkpoint entry was made for: reading it from its start.", path)
            return 0
        if startup and self.start_at == "end":
            return size
        return 0

    def _close(self, f: _File) -> None:
        if f.fd >= 0:
            os.close(f.fd)
            f.fd = -1
        self._files.pop(f.key, None)

    # ------------------------------------------------------------------ the checkpoint
    def _lock_checkpoint(self) -> None:
        """Hold ``CHECKPOINT.lock``: two readers of one checkpoint would each repeat the other's lines."""
        assert self.checkpoint is not None
        directory = os.path.dirname(os.path.abspath(self.checkpoint))
        os.makedirs(directory, exist_ok=True)
        fd = os.open(self.checkpoint + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise RuntimeError(
                    f"checkpoint {self.checkpoint} is in use by another file_in (one reader per checkpoint: "
                    "run one instance, or give each its own checkpoint)"
                ) from None
            raise
        self._lock_fd = fd

    def _load_checkpoint(self) -> dict[tuple[int, int], dict]:
        assert self.checkpoint is not None
        try:
            with open(self.checkpoint, "rb") as fh:
                doc = json.loads(fh.read())
            files = doc["files"] if doc.get("version") == CHECKPOINT_VERSION else []
            entries = {(int(e["dev"]), int(e["ino"])): e for e in files}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            self.log.error("Checkpoint %s is unreadable (%s): starting without it.", self.checkpoint, exc)
            return {}
        self.log.info("Checkpoint %s: %d file(s).", self.checkpoint, len(entries))
        return entries

    def _checkpointer(self) -> None:
        while not self._stopping.wait(self.checkpoint_interval):
            self._write_checkpoint()

    def _write_checkpoint(self) -> None:
        """Advance every file over its settled batches and write the checkpoint if it changed."""
        assert self.checkpoint is not None
        files = []
        for f in self._files.values():
            self.failed_batches += f.advance()
            dev, ino = f.key
            files.append(
                {
                    "path": f.path,
                    "dev": dev,
                    "ino": ino,
                    "offset": f.settled,
                    "fingerprint": f.fingerprint,
                    "fingerprint_bytes": f.fingerprint_bytes,
                }
            )
        if files == self._saved:
            return
        tmp = f"{self.checkpoint}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, json.dumps({"version": CHECKPOINT_VERSION, "files": files}, indent=1).encode())
                blocking.call(os.fsync, fd)  # in gevent's threadpool: a slow disk holds this greenlet only
            finally:
                os.close(fd)
            os.replace(tmp, self.checkpoint)
        except OSError as exc:
            self.checkpoint_errors += 1
            self._problems.warning(
                "Cannot write checkpoint %s (%s): retried in %g s.", self.checkpoint, exc, self.checkpoint_interval
            )
            return
        self._saved = files
