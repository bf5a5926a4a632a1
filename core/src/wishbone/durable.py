"""Durable queues: a destination queue whose events are on disk before their sender is released.

A :class:`DurableQueue` is a :class:`~wishbone.queue.DestinationQueue` whose capacity is a
directory. Every batch put into it is appended to the active *segment* file as a checksummed
record, written (and, by the fsync policy, synced) by the queue's own writer thread, so disk
I/O never blocks the hub, only the sender. Only then is the sender released: its events, and
the delivery of any input upstream, are done with (on disk counts as delivered). The queue
hands out its own events instead, tracked (:mod:`wishbone.ack`), and a record leaves the
disk only when every copy made of it downstream has settled: the queue keeps a cursor past
the oldest settled run of records, writes it to the ``acks`` file, and deletes a segment once
the cursor has passed it. The cursor is saved at most every 0.2 s while deliveries are
outstanding (each save is a file written and renamed). After a crash (kill -9) the next start
replays every record past the cursor, in order: at least once, duplicates bounded by what was
in flight and what was delivered since the last save.

On disk, under ``<path>/<instance.queue>/worker-<N>/``::

    00000001.seg  00000002.seg ...   records: b"WB" | length (u32 BE) | crc32 (u32 BE) | payload,
                                     then zeros up to the segment's allocated size
    acks                             "<segment> <byte offset>": everything before it is settled

A record is one batch: its payload is msgpack of ``[[headers, data], ...]``, so one
checksum, one pack and one unpack serve a whole batch (damage skips that batch, counted).
Records are written one after the other, never over one another; a segment grows 1 MiB at
a time, written with zeros ahead of the records, so that a record lands in blocks already
allocated and its sync (``fdatasync``) has no file metadata to commit: on ext4 that is a
third of the latency and half the CPU of an append and ``fsync``. Zeros at a record
boundary are the end; a sealed segment is cut back to its last record. A new segment starts
at every start (never after a tail a crash may have cut) and when the active one passes
``segment_bytes``. A truncated or garbled record fails its length or checksum: it is
skipped, counted (``damaged``) and logged, the scan resynchronises at the next record, and
the queue goes on. A full disk (``max_bytes`` reached, or the file system refusing the
write) blocks the sender until delivered records free room (or drops, counted, with
``when_full: drop``); a write the disk refused is cut back, so the file never holds half a
record.

Group commit: one write is in flight at a time, and the batches of senders that arrive
meanwhile (several inputs, or a greenlet per connection of tcp_in or http_in) join the next
one: one ``pwrite`` of their records one after the other and one ``fdatasync``. When it is
done, in the hub, the next group goes to the thread first, then the chunks of this one are
recorded and its senders released in the order of their records, so the order of records is
the order of release. A sender killed while its batch waits for the next write is left out of
it; one killed while its batch is being written is not: that batch is stored and delivered
(its input may deliver it again: a duplicate, never a loss). A group that joined while a write
rolled to a new segment is checked against ``max_bytes`` again before it is written. A write
the disk refused is cut back whole and each of its senders is held (or drops) as alone.
``writes`` and ``syncs`` count them: batches per sync is ``in / 100 / syncs`` at batches of 100.
The writer is one OS thread fed by a queue, and its completions come back through one async
watcher kept for the queue's life, where gevent's threadpool makes a result object and a
watcher per call: bench/bench_durable.py runs the per-batch case both ways, and the writer
thread used less CPU per event in five turns of five and was faster in four. With one sender,
``fsync: batch`` is bound by the disk: the median pwrite + fdatasync of a record of 100 events
took 0.12 to 0.22 ms here, at most 19% to 38% of memory queues if nothing else cost anything;
the queue reached 9% to 14%. Several senders share syncs (2 batches per sync with 4 senders,
21% to 31% of memory queues) until the hub's CPU bounds them: the pack of a batch, the tracked
copies and the hand-off (the writer thread must also win the GIL from a busy hub at the start
and end of its write).

Events read back from disk are cached in memory up to ``maxsize`` events; past that they
stay on disk until the consumer reaches them, so memory is bounded whatever the backlog.
An idle durable queue costs nothing: no timer, no write, and its writer thread ends after a
second without a write (the next write starts it again).
"""

