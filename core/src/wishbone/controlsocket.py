"""A worker's control socket: ``wishbone top`` reads its snapshots, ``wishbone tap`` samples a queue.

Each worker of a server that has a pidfile listens on a unix socket beside it,
``<pidfile>.<instance>.sock`` (mode 0600: the owner only), and answers one request per
connection, a JSON line:

* ``{"cmd": "snapshot"}``: one JSON line, :meth:`~wishbone.pipeline.Pipeline.snapshot`;
* ``{"cmd": "tap", "queue": "NAME.QUEUE", "limit": N}``: JSON lines
  ``{"instance", "queue", "event"}`` of events passing that queue, until *limit* (0: until
  the client goes), then ``{"instance", "queue", "end": true, "missed": M}``.

A tap costs nothing while nobody taps: the queue's hand-off method is wrapped (an instance
attribute shadowing the class's) only while a tapper is attached, and unwrapped when the last
one leaves. While tapped, each hand-off copies at most :data:`PER_BATCH` events of the batch
(serialized on the spot, so later changes to the event do not show) into a bounded buffer of
:data:`BUFFER` lines; a slow reader makes the oldest lines go (counted as ``missed``), never the
pipeline wait: a tapper gets a sample, not every event.
"""

from __future__ import annotations

import collections
import json
import os
import socket as stdlib_socket
from typing import Any

import gevent
import gevent.event
import gevent.server
import gevent.socket

from wishbone.log import source_logger

__all__ = ["BUFFER", "PER_BATCH", "ControlServer", "socket_path"]

PER_BATCH = 8  # events copied per hand-off while tapped
BUFFER = 1000  # lines a tapper's buffer holds before the oldest go


def socket_path(pid_path: str, instance: int) -> str:
    """Where the worker *instance* of the server holding *pid_path* listens."""
    return f"{pid_path}.{instance}.sock"


class _Tap:
    """One attached tapper: a bounded buffer filled at the hand-off, emptied by its writer."""

    def __init__(self) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=BUFFER)
        self.ready = gevent.event.Event()
        self.missed = 0

    def take(self, batch: list) -> None:
        lines = self.lines
        for event in batch[:PER_BATCH]:
            if len(lines) == BUFFER:
                self.missed += 1
            lines.append(json.dumps(event, default=repr))
        self.ready.set()


class _Tapped:
    """The taps of one queue and the wrapper of its hand-off method (present only while tapped)."""

    def __init__(self, queue: Any) -> None:
        self.queue = queue
        self.taps: list[_Tap] = []
        self.method = "put_batch" if hasattr(queue, "put_batch") else "send"

    def attach(self, tap: _Tap) -> None:
        self.taps.append(tap)
        if len(self.taps) == 1:
            original = getattr(type(self.queue), self.method).__get__(self.queue)
            taps = self.taps

            def tapped(batch: list) -> None:
                for one in taps:
                    one.take(batch)
                original(batch)

            setattr(self.queue, self.method, tapped)

    def detach(self, tap: _Tap) -> None:
        self.taps.remove(tap)
        if not self.taps and self.method in vars(self.queue):
            delattr(self.queue, self.method)  # back to the class's method: no cost at all


class ControlServer:
    """The control socket of one worker's *pipeline*, at *path* (see the module doc)."""

    def __init__(self, pipeline: Any, path: str) -> None:
        self.pipeline = pipeline
        self.path = path
        self.log = source_logger(f"Instance #{pipeline.instance}")
        self.tapped: dict[int, _Tapped] = {}
        self.server: gevent.server.StreamServer | None = None

    def start(self) -> None:
        """Bind the socket (owner-only from the start: no window where others could connect)."""
        try:
            os.unlink(self.path)  # a stale one from a worker that was killed
        except FileNotFoundError:
            pass
        listener = gevent.socket.socket(stdlib_socket.AF_UNIX, stdlib_socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            listener.bind(self.path)
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        listener.listen(16)
        self.server = gevent.server.StreamServer(listener, self._handle)
        self.server.start()

    def stop(self) -> None:
        """Close the socket and remove its file; attached tappers are told the end."""
        if self.server is not None:
            self.server.stop(timeout=1.0)
            self.server = None
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    # ------------------------------------------------------------------ requests
    def _handle(self, conn: gevent.socket.socket, address: Any) -> None:
        try:
            with gevent.Timeout(5):
                request = json.loads(conn.makefile("rb").readline() or b"{}")
            if request.get("cmd") == "snapshot":
                conn.sendall(json.dumps(self.pipeline.snapshot(), default=repr).encode() + b"\n")
            elif request.get("cmd") == "tap":
                self._tap(conn, str(request.get("queue", "")), int(request.get("limit") or 0))
            else:
                self._send(conn, {"error": "expected {'cmd': 'snapshot'} or {'cmd': 'tap', 'queue': ...}"})
        except (OSError, ValueError, gevent.Timeout) as exc:
            self.log.debug("Control socket: a request failed: %s", exc)
        finally:
            conn.close()

    def _send(self, conn: gevent.socket.socket, obj: dict) -> None:
        conn.sendall(json.dumps(obj, default=repr).encode() + b"\n")

    def _queue(self, ref: str) -> Any:
        name, _, queue = ref.partition(".")
        module = self.pipeline.modules.get(name)
        if module is None:
            return None
        return module.destination_queues.get(queue) or module.source_queues.get(queue)

    def _tap(self, conn: gevent.socket.socket, ref: str, limit: int) -> None:
        queue = self._queue(ref)
        instance = self.pipeline.instance
        if queue is None:
            self._send(conn, {"instance": instance, "queue": ref, "error": f"no queue {ref!r} in this pipeline"})
            return
        tapped = self.tapped.setdefault(id(queue), _Tapped(queue))
        tap = _Tap()
        tapped.attach(tap)
        gone = gevent.spawn(self._wait_gone, conn, tap)  # the client closing ends the tap
        sent = 0
        prefix = f'{{"instance": {instance}, "queue": {json.dumps(ref)}, "event": '
        try:
            while (not limit or sent < limit) and not gone.dead:
                tap.ready.wait(1.0)
                tap.ready.clear()
                out = []
                while tap.lines and (not limit or sent < limit):
                    out.append(prefix + tap.lines.popleft() + "}\n")
                    sent += 1
                if out:
                    conn.sendall("".join(out).encode())  # blocks this greenlet only; the buffer overflows
            self._send(conn, {"instance": instance, "queue": ref, "end": True, "missed": tap.missed})
        finally:
            tapped.detach(tap)
            if not tapped.taps:
                self.tapped.pop(id(queue), None)
            gone.kill()

    @staticmethod
    def _wait_gone(conn: gevent.socket.socket, tap: _Tap) -> None:
        try:
            while conn.recv(1024):
                pass
        except OSError:
            pass
        tap.ready.set()
