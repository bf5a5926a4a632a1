"""The ``syslog_in`` input: syslog over UDP (a batched datagram reader) or TCP (a StreamServer)."""

from __future__ import annotations

import itertools
import socket
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

import gevent
import gevent.socket
from wishbone import Input, framing, streamserver
from wishbone.datagrams import DatagramReader
from wishbone.event import error_record
from wishbone.log import RateLimitedLog

from wb_syslog.rfc import SyslogError, parse, parse_3164, parse_5424

__all__ = ["SyslogIn"]

FINAL_DRAIN = 1.0  # seconds a stop spends reading what the kernel still holds
_SO_RCVBUFFORCE = 33  # Linux; passes net.core.rmem_max for a privileged process

_LINE_ENDS = ("\n", "\r")

PARSERS: dict[str, Callable[[str], dict]] = {"auto": parse, "rfc5424": parse_5424, "rfc3164": parse_3164}


class _Wake(Exception):
    """The UDP reader's wait ends: intake stopped (on_stop_intake raises it there)."""


def _receive_buffer(sock: socket.socket, size: int) -> int:
    if size > 0:
        try:
            if not sys.platform.startswith("linux"):
                raise OSError
            sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, size)
        except OSError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


class SyslogIn(Input):
    """A syslog server: RFC 5424 and RFC 3164 messages parsed into fields, over UDP or TCP.

    Each message becomes ``{"headers": {"syslog": {"peer": [host, port], "transport": "udp"}},
    "data": {...}}`` whose data holds ``facility``, ``severity``, ``timestamp``, ``host``, ``app``,
    ``procid``, ``msgid``, ``structured_data``, ``message`` and ``rfc`` (see ``wb_syslog.rfc``).
    With ``mode`` "raw" the data is the message text, unparsed.

    UDP: one datagram is one message (a trailing newline is removed, as from TCP frames); one reader greenlet drains
    the socket in batches. TCP: ``wishbone.streamserver`` (shared with ``tcp_in``), one greenlet per
    connection; framing is chosen per connection as rsyslog does ("auto": octet counting, RFC 6587,
    when the first byte is a digit, otherwise one message per line), or fixed by ``framing``. TCP
    backpressure stops reading; a connection holds at most ``max_message`` bytes plus one read; a
    connection that sends no whole message for ``idle_timeout`` seconds is closed; connections beyond
    ``max_connections`` are closed at once. With ``tls_cert`` set, TCP is TLS (RFC 5425), optionally
    with client certificates; a handshake that fails (plain text, a bad certificate) closes the
    connection, counted.

    A message that is not syslog (no ``<PRI>``, a broken RFC 5424 header or structured data),
    not UTF-8, longer than ``max_message``, or a TCP frame cut short goes to ``failed`` with its
    bytes as data and the reason in ``headers.error``; counted, logged at a bounded rate. With
    ``on_error`` "raw" the unparseable (but UTF-8) ones go to ``outbox`` instead, as text, with
    the reason in ``headers.syslog.error``.

    Delivery: at most once, over UDP and TCP alike (UDP: the kernel drops what its receive
    buffer cannot hold; TCP: what was read is handed on, a kill loses what the process holds).

    Parameters:
        port (int): port to listen on; 0 picks a free one (logged, and in ``self.port``).
        transport (str): "udp" (default) or "tcp".
        address (str): address to bind (default "127.0.0.1").
        mode (str): "parse" (default) or "raw" (data is the message text).
        rfc (str): "auto" (default: told apart by the version after the PRI), "rfc5424" or "rfc3164".
        on_error (str): "fail" (default: to failed) or "raw" (to outbox as text) for unparseable messages.
        framing (str): TCP: "auto" (default), "octet_counting" or "newline".
        max_message (int): longest message, in bytes (default 65535); longer ones go to failed.
        buffer_size (int): UDP receive buffer asked for, in bytes (default 8 MiB; 0: the kernel's).
        idle_timeout (float): TCP: seconds without a whole message before a connection is closed
            (default 300; 0: never).
        max_connections (int): TCP: connections open at once (default 1024).
        reuse_port (bool): SO_REUSEPORT, so ``--instances N`` share the port (default True; not with port 0).
        tls_cert (str): TCP: PEM certificate (chain) file; TLS is on when it is set (default "": plain TCP).
        tls_key (str): PEM private key file ("" when the key is in tls_cert).
        tls_ca (str): PEM file of the CAs that client certificates are checked against.
        tls_client_auth (str): "none" (default), "optional" or "required": client certificates.
        tls_handshake_timeout (float): seconds a TLS handshake may take (default 10).

    Queues:
        outbox: one event per message.
        failed: messages that did not parse or decode, too long, cut short (data: the bytes).

    Metrics:
        messages: messages handed on.  parse_failures: messages that did not parse or decode.
        frame_errors: TCP frames too long, cut short or badly counted; UDP datagrams too long.
        TCP only: connections: connections accepted.  active: open now.  refused: closed for
        max_connections.  idle_closed: closed by idle_timeout.  tls_failures: TLS handshakes that
        failed.  bytes: bytes read.
    """

    def __init__(
        self,
        port: int,
        transport: Literal["udp", "tcp"] = "udp",
        address: str = "127.0.0.1",
        mode: Literal["parse", "raw"] = "parse",
        rfc: Literal["auto", "rfc5424", "rfc3164"] = "auto",
        on_error: Literal["fail", "raw"] = "fail",
        framing: Literal["auto", "octet_counting", "newline"] = "auto",
        max_message: int = 65535,
        buffer_size: int = 8 * 1024 * 1024,
        idle_timeout: float = 300.0,
        max_connections: int = 1024,
        reuse_port: bool = True,
        tls_cert: str = "",
        tls_key: str = "",
        tls_ca: str = "",
        tls_client_auth: Literal["none", "optional", "required"] = "none",
        tls_handshake_timeout: float = 10.0,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"port must be 0..65535, got {port}")
        choices = (
            ("transport", transport, ("udp", "tcp")),
            ("mode", mode, ("parse", "raw")),
            ("rfc", rfc, tuple(PARSERS)),
            ("on_error", on_error, ("fail", "raw")),
            ("framing", framing, ("auto", "octet_counting", "newline")),
        )
        for name, value, allowed in choices:
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        if not 1 <= max_message <= (65535 if transport == "udp" else 1 << 30):
            raise ValueError(f"max_message must be 1..65535 (udp) or more for tcp, got {max_message}")
        if buffer_size < 0:
            raise ValueError(f"buffer_size must be 0 (kernel default) or more bytes, got {buffer_size}")
        if idle_timeout < 0:
            raise ValueError(f"idle_timeout must be 0 (never) or more seconds, got {idle_timeout}")
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {max_connections}")
        self.port = port
        self.transport = transport
        self.address = address
        self.mode = mode
        self.rfc = rfc
        self.on_error = on_error
        self.framing = framing
        self.max_message = max_message
        self.buffer_size = buffer_size
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.reuse_port = reuse_port
        self.counters = dict.fromkeys(("messages", "parse_failures", "frame_errors"), 0)
        self._sock: Any = None
        self._streams: streamserver.StreamServer | None = None
        if transport == "tcp":
            self._streams = streamserver.StreamServer(
                self._frames,
                port=port,
                address=address,
                framing=framing,
                max_frame=max_message,
                idle_timeout=idle_timeout,
                max_connections=max_connections,
                reuse_port=reuse_port,
                tls_cert=tls_cert,
                tls_key=tls_key,
                tls_ca=tls_ca,
                tls_client_auth=tls_client_auth,
                tls_handshake_timeout=tls_handshake_timeout,
            )
        elif tls_cert or tls_key or tls_ca or tls_client_auth != "none":
            raise ValueError("the tls_* parameters need transport tcp: syslog over TLS is over TCP (RFC 5425)")
        self._waiting: dict[Any, Any] = {}

    # ------------------------------------------------------------------ lifecycle
    @property
    def ready(self) -> bool:
        """True while the socket is bound (UDP) or the server listens (TCP)."""
        if self._streams is not None:
            return self._streams.listening and self.running
        return self._sock is not None and self.running

    def _listener(self, kind: int) -> Any:
        family = socket.AF_INET6 if ":" in self.address else socket.AF_INET
        sock = socket.socket(family, kind)
        try:
            if self.port and self.reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            self.buffer_granted = _receive_buffer(sock, self.buffer_size)
            sock.bind((self.address, self.port))
        except OSError as exc:
            sock.close()
            where = f"{self.transport} {self.address}:{self.port}"
            raise OSError(exc.errno, f"cannot listen on {where}: {exc.strerror}") from None
        self.port = sock.getsockname()[1]
        return sock

    def on_start(self) -> None:
        self._bad = RateLimitedLog(self.log)
        self._parse = PARSERS[self.rfc] if self.mode == "parse" else None
        if self._streams is None:
            sock = self._listener(socket.SOCK_DGRAM)
            sock.setblocking(False)
            self._sock = sock
            self.log.info(
                "Listening for syslog on udp %s:%d (receive buffer: kernel reports %d bytes).",
                self.address,
                self.port,
                self.buffer_granted,
            )
            self.spawn_producer(self._read_udp, sock)
        else:
            self._streams.start(self._bad)
            self.port = self._streams.port
            self.log.info("Listening for syslog on %s.", self._streams.described)
            self.spawn_producer(self._streams.serve)

    def on_stop_intake(self) -> None:
        if self._streams is not None:
            self._streams.stop()
        hub = gevent.get_hub()
        for watcher in list(self._waiting.values()):
            if watcher.callback is not None:
                hub.cancel_wait(watcher, _Wake())

    def metrics(self) -> dict:
        if self._streams is None:
            return dict(self.counters)
        return {**self._streams.metrics(), **self.counters}

    # ------------------------------------------------------------------ events
    def _events(self, payloads: list[bytes], peers: Iterable, transport: str) -> None:
        """Parse *payloads* (messages from *peers*, one each) and hand them on: outbox, failed for the bad ones."""
        parse = self._parse
        events: list[dict] = []
        failed: list[dict] = []
        append = events.append
        raw_errors = self.on_error == "raw"
        for payload, peer in zip(payloads, peers, strict=False):  # peers may be an endless repeat
            try:
                text = payload.decode()
                if text[-1:] in _LINE_ENDS:  # CRLF line ends; an octet-counted frame with its newline
                    text = text.rstrip("\r\n")
            except UnicodeDecodeError as exc:
                failed.append(self._failure(peer, transport, payload, exc))
                continue
            if parse is None:
                append({"headers": {"syslog": {"peer": [peer[0], peer[1]], "transport": transport}}, "data": text})
                continue
            try:
                data = parse(text)
            except SyslogError as exc:
                if raw_errors:
                    headers = {"peer": [peer[0], peer[1]], "transport": transport, "error": str(exc)}
                    append({"headers": {"syslog": headers}, "data": text})
                    self.counters["parse_failures"] += 1
                else:
                    failed.append(self._failure(peer, transport, payload, exc))
                continue
            append({"headers": {"syslog": {"peer": [peer[0], peer[1]], "transport": transport}}, "data": data})
        if events:
            self.counters["messages"] += len(events)
            batch_size = self.batch_size
            for start in range(0, len(events), batch_size):
                self.emit_batch(events[start : start + batch_size])
        if failed:
            self._hand_on_failed(failed)

    def _failure(self, peer: list, transport: str, data: bytes, exc: Exception, frame: bool = False) -> dict:
        exc.__traceback__ = None
        self.counters["frame_errors" if frame else "parse_failures"] += 1
        headers = {
            "syslog": {"peer": [peer[0], peer[1]], "transport": transport},
            "error": error_record(self.name, exc),
        }
        return {"headers": headers, "data": data}

    def _hand_on_failed(self, failed: list[dict]) -> None:
        self._bad.warning(
            "%d message(s) from %s not accepted, %s; e.g.: %s",
            len(failed),
            failed[0]["headers"]["syslog"]["peer"],
            "sent to failed" if self.is_routed("failed") else "dropped: 'failed' is not routed",
            failed[0]["headers"]["error"]["message"][:200],
        )
        batch_size = self.batch_size
        for start in range(0, len(failed), batch_size):
            self.emit_batch(failed[start : start + batch_size], "failed")

    # ------------------------------------------------------------------ UDP
    def _read_udp(self, sock: socket.socket) -> None:
        hub = gevent.get_hub()
        watcher = hub.loop.io(sock.fileno(), 1)
        current = gevent.getcurrent()
        wait = hub.wait  # no timeout: no timer armed per wait; on_stop_intake wakes it
        read_batch = self._udp_batch_reader(sock)
        try:
            while self.running:
                self._waiting[current] = watcher
                try:
                    wait(watcher)
                except _Wake:
                    continue
                finally:
                    self._waiting.pop(current, None)
                while read_batch() and self.running:  # the socket holds more: read on, yielding between
                    gevent.sleep(0)
            until = time.monotonic() + FINAL_DRAIN  # what the kernel holds was sent before the stop
            while read_batch() and time.monotonic() < until:
                pass
        finally:
            watcher.close()
            sock.close()
            self._sock = None

    def _udp_batch_reader(self, sock: socket.socket) -> Callable[[], bool]:
        """A function that reads up to a batch of datagrams and hands them on; True if the batch was full.

        :class:`wishbone.datagrams.DatagramReader`: on Linux one ``recvmmsg`` call reads the whole
        batch into buffers made once; elsewhere, one ``recvfrom`` per datagram.
        """
        max_message = self.max_message
        too_long_error = f"datagram longer than max_message ({max_message} bytes)"
        reader = DatagramReader(sock, max_message, self.batch_size, strip_newline=True)
        receive, slots = reader.receive, reader.slots

        def read_batch() -> bool:
            try:
                payloads, peers, long_ones = receive()
            except OSError as exc:  # e.g. an ICMP error reported on the socket: read on
                self._bad.warning("Receiving failed: %s", exc)
                return False
            full = len(payloads) == slots
            if long_ones:
                failed = [
                    self._failure(
                        list(peers[i]), "udp", payloads[i][:max_message], ValueError(too_long_error), frame=True
                    )
                    for i in long_ones
                ]
                for i in reversed(long_ones):
                    del payloads[i], peers[i]
                self._hand_on_failed(failed)
            if payloads:
                self._events(payloads, peers, "udp")
            return full

        return read_batch

    # ------------------------------------------------------------------ TCP
    def _frames(
        self, connection: streamserver.Connection, frames: list[bytes], errors: Sequence[framing.FrameError]
    ) -> None:
        """The stream server's handler: one read's messages parsed and handed on, its frame errors failed."""
        if frames:
            self._events(frames, itertools.repeat(connection.peer), "tcp")
        if errors:
            peer = connection.peer
            self._hand_on_failed([self._failure(peer, "tcp", e.head, e, frame=True) for e in errors])