from __future__ import annotations

import collections
import operator
import os
import struct
import sys
import time
import zlib

import gevent
import gevent.event
import gevent.monkey
import msgpack
from gevent.hub import Waiter

from wishbone.ack import Delivery, TrackedEvent, mark_abandoned, mark_failed
from wishbone.log import RateLimitedLog, source_logger
from wishbone.queue import DEFAULT_BATCH_SIZE, DEFAULT_MAXSIZE, DestinationQueue

__all__ = ["FSYNC_POLICIES", "DurableQueue"]

MAGIC = b"WB"
HEADER = struct.Struct(">2sII")
#: ``batch``: synced before the sender is released (survives power loss); ``interval``:
#: synced at most every ``fsync_interval`` seconds (a power loss may lose that much; a
#: process crash loses nothing); ``none``: left to the OS (process crashes only).
FSYNC_POLICIES = ("batch", "interval", "none")
_MAX_RECORD = 64 * 1024 * 1024
_ACK_WRITE_INTERVAL = 0.2
#: A segment grows by this much at a time, written with zeros ahead of the records (see _append).
_EXTENT = 1 << 20
_ZEROS = memoryview(bytes(64 << 10))
_datasync = getattr(os, "fdatasync", os.fsync)
#: The writer thread ends after this many seconds without a write (and starts again with the next).
_WRITER_IDLE = 1.0
# The real thread, lock and queue even in a program that monkey-patched them (Wishbone does not,
# an embedding program may): patched, the "thread" would be a greenlet and its writes block the hub.
_start_thread, _allocate_lock = gevent.monkey.get_original("_thread", ["start_new_thread", "allocate_lock"])
_SimpleQueue, _Empty = gevent.monkey.get_original("queue", ["SimpleQueue", "Empty"])
#: An event as msgpack stores it: (headers, data), packed as an array of two.
_PAIR = operator.itemgetter("headers", "data")


class _Chunk:
    """One batch's records: bytes ``[start, end)`` of segment ``segment``."""

    __slots__ = ("segment", "start", "end", "count", "pending", "events")

    def __init__(self, segment: int, start: int, end: int, count: int, events: list | None) -> None:
        self.segment = segment
        self.start = start
        self.end = end
        self.count = count
        self.pending = count
        self.events = events


class _Pending:
    """One sender's record, waiting for the write that takes it; its waiter gets True once on disk."""

    __slots__ = ("buf", "kept", "waiter")

    def __init__(self, buf: bytes, kept: list) -> None:
        self.buf = buf
        self.kept = kept
        self.waiter = Waiter()


