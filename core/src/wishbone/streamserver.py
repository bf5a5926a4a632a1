"""A TCP server for stream inputs: many connections, optional TLS, frames handed on per read.

The connection loop that ``tcp_in`` and ``syslog_in`` (over TCP) share. A gevent
``StreamServer`` accepts; each connection has a greenlet that reads what the socket holds
(``read_size`` bytes at a time), cuts it into frames with a :mod:`wishbone.framing` decoder
and calls the input's handler once per read with the frames that read completed and the
frame errors it found::

    handle(connection, frames, errors)   # frames: list[bytes]; errors: FrameError items

The handler makes events and hands them on (``emit_batch``). When the pipeline is full that
blocks, so the greenlet stops reading: the kernel's buffers fill and TCP's flow control
slows the sender down. Nothing is buffered without bound: a connection holds at most
``max_frame`` bytes plus one read.

What the server does on its own, counted in :meth:`StreamServer.metrics` and logged at a
bounded rate:

* a connection beyond ``max_connections`` is closed at once (``refused``);
* a connection that completes no frame for ``idle_timeout`` seconds (looked at every quarter of
  it by one timer per connection, so closed within 1.25 times it; one that never sends,
  a slow-loris client dribbling bytes) is closed (``idle_closed``), and the bytes it held of a
  frame go to the handler as a :class:`~wishbone.framing.FrameError`, as at a stop: a frame the
  server cut is never dropped unseen;
* a TLS handshake that fails or takes longer than ``tls_handshake_timeout`` (plain text at a
  TLS port, a bad or missing client certificate, a silent client) closes the connection
  (``tls_failures``);
* a connection that ends in an error (a reset) ends alone; the server goes on.

Use from an input::

    def __init__(self, port, ...):
        self._streams = StreamServer(self._frames, port=port, framing="newline", ...)  # checks parameters

    def on_start(self):
        self._streams.start(self.log)         # binds; OSError "cannot listen on tcp HOST:PORT: ..."
        self.port = self._streams.port
        self.log.info("Listening on %s.", self._streams.described)
        self.spawn_producer(self._streams.serve)

    def on_stop_intake(self):
        self._streams.stop()                  # serve() then winds the connections down and returns

At a stop the server stops accepting, reads for up to :data:`FINAL_DRAIN` seconds what each
connection's kernel buffer already holds, hands it on, and closes the connections; a
connection still busy after :data:`STOP_GRACE` more seconds is killed.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Any

import gevent
import gevent.event
import gevent.pool
import gevent.server
import gevent.socket
import gevent.ssl

from wishbone import framing as framings
from wishbone.log import RateLimitedLog

__all__ = ["CLIENT_AUTH", "FINAL_DRAIN", "METRICS", "STOP_GRACE", "Connection", "StreamServer", "server_context"]

#: Seconds a stop spends reading what the kernel already holds for each connection.
FINAL_DRAIN = 1.0
#: Seconds a stop waits for the connections' greenlets after that, before killing them.
STOP_GRACE = 2.0
#: Connections the kernel queues before they are accepted.
BACKLOG = 1024
#: The counters of :meth:`StreamServer.metrics`.
METRICS = ("connections", "active", "refused", "idle_closed", "tls_failures", "bytes")
#: ``tls_client_auth`` values and what the server asks of a client's certificate.
CLIENT_AUTH = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}

_WOULD_BLOCK = (BlockingIOError, ssl.SSLWantReadError)
_NO_ERRORS: tuple = ()


class _Idle(Exception):
    """No whole frame within idle_timeout."""


class _Stopping(Exception):
    """Intake stops: a waiting reader wakes to read what is left and close."""


def server_context(cert: str, key: str = "", ca: str = "", client_auth: str = "none") -> ssl.SSLContext:
    """A server TLS context (the standard library's, through gevent.ssl), TLS 1.2 or later.

    *cert* is a PEM certificate (chain), *key* its private key ("" when it is in *cert*). With
    *client_auth* "optional" or "required", client certificates are checked against the PEM
    CAs in *ca*. Raises OSError / ssl.SSLError when a file is missing or does not hold what it should.
    """
    context = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key or None)
    context.verify_mode = CLIENT_AUTH[client_auth]
    if ca:
        context.load_verify_locations(ca)
    return context


class Connection:
    """One accepted connection, as the handler sees it.

    :attr address: the peer's address as accepted (``(host, port)``, more for IPv6).
    :attr peer: ``[host, port]``; copy it into events, it is the connection's own list.
    :attr tls: ``{"subject": "commonName=client,organizationName=Example"}`` when the client
        presented a certificate over TLS, else None.
    """

    __slots__ = ("address", "peer", "tls")

    def __init__(self, address: tuple) -> None:
        self.address = address
        self.peer = [address[0], address[1]]
        self.tls: dict | None = None


class StreamServer:
    """A TCP (or TLS) server that calls ``handle(connection, frames, errors)`` per read.

    Parameters (checked here, ValueError naming the one that is wrong):
        handle: the input's handler (see the module's docstring); it may block (backpressure).
            If it raises, that connection ends (logged), the server goes on.
        port (int): 0..65535; 0 picks a free one (``self.port`` once started).
        address (str): the address to bind; IPv6 when it holds a ":".
        framing (str): one of :data:`wishbone.framing.DECODINGS`.
        max_frame (int): the longest frame, in bytes; longer ones are frame errors.
        idle_timeout (float): seconds a connection may go without completing a frame (0: never).
        max_connections (int): connections open at once; more are closed at once.
        read_size (int): bytes read at once.
        tls_cert, tls_key, tls_ca, tls_client_auth: TLS is on when *tls_cert* is set; see
            :func:`server_context`.
        tls_handshake_timeout (float): seconds a TLS handshake may take.
        reuse_port (bool): bind with SO_REUSEPORT (never with port 0), so workers share the port.
    """

    def __init__(
        self,
        handle: Callable[[Connection, list[bytes], Sequence[framings.FrameError]], Any],
        *,
        port: int,
        address: str = "127.0.0.1",
        framing: str = "newline",
        max_frame: int = 1 << 20,
        idle_timeout: float = 300.0,
        max_connections: int = 1024,
        read_size: int = 65536,
        tls_cert: str = "",
        tls_key: str = "",
        tls_ca: str = "",
        tls_client_auth: str = "none",
        tls_handshake_timeout: float = 10.0,
        reuse_port: bool = True,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0..65535, got {port}")
        if framing not in framings.DECODINGS:
            raise ValueError(f"framing must be one of {', '.join(framings.DECODINGS)}, got {framing!r}")
        if max_frame < 1:
            raise ValueError(f"max_frame must be at least 1 byte, got {max_frame}")
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
        self.handle = handle
        self.port = port
        self.address = address
        self.framing = framing
        self.max_frame = max_frame
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.read_size = read_size
        self.tls_files = (tls_cert, tls_key, tls_ca, tls_client_auth)
        self.tls_handshake_timeout = tls_handshake_timeout
        self.reuse_port = reuse_port
        self.tls: ssl.SSLContext | None = None
        self.counters = dict.fromkeys(("connections", "refused", "idle_closed", "tls_failures"), 0)
        self.bytes = 0
        self.stopping = False
        self._server: gevent.server.StreamServer | None = None
        self._pool: gevent.pool.Pool | None = None
        self._stopped: gevent.event.Event | None = None
        self._waiting: dict[Any, Any] = {}  # connection greenlet -> the read watcher it waits on
        self._bad: RateLimitedLog | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def listening(self) -> bool:
        """True from :meth:`start` until :meth:`stop`."""
        return self._server is not None and not self.stopping

    @property
    def described(self) -> str:
        """Where and how it listens, for an input's start-up log line: ``tcp HOST:PORT (newline framing, TLS)``."""
        return f"tcp {self.address}:{self.port} ({self.framing} framing{', TLS' if self.tls else ''})"

    def start(self, log: logging.LoggerAdapter | logging.Logger | RateLimitedLog) -> None:
        """Load the TLS files, bind and listen, and accept from now on (in greenlets).

        *log* gets the warnings about connections (a :class:`~wishbone.log.RateLimitedLog`
        to share with the input's own, or a logger, rate limited here). Raises OSError
        naming the address, or the TLS files, when that fails.
        """
        self._bad = log if isinstance(log, RateLimitedLog) else RateLimitedLog(log)  # type: ignore[arg-type]
        cert, key, ca, client_auth = self.tls_files
        if cert:
            try:
                self.tls = server_context(cert, key, ca, client_auth)
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
        self._pool = gevent.pool.Pool()  # unbounded: max_connections is enforced by closing
        self._stopped = gevent.event.Event()
        self._server = gevent.server.StreamServer(listener, self._connection, spawn=self._pool)
        self._server.start()

    def stop(self) -> None:
        """Stop accepting; :meth:`serve` then winds the connections down (idempotent)."""
        self.stopping = True
        if self._stopped is not None:
            self._stopped.set()

    def serve(self) -> None:
        """Run until :meth:`stop`, then close the listener, drain and close the connections.

        Meant as the input's producer greenlet (``spawn_producer(server.serve)``).
        """
        assert self._server is not None and self._pool is not None and self._stopped is not None
        try:
            self._stopped.wait()
        finally:
            self.stopping = True
            self._server.close()  # no new connections
            hub = gevent.get_hub()
            for watcher in list(self._waiting.values()):
                if watcher.callback is not None:  # waiting to read: wake it to read what is left
                    hub.cancel_wait(watcher, _Stopping())
            self._pool.join(timeout=FINAL_DRAIN + STOP_GRACE)
            self._pool.kill(timeout=1.0)  # handshakes still going, a handler that did not take the last read

    def metrics(self) -> dict:
        """The counters of :data:`METRICS`: connections accepted, ``active`` (open now), ``refused``
        (beyond max_connections), ``idle_closed``, ``tls_failures`` and ``bytes`` read."""
        active = len(self._pool) if self._pool is not None else 0
        return {**self.counters, "active": active, "bytes": self.bytes}

    # ------------------------------------------------------------------ one connection
    def _connection(self, sock: gevent.socket.socket, address: tuple) -> None:
        """The greenlet of one connection: handshake (TLS), read, frame, hand on; close."""
        assert self._pool is not None and self._bad is not None
        if self.stopping or len(self._pool) > self.max_connections:
            self.counters["refused"] += 1
            self._bad.warning("Connection from %s refused: %d connections open.", address[:2], len(self._pool) - 1)
            sock.close()
            return
        self.counters["connections"] += 1
        connection = Connection(address)
        stream = sock
        try:
            if self.tls is not None:
                stream = self._handshake(sock, connection)
                if stream is None:
                    return
            self._read(stream, connection)
        except Exception as exc:  # a reset, a TLS error mid-stream, a handler that raised: this one ends
            self._bad.warning("Connection from %s ended: %s: %s", address[:2], type(exc).__name__, exc)
        finally:
            (stream or sock).close()

    def _handshake(self, sock: gevent.socket.socket, connection: Connection) -> Any:
        """The TLS socket over *sock*, or None (counted, logged) when the handshake fails."""
        assert self.tls is not None and self._bad is not None
        tls = None
        try:
            # the TLS socket takes *sock*'s descriptor over: from here on it is the one to close
            tls = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            tls.settimeout(self.tls_handshake_timeout)
            tls.do_handshake()
        except (OSError, ssl.SSLError) as exc:  # plain text, a bad certificate, a timeout, a reset
            self.counters["tls_failures"] += 1
            self._bad.warning("TLS handshake with %s failed: %s", connection.address[:2], exc)
            (tls or sock).close()
            return None
        cert = tls.getpeercert()
        if cert:
            connection.tls = {"subject": ",".join(f"{k}={v}" for rdn in cert.get("subject", ()) for k, v in rdn)}
        return tls

    def _read(self, sock: Any, connection: Connection) -> None:
        """Read, frame and hand on until the peer closes, the idle timeout, or the end of a stop."""
        assert self._bad is not None
        sock.setblocking(False)
        decoder = framings.decoder(self.framing, self.max_frame)
        feed = decoder.feed
        # gevent's socket.recv is a Python loop that waits on EAGAIN; this loop waits itself, so it
        # calls the socket's own recv (a TLS socket's is the SSL object's, which has no such layer)
        recv = getattr(sock, "_sock", sock).recv if self.tls is None else sock.recv
        read_size = self.read_size
        handle = self.handle
        idle = self.idle_timeout
        hub = gevent.get_hub()
        watcher = hub.loop.io(sock.fileno(), 1)
        current = gevent.getcurrent()
        wait = hub.wait
        monotonic = time.monotonic
        # The idle timeout is one repeating timer per connection, not a timeout armed per wait: it
        # looks every idle/4 s whether a whole frame came within idle seconds
        last_frame = [monotonic()]
        timer = None
        if idle:
            timer = hub.loop.timer(idle / 4, idle / 4)
            timer.start(self._check_idle, current, watcher, last_frame, idle)
        drain_until = None
        try:
            while True:
                try:
                    chunk = recv(read_size)
                except _WOULD_BLOCK:
                    if self.stopping:
                        self._hand_on_held(connection, decoder, "closed by the stop")
                        return
                    self._waiting[current] = watcher
                    try:
                        wait(watcher)
                    except _Idle:
                        self.counters["idle_closed"] += 1
                        self._bad.warning(
                            "Connection from %s closed: no whole frame for %s s.", connection.peer, self.idle_timeout
                        )
                        self._hand_on_held(connection, decoder, "closed after the idle timeout")
                        return
                    except _Stopping:
                        pass
                    finally:
                        self._waiting.pop(current, None)
                    continue
                if not chunk:  # the peer closed: what is left is a last frame, or cut short
                    frames = decoder.end()
                    if frames or decoder.errors:
                        handle(connection, frames, decoder.take_errors())
                    return
                self.bytes += len(chunk)
                frames = feed(chunk)
                if frames:
                    handle(connection, frames, decoder.take_errors() if decoder.errors else _NO_ERRORS)
                    last_frame[0] = monotonic()
                elif decoder.errors:
                    handle(connection, frames, decoder.take_errors())
                if self.stopping:  # read what the kernel holds, for a bounded time
                    if drain_until is None:
                        drain_until = monotonic() + FINAL_DRAIN
                    elif monotonic() > drain_until:
                        self._hand_on_held(connection, decoder, "closed by the stop")
                        return
        finally:
            self._waiting.pop(current, None)
            watcher.close()
            if timer is not None:
                timer.close()

    def _check_idle(self, greenlet: Any, watcher: Any, last_frame: list, idle: float) -> None:
        """The idle timer of one connection: wake its greenlet with _Idle once no whole frame came for *idle* s."""
        # thrown now, as gevent's Timeout does, not through the hub's deferred cancel_wait: a frame
        # read in the same loop turn would otherwise be followed by a close for idleness
        if time.monotonic() - last_frame[0] >= idle and self._waiting.get(greenlet) is watcher and watcher.active:
            greenlet.throw(_Idle())

    def _hand_on_held(self, connection: Connection, decoder: framings.Decoder, why: str) -> None:
        """The server closes a connection inside a frame: what it holds of it goes to the handler as an error."""
        decoder.cut(f"connection {why}")
        if decoder.errors:
            self.handle(connection, [], decoder.take_errors())
