"""The ``tcp_in`` input: a gevent StreamServer, one greenlet per connection, frames in batches."""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable
from typing import Any, Literal

import gevent
import gevent.event
import gevent.pool
import gevent.server
import gevent.socket
from wishbone import Input, codec, framing
from wishbone.event import error_record
from wishbone.log import RateLimitedLog

from wb_tcp.tls import CLIENT_AUTH, server_context

__all__ = ["TCPIn"]

#: Seconds a stop spends reading what the kernel already holds for each connection.
FINAL_DRAIN = 1.0
#: Seconds a stop waits for the connections' greenlets after that, before killing them.
STOP_GRACE = 2.0
BACKLOG = 1024


class _Idle(Exception):
    """No whole frame within idle_timeout."""


class _Stopping(Exception):
    """Intake stops: a waiting reader wakes to read what is left and close."""


_WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError)


class TCPIn(Input):
    """A TCP server: one event per frame, many connections at once, optional TLS.

    A gevent ``StreamServer`` accepts connections; each has a greenlet that reads what the
    socket holds (up to ``read_size`` bytes at a time), cuts it into frames (``framing``),
    decodes each frame (``decode``) and hands the events of that read on at once. When the
    pipeline is full, handing on blocks that greenlet, so it stops reading: the kernel's
    buffers fill and TCP's flow control slows the sender down. Nothing is buffered without
    bound: a connection holds at most ``max_frame`` bytes plus one read.

    Each frame becomes ``{"headers": {"tcp": {"peer": [host, port]}}, "data": ...}``; with TLS
    client certificates the headers also hold ``tcp.tls.subject`` (the certificate's subject,
    ``"CN=client,O=Example"``).

    Bad input never stops the server: a frame longer than ``max_frame``, a bad octet count,
    a frame cut short by the end of the connection, or a frame that does not decode goes to
    ``failed`` (data: the frame's bytes, at most ``max_frame`` of them; ``headers.error``: why),
    counted, logged at a bounded rate; the connection reads on from the next frame. A
    connection that sends no whole frame for ``idle_timeout`` seconds (one that never sends,
    or a slow-loris client dribbling bytes) is closed. A TLS handshake that fails (plain text
    sent to a TLS port, a bad or missing client certificate) closes that connection, counted.
    Connections beyond ``max_connections`` are closed at once, counted.

    Delivery: at most once. TCP acknowledges bytes to the sender when this host's kernel
    has them, before the pipeline has; what has been read is handed on, and a kill loses
    what the process and the kernel's buffers hold. At a stop, the server stops accepting,
    reads for up to 1 s what each connection's kernel buffer already holds, hands it on,
    and closes the connections.

    Parameters:
        port (int): TCP port to listen on; 0 picks a free one (logged, and in ``self.port``).
        address (str): address to bind (default "127.0.0.1"; "0.0.0.0" or "::" must be asked for).
        framing (str): "newline" (default), "octet_counting" (RFC 6587) or "length_prefix"
            (4-byte big-endian length).
        max_frame (int): longest frame accepted, in bytes (default 1048576); longer ones go to failed.
        decode (str): a codec of wishbone.codec per frame: "text" (UTF-8, the default), "raw" (bytes),
            "json", "msgpack"; "lines" / "json_lines" make one event per line of a frame.
        idle_timeout (float): seconds a connection may go without sending a whole frame before it
            is closed (default 300; 0: never).
        max_connections (int): connections open at once (default 1024); more are closed at once.
        read_size (int): bytes read from a connection at once (default 65536).
        tls_cert (str): PEM certificate (chain) file; TLS is on when it is set (default "": plain TCP).
        tls_key (str): PEM private key file ("" when the key is in tls_cert).
        tls_ca (str): PEM file of the CAs that client certificates are checked against.
        tls_client_auth (str): "none" (default), "optional" or "required": client certificates.
        tls_handshake_timeout (float): seconds a TLS handshake may take (default 10).
        reuse_port (bool): bind with SO_REUSEPORT, so that ``--instances N`` workers share the
            port (default True; never with port 0).

    Queues:
        outbox: one event per frame.
        failed: frames too long, cut short, badly counted or not decoding (data: the bytes).

    Metrics:
        connections: connections accepted.  active: open now.  refused: closed for max_connections.
        frames: events handed on.  frame_errors: frames too long, cut short or badly counted.
        decode_failures: frames that did not decode.  idle_closed: connections closed by idle_timeout.
        tls_failures: TLS handshakes that failed.  bytes: bytes read.
    """

    def __init__(
        self,
        port: int,
        address: str = "127.0.0.1",
        framing: Literal["newline", "octet_counting", "length_prefix"] = "newline",
        max_frame: int = 1 << 20,
        decode: str = "text",
        idle_timeout: float = 300.0,
        max_connections: int = 1024,
        read_size: int = 65536,
        tls_cert: str = "",
        tls_key: str = "",
        tls_ca: str = "",
        tls_client_auth: Literal["none", "optional", "required"] = "none",
        tls_handshake_timeout: float = 10.0,
        reuse_port: bool = True,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0..65535, got {port}")
        if framing not in ("newline", "octet_counting", "length_prefix"):
            raise ValueError(f"framing must be newline, octet_counting or length_prefix, got {framing!r}")
        if max_frame < 1:
            raise ValueError(f"max_frame must be at least 1 byte, got {max_frame}")
        try:
            self._codec = codec.get(decode)
        except ValueError as exc:  # names the codecs; the bootstrap adds the JSON path
            raise ValueError(f"decode: {exc}") from None
        if idle_timeout < 0:
            raise ValueError(f"idle_timeout must be 0 (never) or more seconds, got {idle_timeout}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {max_connections}")
        if read_size < 1:
            raise ValueError(f"read_size must be at least 1 byte, got {read_size}")
        if tls_client_auth not in CLIENT_AUTH:
            raise ValueError(f"tls_client_auth must be none, optional or required, got {tls_client_auth!r}")
        if (tls_key or tls_ca or tls_client_auth != "none") and not tls_cert:
            raise ValueError("tls_key, tls_ca and tls_client_auth need tls_cert (TLS is on when tls_cert is set)")
        if tls_client_auth != "none" and not tls_ca:
            raise ValueError("tls_client_auth needs tls_ca: the CAs client certificates are checked against")
        if tls_handshake_timeout <= 0:
            raise ValueError(f"tls_handshake_timeout must be more than 0 s, got {tls_handshake_timeout}")
        self.port = port
        self.address = address
        self.framing = framing
        self.max_frame = max_frame
        self.decode = decode
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.read_size = read_size
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        self.tls_ca = tls_ca
        self.tls_client_auth = tls_client_auth
        self.tls_handshake_timeout = tls_handshake_timeout
        self.reuse_port = reuse_port
        self.counters = dict.fromkeys(
            ("connections", "refused", "frames", "frame_errors", "decode_failures", "idle_closed", "tls_failures"),
            0,
        )
        self.bytes = 0
        self._server: gevent.server.StreamServer | None = None
        self._waiting: dict[Any, Any] = {}  # connection greenlet -> the read watcher it waits on
        self._tls: ssl.SSLContext | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def ready(self) -> bool:
        """True while the server listens."""
        return self._server is not None and self.running

    def on_start(self) -> None:
        self._bad = RateLimitedLog(self.log)
        found = self._codec
        # raw: the frame's bytes, no call; one item per frame: decode_frame; framed codecs: a list each
        self._decode = None if found.name == "raw" else (found.decode if found.framed else found.decode_frame)
        self._each_item = found.framed
        if self.tls_cert:
            try:
                self._tls = server_context(self.tls_cert, self.tls_key, self.tls_ca, self.tls_client_auth)
            except (OSError, ssl.SSLError) as exc:
                raise OSError(f"cannot load the TLS certificate, key or CAs: {exc}") from None
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        listener = gevent.socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self.port and self.reuse_port:
                listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            listener.bind((self.address, self.port))
            listener.listen(BACKLOG)
        except OSError as exc:
            listener.close()
            raise OSError(exc.errno, f"cannot listen on tcp {self.address}:{self.port}: {exc.strerror}") from None
        self.port = listener.getsockname()[1]
        self._pool = gevent.pool.Pool()  # unbounded here: max_connections is enforced by closing
        self._stopping = gevent.event.Event()
        self._server = gevent.server.StreamServer(listener, self._connection, spawn=self._pool)
        self._server.start()
        self.log.info(
            "Listening on tcp %s:%d (%s framing%s).",
            self.address,
            self.port,
            self.framing,
            ", TLS" if self._tls else "",
        )
        self.spawn_producer(self._serve)

    def on_stop_intake(self) -> None:
        self._stopping.set()

    def metrics(self) -> dict:
        active = len(self._pool) if self._server is not None else 0
        return {**self.counters, "active": active, "bytes": self.bytes}

    def _serve(self) -> None:
        """Runs while the server accepts; at a stop, closes it and winds the connections down."""
        server = self._server
        assert server is not None
        try:
            self._stopping.wait()
        finally:
            server.close()  # no new connections
            hub = gevent.get_hub()
            for watcher in list(self._waiting.values()):
                if watcher.callback is not None:  # waiting to read: wake it to read what is left
                    hub.cancel_wait(watcher, _Stopping())
            self._pool.join(timeout=FINAL_DRAIN + STOP_GRACE)
            self._pool.kill(timeout=1.0)  # handshakes still going, a pipeline that did not take the last read

    # ------------------------------------------------------------------ one connection
    def _connection(self, sock: gevent.socket.socket, address: tuple) -> None:
        """The greenlet of one connection: handshake (TLS), read, frame, decode, hand on; close."""
        counters = self.counters
        if not self.running or len(self._pool) > self.max_connections:
            counters["refused"] += 1
            self._bad.warning("Connection from %s refused: %d connections open.", address[:2], len(self._pool) - 1)
            sock.close()
            return
        counters["connections"] += 1
        headers: dict = {"peer": [address[0], address[1]]}
        stream = sock
        try:
            if self._tls is not None:
                stream = self._handshake(sock, address, headers)
                if stream is None:
                    return
            self._read(stream, address, headers)
        except Exception as exc:  # a reset, a TLS error mid-stream: this connection ends, the server goes on
            self._bad.warning("Connection from %s ended: %s: %s", address[:2], type(exc).__name__, exc)
        finally:
            (stream or sock).close()

    def _handshake(self, sock: gevent.socket.socket, address: tuple, headers: dict) -> Any:
        """The TLS socket over *sock*, or None (counted, logged) when the handshake fails."""
        assert self._tls is not None
        tls = None
        try:
            # the TLS socket takes *sock*'s descriptor over: from here on it is the one to close
            tls = self._tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            tls.settimeout(self.tls_handshake_timeout)
            tls.do_handshake()
        except (OSError, ssl.SSLError) as exc:  # plain text, a bad certificate, a timeout, a reset
            self.counters["tls_failures"] += 1
            self._bad.warning("TLS handshake with %s failed: %s", address[:2], exc)
            (tls or sock).close()
            return None
        cert = tls.getpeercert()
        if cert:
            subject = ",".join(f"{k}={v}" for rdn in cert.get("subject", ()) for k, v in rdn)
            headers["tls"] = {"subject": subject}
        return tls

    def _read(self, sock: Any, address: tuple, conn_headers: dict) -> None:
        sock.setblocking(False)
        decoder = framing.decoder(self.framing, self.max_frame)
        feed = decoder.feed
        recv = sock.recv
        read_size = self.read_size
        idle = self.idle_timeout or None
        watcher = gevent.get_hub().loop.io(sock.fileno(), 1)
        current = gevent.getcurrent()
        wait = gevent.socket.wait
        monotonic = time.monotonic
        deadline = monotonic() + idle if idle else None
        drain_until = None
        hand_on = self._hand_on
        try:
            while True:
                try:
                    chunk = recv(read_size)
                except _WOULD_BLOCK:
                    if not self.running:
                        return
                    self._waiting[current] = watcher
                    try:
                        wait(watcher, None if deadline is None else max(0.0, deadline - monotonic()), _Idle())
                    except _Idle:
                        self.counters["idle_closed"] += 1
                        self._bad.warning(
                            "Connection from %s closed: no whole frame for %s s.", address[:2], self.idle_timeout
                        )
                        return
                    except _Stopping:
                        pass
                    finally:
                        self._waiting.pop(current, None)
                    continue
                if not chunk:  # the peer closed: what is left is a last frame, or cut short
                    hand_on(decoder.end(), decoder, conn_headers)
                    return
                self.bytes += len(chunk)
                if hand_on(feed(chunk), decoder, conn_headers) and deadline is not None:
                    deadline = monotonic() + idle  # type: ignore[operator]
                if not self.running:  # stopping: read what the kernel holds, for a bounded time
                    if drain_until is None:
                        drain_until = monotonic() + FINAL_DRAIN
                    elif monotonic() > drain_until:
                        return
        finally:
            self._waiting.pop(current, None)
            watcher.close()

    def _hand_on(self, frames: list[bytes], decoder: framing.Decoder, conn_headers: dict) -> bool:
        """Decode *frames* into events and emit them (blocks on backpressure); True if any frame came."""
        peer = conn_headers["peer"]
        decode = self._decode
        events: list[dict] = []
        failed: list[dict] = []
        if frames:
            tls = conn_headers.get("tls")
            if tls is None and decode is None:
                events = [{"headers": {"tcp": {"peer": [peer[0], peer[1]]}}, "data": f} for f in frames]
            elif tls is None and not self._each_item:
                try:
                    events = [{"headers": {"tcp": {"peer": [peer[0], peer[1]]}}, "data": decode(f)} for f in frames]
                except Exception:
                    events, failed = self._decode_each(frames, decode, conn_headers)
            else:
                events, failed = self._decode_each(frames, decode, conn_headers)
            self.counters["frames"] += len(events)
            batch_size = self.batch_size
            for start in range(0, len(events), batch_size):
                self.emit_batch(events[start : start + batch_size])
        if decoder.errors:
            errors = decoder.take_errors()
            self.counters["frame_errors"] += len(errors)
            failed[:0] = [self._failure(conn_headers, e.head, e) for e in errors]
        if failed:
            self._hand_on_failed(failed, peer)
        return bool(frames)

    def _decode_each(self, frames: list[bytes], decode: Callable | None, conn_headers: dict) -> tuple[list, list]:
        """The slow path: frame by frame, so that one bad frame fails alone."""
        events, failed = [], []
        peer = conn_headers["peer"]
        tls = conn_headers.get("tls")
        each_item = self._each_item
        for frame in frames:
            try:
                data = frame if decode is None else decode(frame)
            except Exception as exc:  # any decoder error: this frame fails, the connection reads on
                self.counters["decode_failures"] += 1
                failed.append(self._failure(conn_headers, frame, exc))
                continue
            for item in data if each_item else (data,):
                tcp: dict = {"peer": [peer[0], peer[1]]}
                if tls is not None:
                    tcp["tls"] = dict(tls)
                events.append({"headers": {"tcp": tcp}, "data": item})
        return events, failed

    def _failure(self, conn_headers: dict, data: bytes, exc: Exception) -> dict:
        exc.__traceback__ = None
        peer = conn_headers["peer"]
        return {"headers": {"tcp": {"peer": [peer[0], peer[1]]}, "error": error_record(self.name, exc)}, "data": data}

    def _hand_on_failed(self, failed: list[dict], peer: list) -> None:
        self._bad.warning(
            "%d frame(s) from %s not accepted, %s; e.g.: %s",
            len(failed),
            peer,
            "sent to failed" if self.is_routed("failed") else "dropped: 'failed' is not routed",
            failed[0]["headers"]["error"]["message"][:200],
        )
        batch_size = self.batch_size
        for start in range(0, len(failed), batch_size):
            self.emit_batch(failed[start : start + batch_size], "failed")
