"""The ``tcp_out`` output: one connection kept up with backoff, one ``sendall`` per batch."""

from __future__ import annotations

import socket
import ssl
import time
from typing import Any, Literal

import gevent
import gevent.event
import gevent.socket
from wishbone import Output, codec, framing
from wishbone.ack import mark_abandoned
from wishbone.log import RateLimitedLog
from wishbone.reconnect import Backoff

from wb_tcp.tls import client_context

__all__ = ["TCPOut"]

#: Seconds before the stop deadline at which a batch that still cannot be written is abandoned.
STOP_MARGIN = 0.5
#: How often the connection keeper looks whether the peer closed the connection.
PEER_CHECK = 0.5


class TCPOut(Output):
    """Writes each event's data as one frame to a TCP server; reconnects with backoff.

    A background greenlet keeps one connection up: it connects (optionally with TLS), and
    after a failure waits before the next attempt, each wait twice the last (from
    ``reconnect_initial`` to ``reconnect_max`` seconds, jittered). Each inbox batch is framed
    (``framing``) into one buffer and written with one ``sendall``. While there is no
    connection the batch is kept and the output waits, so the pipeline backs up to its
    inputs: nothing is dropped that was not written. A write that fails (the server went
    away) keeps the whole batch, which is written again, whole, on the next connection.
    Before each write the output looks whether the server closed the connection (reads what
    it may have sent and discards it), so a batch is not written into a dead connection.

    Data is encoded by ``encode``, a codec of :mod:`wishbone.codec` that makes one frame of
    one value: "raw" writes bytes as they are, text as UTF-8 and any other data as JSON;
    "text", "json" and "msgpack" as those codecs do (the framing adds the frame's end, so the
    line codecs are not offered). An event whose data cannot be encoded, or framed (a
    newline inside it with newline framing), goes to ``failed``.

    Delivery: what ``sendall`` handed to the kernel counts as written; TCP has no
    application acknowledgement, so what the server's process loses after that is lost
    (at most once past the kernel). A batch whose write broke off is written again whole,
    so the server may receive that batch's first frames twice (at least once for the batch
    being written when a connection breaks). At a stop, batches still unwritten when the
    stop deadline is near (the server is down) are abandoned, not failed: a tracked input
    (AMQP, a file with checkpoints) delivers them again on its next run; from an untracked
    one they are lost, counted in ``abandoned`` and logged.

    Parameters:
        port (int): the server's TCP port.
        host (str): the server's host name or address (default "127.0.0.1").
        framing (str): "newline" (default), "octet_counting" (RFC 6587) or "length_prefix"
            (4-byte big-endian length).
        encode (str): "raw" (default), "text", "json" or "msgpack", see above.
        connect_timeout (float): seconds a connection attempt (with its TLS handshake) may take (default 5).
        write_timeout (float): seconds a write may stay blocked (the server reads nothing) before
            the connection is taken as lost and the batch written again on a new one (default 60).
        reconnect_initial (float): seconds before the first reconnection attempt (default 0.1).
        reconnect_max (float): longest wait between attempts (default 30).
        tls (bool): connect with TLS (default False).
        tls_ca (str): PEM file of the CAs the server's certificate is checked against ("" : the system's).
        tls_verify (bool): check the server's certificate and name (default True).
        tls_server_name (str): the name the certificate must hold ("": host).
        tls_cert (str): PEM client certificate to present ("" : none).
        tls_key (str): its PEM private key ("" when in tls_cert).

    Queues:
        inbox: events to write.
        failed: events whose data cannot be framed or encoded.

    Metrics:
        sent: frames written.  batches: writes.  connects: connections made.
        connect_failures: attempts that failed.  write_failures: writes that failed (batch kept).
        abandoned: events left unwritten at a stop.
    """

    def __init__(
        self,
        port: int,
        host: str = "127.0.0.1",
        framing: Literal["newline", "octet_counting", "length_prefix"] = "newline",
        encode: str = "raw",
        connect_timeout: float = 5.0,
        write_timeout: float = 60.0,
        reconnect_initial: float = 0.1,
        reconnect_max: float = 30.0,
        tls: bool = False,
        tls_ca: str = "",
        tls_verify: bool = True,
        tls_server_name: str = "",
        tls_cert: str = "",
        tls_key: str = "",
    ) -> None:
        if not 1 <= port <= 65535:
            raise ValueError(f"port must be 1..65535, got {port}")
        if not host:
            raise ValueError("host must not be empty")
        if framing not in ("newline", "octet_counting", "length_prefix"):
            raise ValueError(f"framing must be newline, octet_counting or length_prefix, got {framing!r}")
        try:
            found = codec.get(encode)
        except ValueError as exc:  # names the codecs; the bootstrap adds the JSON path
            raise ValueError(f"encode: {exc}") from None
        if found.framed:
            raise ValueError(
                f"encode: {encode} ends each value with a newline itself; the framing does: use raw, text or json"
            )
        self._codec = found
        for name, value in (("connect_timeout", connect_timeout), ("write_timeout", write_timeout)):
            if value <= 0:
                raise ValueError(f"{name} must be more than 0 s, got {value}")
        if not 0 < reconnect_initial <= reconnect_max:
            raise ValueError(
                f"need 0 < reconnect_initial <= reconnect_max, got {reconnect_initial} and {reconnect_max}"
            )
        if (tls_ca or tls_cert or tls_key or tls_server_name) and not tls:
            raise ValueError("tls_ca, tls_cert, tls_key and tls_server_name need tls: true")
        self.port = port
        self.host = host
        self.framing = framing
        self.encode = encode
        self.connect_timeout = connect_timeout
        self.write_timeout = write_timeout
        self.reconnect_initial = reconnect_initial
        self.reconnect_max = reconnect_max
        self.tls = tls
        self.tls_ca = tls_ca
        self.tls_verify = tls_verify
        self.tls_server_name = tls_server_name
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.counters = dict.fromkeys(
            ("sent", "batches", "connects", "connect_failures", "write_failures", "abandoned"), 0
        )
        self._sock: Any = None
        self._writing = False
        self._context: ssl.SSLContext | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def ready(self) -> bool:
        """True while connected."""
        return self._sock is not None

    def on_start(self) -> None:
        self._bad = RateLimitedLog(self.log)
        self._encode_frames = framing.encoder(self.framing)
        if self.tls:
            try:
                self._context = client_context(self.tls_ca, self.tls_verify, self.tls_cert, self.tls_key)
            except (OSError, ssl.SSLError) as exc:
                raise OSError(f"cannot load the TLS CAs or client certificate: {exc}") from None
        self._connected = gevent.event.Event()
        self._lost = gevent.event.Event()  # set when a writer drops the connection: reconnect now
        self._closing = gevent.event.Event()
        self.spawn(self._keep_connected)

    def on_stop(self) -> None:
        self._closing.set()
        self._drop_connection(None)

    def metrics(self) -> dict:
        return dict(self.counters)

    # ------------------------------------------------------------------ the connection
    def _connect(self) -> Any:
        sock = gevent.socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._context is not None:
                sock = self._context.wrap_socket(sock, server_hostname=self.tls_server_name or self.host)
            sock.settimeout(self.write_timeout)
        except BaseException:
            sock.close()
            raise
        return sock

    def _keep_connected(self) -> None:
        """Connect, watch the connection, reconnect with backoff; until the module stops."""
        backoff = Backoff(self.reconnect_initial, self.reconnect_max)
        closing = self._closing
        while not closing.is_set():
            if self._sock is None:
                try:
                    sock = self._connect()
                except (OSError, ssl.SSLError) as exc:
                    self.counters["connect_failures"] += 1
                    delay = backoff.next()
                    self._bad.warning(
                        "Cannot connect to tcp %s:%d: %s; next attempt in %.1f s.", self.host, self.port, exc, delay
                    )
                    closing.wait(delay)
                    continue
                if closing.is_set():
                    sock.close()
                    return
                self._sock = sock
                self.counters["connects"] += 1
                backoff.reset()
                self.log.info("Connected to tcp %s:%d%s.", self.host, self.port, " (TLS)" if self._context else "")
                self._connected.set()
            gevent.wait([closing, self._lost], timeout=PEER_CHECK, count=1)
            self._lost.clear()
            sock = self._sock
            if sock is not None and not self._writing and self._peer_closed(sock):
                self._drop_connection(sock, "the server closed the connection")

    def _peer_closed(self, sock: Any) -> bool:
        """True if the server closed *sock* (what it sent otherwise is read and discarded)."""
        try:
            sock.setblocking(False)
            try:
                while True:
                    data = sock.recv(65536)
                    if not data:
                        return True
            finally:
                if self._sock is sock:
                    sock.settimeout(self.write_timeout)
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return False
        except OSError:
            return True

    def _drop_connection(self, sock: Any, reason: str = "") -> None:
        """Close *sock* (the current connection if None); the keeper connects again."""
        current = self._sock
        if sock is None:
            sock = current
        if sock is None:
            return
        if current is sock:
            self._sock = None
            self._connected.clear()
            self._lost.set()
            if reason:
                self._bad.warning("Connection to tcp %s:%d lost: %s; reconnecting.", self.host, self.port, reason)
        try:
            sock.close()
        except OSError:
            pass

    # ------------------------------------------------------------------ writing
    def consume_batch(self, events: list) -> None:
        encode = self._codec.encode
        try:
            frames = [encode(e["data"]) for e in events]
            good = events
        except Exception:
            frames, good = self._each(events, encode)
        try:
            wire = self._encode_frames(frames)
        except framing.FrameError:
            wire, good = self._frame_each(frames, good)
        if good:
            self._write(wire, good)

    def _each(self, events: list, encode: Any) -> tuple[list, list]:
        frames, good = [], []
        for event in events:
            try:
                frames.append(encode(event["data"]))
            except Exception as exc:
                self.fail(event, exc)
                continue
            good.append(event)
        return frames, good

    def _frame_each(self, frames: list[bytes], events: list) -> tuple[bytes, list]:
        parts, good = [], []
        for frame, event in zip(frames, events, strict=True):
            try:
                parts.append(self._encode_frames([frame]))
            except framing.FrameError as exc:
                self.fail(event, exc)
                continue
            good.append(event)
        return b"".join(parts), good

    def _write(self, wire: bytes, events: list) -> None:
        """Write *wire* whole on a live connection; wait for one while there is none."""
        while True:
            sock = self._sock
            if sock is not None and not self._peer_closed(sock):
                self._writing = True  # the keeper leaves the socket alone meanwhile
                try:
                    sock.sendall(wire)
                except (OSError, ssl.SSLError) as exc:
                    self.counters["write_failures"] += 1
                    self._drop_connection(sock, f"write failed ({exc}); the batch is kept and written again")
                else:
                    self.counters["sent"] += len(events)
                    self.counters["batches"] += 1
                    return
                finally:
                    self._writing = False
            elif sock is not None:
                self._drop_connection(sock, "the server closed the connection")
            if not self.running and time.monotonic() >= self.stop_deadline - STOP_MARGIN:
                mark_abandoned(events)
                self.counters["abandoned"] += len(events)
                self.log.warning(
                    "Stopping: %d event(s) not written to tcp %s:%d (no connection); abandoned.",
                    len(events),
                    self.host,
                    self.port,
                )
                return
            self._connected.wait(0.2)