class _Writer:
    """An OS thread of the queue's own that runs its writes one at a time, in order.

    ``submit(job, args, done)`` hands ``job(*args)`` to the thread and returns; when it is done,
    ``done(True, result)`` (or ``done(False, exception)``) runs in the hub, woken by one async
    watcher kept for the queue's life. Cheaper per write than the hub's threadpool, which makes
    a result object and a watcher per call (bench/bench_durable.py compares the two), and a
    completion handled in the hub needs no greenlet of its own. The thread starts with the first write and ends after
    ``_WRITER_IDLE`` seconds without one, so an idle queue has no thread.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs = _SimpleQueue()
        self._results: collections.deque = collections.deque()
        self._mutex = _allocate_lock()
        self._running = False
        self._busy = 0
        self._watcher = gevent.get_hub().loop.async_()
        self._watcher.start(self._completed)
        self._watcher.ref = False  # an idle queue does not keep the loop alive

    def submit(self, job, args: tuple, done) -> None:
        """Run ``job(*args)`` in the thread, then ``done(ok, result)`` in the hub."""
        with self._mutex:
            if not self._running:
                _start_thread(self._run, ())  # may raise: then nothing was handed over
                self._running = True
            self._jobs.put((job, args, done))
        self._busy += 1
        self._watcher.ref = True  # a write in flight: the loop must wait for it

    def _run(self) -> None:
        jobs, results, send = self._jobs, self._results, self._watcher.send
        while True:
            try:
                job, args, done = jobs.get(timeout=_WRITER_IDLE)
            except _Empty:
                with self._mutex:
                    if jobs.empty():
                        self._running = False
                        return
                continue
            try:
                results.append((done, True, job(*args)))
            except BaseException as exc:  # whatever it is, its senders are told (none waits forever)
                results.append((done, False, exc))
            job = args = done = None  # nothing of this write kept while the thread waits
            send()

    def close(self) -> None:
        """Stop the watcher (the queue is shut down; a thread still waiting ends on its own)."""
        self._watcher.stop()
        self._watcher.close()

    def _completed(self) -> None:
        results = self._results
        while results:
            done, ok, value = results.popleft()
            self._busy -= 1
            if not self._busy:
                self._watcher.ref = False
            try:
                done(ok, value)
            except Exception:  # reported; the next results are still handed on
                gevent.get_hub().handle_error(self, *sys.exc_info())


def _settle(chunk: _Chunk, ok: bool | None) -> None:
    if ok is not None:  # abandoned (a forced stop): stays on disk, replayed at the next start
        chunk.pending = 0


def _tracked(chunk: _Chunk, plain: list) -> list:
    """*plain* events as tracked events sharing one delivery: the chunk settles when the
    last of them (and of every copy made downstream) is released."""
    delivery = Delivery(_settle, chunk)
    out = []
    for event in plain:
        tracked = TrackedEvent(event)
        tracked.delivery = delivery
        out.append(tracked)
    return out


def _array_length(data: bytes, pos: int) -> int:
    """The length of the msgpack array starting at *pos* (a record's event count)."""
    first = data[pos]
    if 0x90 <= first <= 0x9F:
        return first & 0x0F
    if first == 0xDC:
        return int.from_bytes(data[pos + 1 : pos + 3], "big")
    if first == 0xDD:
        return int.from_bytes(data[pos + 1 : pos + 5], "big")
    return 0


class DurableQueue(DestinationQueue):
    """A destination queue kept on disk; see the module documentation for the mechanism.

    Metrics: ``in``, ``out``, ``dropped``, ``size`` (events queued, on disk or in memory),
    and ``bytes`` (on disk now), ``segments``, ``damaged`` (records skipped as corrupt),
    ``replayed`` (records recovered at start), ``write_wait_ms`` (time senders waited for
    their writes to be on disk: what the fsync policy costs them, summed over senders),
    ``writes`` (writes made, each of one or several batches) and ``syncs`` (of which synced).

    :param name: ``instance.queue``.
    :param path: the directory all durable queues of this bootstrap file live under.
    :param instance: the worker's instance number (each worker has its own directory).
    :param max_bytes: disk the queue may use; full means block (or drop).
    :param maxsize: events cached in memory; more stay on disk until read.
    :param when_full: ``"block"`` or ``"drop"`` when *max_bytes* is reached.
    :param fsync: one of :data:`FSYNC_POLICIES`.
    :param fsync_interval: seconds between syncs for ``fsync: interval``.
    :param segment_bytes: size at which the active segment is sealed and a new one begun.
    """

    def __init__(
        self,
        name: str,
        path: str,
        instance: int = 0,
        max_bytes: int = 1 << 30,
        maxsize: int = DEFAULT_MAXSIZE,
        when_full: str = "block",
        batch_size: int = DEFAULT_BATCH_SIZE,
        fsync: str = "batch",
        fsync_interval: float = 1.0,
        segment_bytes: int | None = None,
    ) -> None:
        super().__init__(name, maxsize=maxsize, when_full=when_full, batch_size=batch_size)
        if fsync not in FSYNC_POLICIES:
            raise ValueError(f"fsync must be one of {', '.join(FSYNC_POLICIES)}, got {fsync!r}")
        self.directory = os.path.join(path, name, f"worker-{instance}")
        self.max_bytes = max_bytes
        self.fsync = fsync
        self.fsync_interval = fsync_interval
        self.segment_bytes = segment_bytes or max(64 << 10, min(32 << 20, max_bytes // 8))
        self.batch_size = batch_size
        self.bytes = 0
        self.damaged = 0
        self.replayed = 0
        self.write_wait = 0.0  # seconds senders waited for their writes (hand-off, write, sync)
        self.log = source_logger(f"durable:{name}")
        self._damage_log = RateLimitedLog(self.log)
        self._pool = gevent.get_hub().threadpool
        self._unread: collections.deque[_Chunk] = collections.deque()
        self._unsettled: collections.deque[_Chunk] = collections.deque()
        self._segment_sizes: dict[int, int] = {}  # bytes on disk, zeros ahead of the records included
        self._write_pos = 0  # where the next record goes in the active segment
        self._cached = 0
        self._cursor = (0, 0)
        self._written_cursor = (0, 0)
        self._last_ack_write = 0.0
        self._last_sync = 0.0
        self._saving = False
        self.writes = 0  # writes made (one pwrite each, for every record that joined it)
        self.syncs = 0  # of which synced
        self._joined: list[_Pending] = []  # records waiting for the next write
        self._no_room: list = []  # waiters of a group the disk had no room for (see _flush_next)
        self._reserved = 0  # their bytes and those of the write in flight
        self._in_flight: tuple | None = None  # the write the writer thread is doing, one at a time
        self._idle = gevent.event.Event()  # set while no write is in flight
        self._idle.set()
        self._writer = _Writer(name)
        self._pack = msgpack.Packer(use_bin_type=True).pack  # one packer reused (a hub's greenlets only)
        os.makedirs(self.directory, exist_ok=True)
        self._active = 0
        self._active_fd = -1
        self._pool.apply(self._recover)

    # ------------------------------------------------------------------ recovery (thread)
    def _segment_path(self, number: int) -> str:
        return os.path.join(self.directory, f"{number:08d}.seg")

    def _read_cursor(self) -> tuple[int, int]:
        try:
            with open(os.path.join(self.directory, "acks"), encoding="ascii") as f:
                segment, offset = f.read().split()
            return int(segment), int(offset)
        except (OSError, ValueError):
            return (0, 0)

    def _recover(self) -> None:
        """Scan the segments past the ack cursor into unread chunks (runs in the threadpool)."""
        cursor = self._read_cursor()
        numbers = sorted(int(f[:-4]) for f in os.listdir(self.directory) if f.endswith(".seg") and f[:-4].isdigit())
        for number in numbers:
            path = self._segment_path(number)
            if number < cursor[0]:
                os.unlink(path)
                continue
            size = os.path.getsize(path)
            self._segment_sizes[number] = size
            self.bytes += size
            start = cursor[1] if number == cursor[0] else 0
            with open(path, "rb") as f:
                f.seek(start)
                data = f.read()
            self._scan(number, start, data)
        self._cursor = self._written_cursor = cursor
        self._active = max(self._segment_sizes, default=0) + 1
        self._active_fd = self._open_segment(self._active)
        self._segment_sizes[self._active] = 0

    def _scan(self, segment: int, base: int, data: bytes) -> None:
        """Cut *data* (segment bytes from offset *base*) into chunks, one per valid record."""
        pos, n = 0, len(data)
        while pos < n:
            end = self._valid_record(data, pos)
            if end is None and data.count(0, pos) == n - pos:  # the zeros ahead of the records: the end
                break
            if end is None:  # garbled or cut short: count it, resynchronise at the next record
                self.damaged += 1
                pos = data.find(MAGIC, pos + 1)
                while pos != -1 and self._valid_record(data, pos) is None:
                    pos = data.find(MAGIC, pos + 1)
                if pos == -1:
                    break
                continue
            count = _array_length(data, pos + HEADER.size)
            if count:
                self._add_recovered(segment, base + pos, base + end, count)
            pos = end

    def _add_recovered(self, segment: int, start: int, end: int, count: int) -> None:
        chunk = _Chunk(segment, start, end, count, None)
        self._unread.append(chunk)
        self._unsettled.append(chunk)
        self.size += count
        self.replayed += count

    @staticmethod
    def _valid_record(data: bytes, pos: int) -> int | None:
        """The end of the record at *pos* if it is whole and its checksum holds, else None."""
        if pos + HEADER.size > len(data):
            return None
        magic, length, crc = HEADER.unpack_from(data, pos)
        end = pos + HEADER.size + length
        if magic != MAGIC or length > _MAX_RECORD or end > len(data):
            return None
        if zlib.crc32(data[pos + HEADER.size : end]) != crc:
            return None
        return end

    # ------------------------------------------------------------------ writing
    def _open_segment(self, number: int) -> int:
        """Create segment *number*, empty (thread)."""
        return os.open(self._segment_path(number), os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)

    def _growth(self, length: int) -> int:
        """The size the active segment must have to take a record of *length* bytes next."""
        size = self._segment_sizes[self._active]
        need = self._write_pos + length
        if need <= size:
            return size
        return max(need, min(size + _EXTENT, self.segment_bytes))

    @staticmethod
    def _append(fd: int, buf: bytes, pos: int, size: int, grow_to: int, sync: bool) -> None:
        """Write the record *buf* at *pos* (thread); the file grows from *size* to *grow_to* first.

        A segment grows an extent at a time, written with zeros and synced with the record
        after it, so that most records land in blocks already allocated and a sync has no
        file metadata to commit (``fdatasync``: on ext4 a third of the latency and half the
        CPU of appending and ``fsync``, see bench/bench_durable.py). The scan reads zeros at
        a record boundary as the end. On failure the file is cut back to *size* and the
        record's bytes zeroed: no file holds half a record.
        """
        try:
            at = size
            while at < grow_to:
                at += os.pwrite(fd, _ZEROS[: grow_to - at], at)
            view, at = memoryview(buf), pos
            while view:
                written = os.pwrite(fd, view, at)
                view, at = view[written:], at + written
            if sync:
                _datasync(fd)
        except OSError:
            try:
                os.ftruncate(fd, size)
                if pos < size:
                    os.pwrite(fd, bytes(min(len(buf), size - pos)), pos)
            except OSError:
                pass
            raise

    def _encode(self, batch: list) -> tuple[bytes, list, list]:
        """One record for *batch*; events msgpack cannot store are left out (and returned)."""
        try:
            payload = self._pack(list(map(_PAIR, batch)))
            kept, refused = batch, []
        except Exception:
            kept, refused = [], []
            for event in batch:
                try:
                    self._pack(_PAIR(event))
                    kept.append(event)
                except Exception:
                    refused.append(event)
            payload = self._pack(list(map(_PAIR, kept)))
        return HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload, kept, refused

    def put_batch(self, batch: list) -> None:
        """Write *batch* to disk, then release the sender; block (or drop) while the disk is full.

        Batches that arrive while a write is in flight join the next one (group commit): one
        pwrite of all their records and one sync, after which each of their senders goes on.
        """
        buf, kept, refused = self._encode(batch)
        if refused:
            self.dropped += len(refused)
            mark_failed(refused)
            self._damage_log.warning(
                "%s: dropped %d event(s) that cannot be stored (not msgpack-able)", self.name, len(refused)
            )
        if not kept:
            return
        while not self.closed and self._active_fd >= 0:
            growth = self._growth(self._reserved + len(buf)) - self._segment_sizes[self._active]
            full = self.bytes + growth > self.max_bytes and (self._unsettled or self._reserved)
            if not full and self._join(buf, kept):
                return
            if self.drop_when_full:  # full, or the file system refused the write
                self.dropped += len(kept)
                mark_failed(kept)
                return
            self._save_cursor()  # what was delivered since frees segments
            self._room.clear()
            self._room.wait(_ACK_WRITE_INTERVAL)
        # closed while waiting: its consumer has gone, never attempted
        self.dropped += len(kept)
        mark_abandoned(kept)

    def _join(self, buf: bytes, kept: list) -> bool:
        """Add one record to the next write and wait until it is on disk; False if the disk refused it."""
        pending = _Pending(buf, kept)
        self._joined.append(pending)
        self._reserved += len(buf)
        if self._in_flight is None:
            self._flush()
        started = time.monotonic()
        try:
            return pending.waiter.get()
        except BaseException:  # killed while waiting: a record not yet handed to the writer is left out
            if pending in self._joined:
                self._joined.remove(pending)
                self._reserved -= len(buf)
            raise
        finally:
            self.write_wait += time.monotonic() - started

    def _flush(self) -> None:
        """Hand every record that joined since the last write to the writer thread: one write, one sync."""
        group, self._joined = self._joined, []
        buf = group[0].buf if len(group) == 1 else b"".join([p.buf for p in group])
        size = self._segment_sizes[self._active]
        grow_to = self._growth(len(buf))
        now = time.monotonic()
        sync = self.fsync == "batch" or (self.fsync == "interval" and now - self._last_sync >= self.fsync_interval)
        roll = self._write_pos + len(buf) >= self.segment_bytes
        self._in_flight = (group, len(buf), size, grow_to, sync, now)
        self._idle.clear()
        args = (self._active_fd, buf, self._write_pos, size, grow_to, sync, self._active + 1 if roll else 0)
        try:
            self._writer.submit(self._write_and_roll, args, self._written)
        except Exception as exc:  # no thread to be had: its senders are told as of a refused write
            gevent.get_hub().loop.run_callback(self._written, False, exc)

    def _write_and_roll(self, fd: int, buf: bytes, pos: int, size: int, grow_to: int, sync: bool, roll: int) -> int:
        """Append the records (thread); then, if *roll*, open segment *roll* and seal this one.
        Returns the new segment's descriptor, or -1 (no roll: the active segment goes on)."""
        self._append(fd, buf, pos, size, grow_to, sync)
        if not roll:
            return -1
        try:
            new = self._open_segment(roll)
        except OSError:
            return -1  # the active segment grows on past segment_bytes; the next write tries again
        self._seal(fd, pos + len(buf), self.fsync != "none")
        return new

    def _written(self, ok: bool, value) -> None:
        """The write of a group is done (in the hub): start the next, record its chunks, release its senders."""
        group, length, size, grow_to, sync, started = self._in_flight
        self._in_flight = None
        self._reserved -= length
        try:
            self._account(group, ok, value, length, size, grow_to, sync, started)
        finally:  # whatever happened, no sender is left waiting
            if self._in_flight is None:
                self._idle.set()
            waiters = [pending.waiter for pending in group]
            del group  # the senders' events: released with their senders, not held by this frame
            for waiter in waiters:
                waiter.switch(ok)  # runs the sender until it yields, then the next
            no_room, self._no_room = self._no_room, []
            for waiter in no_room:  # joined, but no room after all: they wait for room (or drop)
                waiter.switch(False)

    def _account(self, group: list, ok: bool, value, length: int, size: int, grow_to: int, sync: bool, started: float):
        """Count a write done: the segment's size and position, a roll, then the next group and the chunks."""
        if ok:
            self.writes += 1
            if sync:
                self.syncs += 1
                self._last_sync = started
            segment, pos = self._active, self._write_pos
            self._segment_sizes[segment] = grow_to
            self.bytes += grow_to - size
            self._write_pos = pos + length
            if value >= 0:
                self._sealed()
                self._active += 1
                self._active_fd = value
                self._segment_sizes[self._active] = 0
                self._write_pos = 0
            self._flush_next()  # the disk gets the next group first
            self._record(group, segment, pos)
            self._not_empty.set()
        else:
            self._damage_log.warning("%s: the disk refused a write (%s); holding the sender", self.name, value)
            self._flush_next()

    def _flush_next(self) -> None:
        """The group that joined meanwhile to the writer, if the disk has room for it now.

        Its senders checked ``max_bytes`` against the segment as it was; if the write just done
        rolled to a new segment, this one must grow by an extent first. Without room the group is
        not written: its senders are told so after this write's (``_no_room``) and wait for room,
        or drop, as a sender that found the queue full.
        """
        if not self._joined:
            return
        length = sum(len(pending.buf) for pending in self._joined)
        if self.bytes + self._growth(length) - self._segment_sizes[self._active] > self.max_bytes:
            self._no_room.extend(pending.waiter for pending in self._joined)
            self._joined = []
            self._reserved -= length
            return
        self._flush()

    def _record(self, group: list, segment: int, pos: int) -> None:
        """The chunks of a group just written at *pos* of *segment*, in order, tracked and cached
        while memory allows."""
        for pending in group:
            kept = pending.kept
            n = len(kept)
            end = pos + len(pending.buf)
            chunk = _Chunk(segment, pos, end, n, None)
            if self._cached + n <= self.maxsize:
                chunk.events = _tracked(chunk, kept)
                self._cached += n
            self._unread.append(chunk)
            self._unsettled.append(chunk)
            self.received += n
            self.size += n
            pos = end

    @staticmethod
    def _seal(fd: int, end: int, sync: bool) -> None:
        """Cut the zeros after *end* off a segment, sync it (but for ``fsync: none``), close it (thread)."""
        try:
            os.ftruncate(fd, end)
            if sync:
                os.fsync(fd)
        except OSError:
            pass  # the zeros stay: the scan reads them as the end
        finally:
            os.close(fd)

    def _sealed(self) -> None:
        size = self._segment_sizes.get(self._active, 0)
        if size > self._write_pos:
            self._segment_sizes[self._active] = self._write_pos
            self.bytes -= size - self._write_pos

    # ------------------------------------------------------------------ reading
    def _read_chunk(self, chunk: _Chunk) -> list:
        """Read *chunk*'s record back from disk (thread): its ``[headers, data]`` pairs, or [] if
        the record is damaged. Pairs, not events: the pool's worker keeps what it returned until
        its next task, and an event it kept would hold the chunk's delivery."""
        fd = os.open(self._segment_path(chunk.segment), os.O_RDONLY | os.O_CLOEXEC)
        try:
            data = os.pread(fd, chunk.end - chunk.start, chunk.start)
        finally:
            os.close(fd)
        if self._valid_record(data, 0) is None:
            return []
        return msgpack.unpackb(memoryview(data)[HEADER.size :], raw=False)

    def get_batch(self) -> list | None:
        """The next batch (from memory or read back from disk); None once closed and empty."""
        unread = self._unread
        while not unread:
            if self.closed:
                return None
            # while deliveries are outstanding, save the cursor every _ACK_WRITE_INTERVAL (not at
            # every empty moment: each save is a file written and renamed); idle costs nothing
            due = None
            if self._unsettled or self._cursor != self._written_cursor:
                due = self._last_ack_write + _ACK_WRITE_INTERVAL - time.monotonic()
                if due <= 0 and not self._saving:
                    self._save_cursor()  # yields to the threadpool: a batch may arrive meanwhile
                    continue
                due = max(due, _ACK_WRITE_INTERVAL / 10)  # a sender is saving: wait, don't spin
            self._not_empty.clear()
            self._not_empty.wait(due)
        chunk = unread.popleft()
        if chunk.events is not None:
            events, chunk.events = chunk.events, None
            self._cached -= chunk.count
        else:
            try:
                pairs = self._pool.apply(self._read_chunk, (chunk,))
                events = [TrackedEvent(headers=h, data=d) for h, d in pairs]
            except (OSError, TypeError, ValueError, msgpack.UnpackException) as exc:
                self._damage_log.warning("%s: a chunk could not be read back (%s): skipped", self.name, exc)
                events = []
            if len(events) < chunk.count:
                self.damaged += 1
                chunk.pending = 0
            delivery = Delivery(_settle, chunk)
            for event in events:
                event.delivery = delivery
        self.taken += chunk.count
        self.size -= chunk.count
        if time.monotonic() - self._last_ack_write >= _ACK_WRITE_INTERVAL:
            self._save_cursor()
        return events

    # ------------------------------------------------------------------ settling
    def _cursor_now(self) -> tuple[int, int]:
        """Advance past every settled chunk at the head; the position of the first unsettled."""
        unsettled = self._unsettled
        while unsettled and unsettled[0].pending <= 0:
            done = unsettled.popleft()
            self._cursor = (done.segment, done.end)
        if unsettled:
            head = unsettled[0]
            if head.segment != self._cursor[0]:
                self._cursor = (head.segment, head.start)
        else:  # everything written is settled
            self._cursor = (self._active, self._write_pos)
        return self._cursor

    def _save_cursor(self) -> None:
        """Persist the cursor and delete the segments it has passed (from a greenlet, not a settle).

        The sender (waiting for room) and the consumer both save; one at a time, the other skips:
        the write yields to the threadpool, and both would delete the same segments.
        """
        if self._saving:
            return
        self._saving = True
        try:
            self._save_cursor_now()
        finally:
            self._saving = False

    def _save_cursor_now(self) -> None:
        cursor = self._cursor_now()
        self._last_ack_write = time.monotonic()
        if cursor == self._written_cursor:
            return
        passed = [n for n in self._segment_sizes if n < cursor[0]]
        try:
            self._pool.apply(self._write_cursor, (cursor, passed))
        except OSError as exc:
            self._damage_log.warning("%s: could not save the ack cursor (%s)", self.name, exc)
            return
        self._written_cursor = cursor
        for number in passed:
            self.bytes -= self._segment_sizes.pop(number, 0)
        if passed:
            self._room.set()

    def _write_cursor(self, cursor: tuple[int, int], passed: list[int]) -> None:
        path = os.path.join(self.directory, "acks")
        tmp = path + ".tmp"
        with open(tmp, "w", encoding="ascii") as f:
            f.write(f"{cursor[0]} {cursor[1]}\n")
            if self.fsync != "none":
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
        for number in passed:
            try:
                os.unlink(self._segment_path(number))
            except FileNotFoundError:
                pass

    # ------------------------------------------------------------------ lifecycle
    def discard(self) -> int:
        """A forced stop: what is queued stays on disk for the next start; nothing is lost."""
        self._unread.clear()
        self._cached = 0
        self._room.set()
        return 0

    def shutdown(self) -> None:
        """After the module stopped: save the cursor (outputs have settled by now) and close."""
        self._idle.wait()  # a write in flight (of a sender killed at a forced stop) finishes first
        self._save_cursor()
        if self._active_fd >= 0:
            fd, self._active_fd = self._active_fd, -1
            self._pool.apply(self._seal, (fd, self._write_pos, self.fsync != "none"))
            self._sealed()
            self._writer.close()

    def metrics(self) -> dict:
        """This queue's counters, and what is on disk."""
        return {
            **super().metrics(),
            "bytes": self.bytes,
            "segments": len(self._segment_sizes),
            "damaged": self.damaged,
            "replayed": self.replayed,
            "write_wait_ms": int(self.write_wait * 1000),
            "writes": self.writes,
            "syncs": self.syncs,
        }
