"""The ``syslog_out`` output: events formatted as RFC 5424 or RFC 3164 messages, sent over UDP or TCP."""

from __future__ import annotations

import json
import socket
import time
from typing import Any, Literal

import gevent
import gevent.event
import gevent.socket
from wishbone import Output, framing
from wishbone.ack import mark_abandoned
from wishbone.log import RateLimitedLog
from wishbone.reconnect import Backoff

from wb_syslog.rfc import format_3164, format_5424

__all__ = ["SyslogOut"]

STOP_MARGIN = 0.5  # seconds before the stop deadline at which an unwritten batch is abandoned
FIELDS = ("facility", "severity", "timestamp", "host", "app", "procid", "msgid", "structured_data", "message")


class SyslogOut(Output):
    """Sends each event as a syslog message (RFC 5424 or RFC 3164) over UDP or TCP.

    The message's fields come from the event's data when it is a dict with the field names
    ``syslog_in`` gives (``facility``, ``severity``, ``timestamp``, ``host``, ``app``,
    ``procid``, ``msgid``, ``structured_data``, ``message``); a field it lacks takes the
    parameter of the same purpose below (``facility``, ``severity``, ``hostname``, ``app``;
    no timestamp: the time the batch is sent). Data that is text is the message itself; other
    data is written as JSON in the message. So ``syslog_in -> syslog_out`` relays syslog.

    UDP: one datagram per message. TCP: each batch framed (``framing``, octet counting by
    default as RFC 6587 recommends) into one ``sendall``; the connection is kept up by a
    greenlet that reconnects with backoff (``wishbone.reconnect.Backoff``: 0.1 s, doubling
    to ``reconnect_max``); while there is none the batch is kept and the output waits, so
    nothing unwritten is dropped; a failed write keeps the batch and writes it again, whole,
    on the next connection.

    Delivery: at most once (UDP: the network may drop a datagram; TCP: what the kernel has
    accepted counts as written, and a batch cut off by a broken connection is written again,
    so its first messages may arrive twice). At a stop, what still cannot be written near the
    deadline is abandoned (a tracked input redelivers it), counted in ``abandoned``. An event
    whose fields do not make a message (a facility outside 0..23) goes to ``failed``.

    Parameters:
        port (int): destination port.
        host (str): destination host (default "127.0.0.1").
        transport (str): "udp" (default) or "tcp".
        format (str): "rfc5424" (default) or "rfc3164".
        framing (str): TCP: "octet_counting" (default) or "newline".
        facility (int): facility when the event has none (default 1, user).
        severity (int): severity when the event has none (default 5, notice).
        hostname (str): host name when the event has none (default "": this machine's name).
        app (str): app name (tag) when the event has none (default "wishbone").
        reconnect_max (float): TCP: longest wait between connection attempts (default 30).
        connect_timeout (float): TCP: seconds a connection attempt may take (default 5).

    Queues:
        inbox: events to send.
        failed: events that do not make a message, or whose datagram the kernel refused.

    Metrics:
        sent: messages sent.  send_errors: UDP datagrams refused.  connects: TCP connections made.
        connect_failures: attempts that failed.  write_failures: TCP writes that failed (batch kept).
        abandoned: events left unwritten at a stop.
    """

    def __init__(
        self,
        port: int,
        host: str = "127.0.0.1",
        transport: Literal["udp", "tcp"] = "udp",
        format: Literal["rfc5424", "rfc3164"] = "rfc5424",
        framing: Literal["octet_counting", "newline"] = "octet_counting",
        facility: int = 1,
        severity: int = 5,
        hostname: str = "",
        app: str = "wishbone",
        reconnect_max: float = 30.0,
        connect_timeout: float = 5.0,
    ) -> None:
        if not 1 <= port <= 65535:
            raise ValueError(f"port must be 1..65535, got {port}")
        if not host:
            raise ValueError("host must not be empty")
        for name, value, allowed in (
            ("transport", transport, ("udp", "tcp")),
            ("format", format, ("rfc5424", "rfc3164")),
            ("framing", framing, ("octet_counting", "newline")),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
        if not 0 <= facility <= 23:
            raise ValueError(f"facility must be 0..23, got {facility}")
        if not 0 <= severity <= 7:
            raise ValueError(f"severity must be 0..7, got {severity}")
        if reconnect_max < 0.1:
            raise ValueError(f"reconnect_max must be at least 0.1 s, got {reconnect_max}")
        if connect_timeout <= 0:
            raise ValueError(f"connect_timeout must be more than 0 s, got {connect_timeout}")
        self.port = port
        self.host = host
        self.transport = transport
        self.format = format
        self.framing = framing
        self.defaults = {
            "facility": facility,
            "severity": severity,
            "host": hostname or socket.gethostname(),
            "app": app,
        }
        self.reconnect_max = reconnect_max
        self.connect_timeout = connect_timeout
        self.counters = dict.fromkeys(
            ("sent", "send_errors", "connects", "connect_failures", "write_failures", "abandoned"), 0
        )
        self._sock: Any = None
        self._udp: socket.socket | None = None

    # ------------------------------------------------------------------ lifecycle
    @property
    def ready(self) -> bool:
        """True with an open UDP socket, or while connected over TCP."""
        return (self._udp if self.transport == "udp" else self._sock) is not None

    def on_start(self) -> None:
        self._bad = RateLimitedLog(self.log)
        self._format = format_5424 if self.format == "rfc5424" else format_3164
        if self.transport == "udp":
            family, _, _, _, address = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)[0]
            self._address = address
            self._udp = gevent.socket.socket(family, socket.SOCK_DGRAM)
            self.log.info("Sending syslog (%s) to udp %s:%d.", self.format, self.host, self.port)
        else:
            self._encode_frames = framing.encoder(self.framing)
            self._connected = gevent.event.Event()
            self._closing = gevent.event.Event()
            self.spawn(self._keep_connected)

    def on_stop(self) -> None:
        if self.transport == "udp":
            if self._udp is not None:
                self._udp.close()
                self._udp = None
        else:
            self._closing.set()
            self._drop(self._sock)

    def metrics(self) -> dict:
        return dict(self.counters)

    # ------------------------------------------------------------------ formatting
    def _messages(self, events: list) -> tuple[list[bytes], list]:
        """The message bytes of *events*, and the events that made one (the others go to failed)."""
        now = time.time()
        defaults = dict(self.defaults)
        fmt = self._format
        out: list[bytes] = []
        good: list = []
        for event in events:
            data = event["data"]
            try:
                if isinstance(data, dict):
                    fields = {**defaults, **{k: data[k] for k in FIELDS if data.get(k) is not None}}
                elif isinstance(data, str):
                    fields = {**defaults, "message": data}
                elif isinstance(data, (bytes, bytearray)):
                    fields = {**defaults, "message": bytes(data).decode("utf-8", "replace")}
                else:
                    fields = {**defaults, "message": json.dumps(data, default=str)}
                out.append(fmt(fields, now).encode("utf-8", "replace"))
            except Exception as exc:
                self.fail(event, exc)
                continue
            good.append(event)
        return out, good

    def consume_batch(self, events: list) -> None:
        messages, good = self._messages(events)
        if not good:
            return
        if self.transport == "udp":
            self._send_udp(messages, good)
            return
        try:
            wire = self._encode_frames(messages)
        except framing.FrameError:  # newline framing and a message holding a newline
            parts, kept = [], []
            for message, event in zip(messages, good, strict=True):
                try:
                    parts.append(self._encode_frames([message]))
                except framing.FrameError as exc:
                    self.fail(event, exc)
                    continue
                kept.append(event)
            wire, good = b"".join(parts), kept
        if good:
            self._write(wire, good)

    def _send_udp(self, messages: list[bytes], events: list) -> None:
        sendto = self._udp.sendto  # type: ignore[union-attr]
        address = self._address
        for message, event in zip(messages, events, strict=True):
            try:
                sendto(message, address)
            except OSError as exc:
                self.counters["send_errors"] += 1
                self.fail(event, exc)
                continue
            self.counters["sent"] += 1

    # ------------------------------------------------------------------ TCP
    def _keep_connected(self) -> None:
        backoff = Backoff(0.1, self.reconnect_max)
        closing = self._closing
        while not closing.is_set():
            if self._sock is None:
                try:
                    sock = gevent.socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
                except OSError as exc:
                    self.counters["connect_failures"] += 1
                    wait = backoff.next()
                    self._bad.warning(
                        "Cannot connect to tcp %s:%d: %s; next in %.1f s.", self.host, self.port, exc, wait
                    )
                    closing.wait(wait)
                    continue
                if closing.is_set():
                    sock.close()
                    return
                sock.settimeout(60.0)
                self._sock = sock
                self.counters["connects"] += 1
                backoff.reset()
                self.log.info("Connected to tcp %s:%d (syslog %s).", self.host, self.port, self.format)
                self._connected.set()
            closing.wait(0.5)

    def _peer_closed(self, sock: Any) -> bool:
        """True if the server closed *sock*; what it sent otherwise is read and discarded."""
        sock.settimeout(0.0)  # a gevent socket with a timeout would wait for data instead
        try:
            while True:
                if not sock.recv(65536):
                    return True
        except BlockingIOError:
            return False
        except OSError:
            return True
        finally:
            sock.settimeout(60.0)

    def _drop(self, sock: Any, reason: str = "") -> None:
        if sock is None:
            return
        if self._sock is sock:
            self._sock = None
            self._connected.clear()
            if reason:
                self._bad.warning("Connection to tcp %s:%d lost: %s; reconnecting.", self.host, self.port, reason)
        sock.close()

    def _write(self, wire: bytes, events: list) -> None:
        while True:
            sock = self._sock
            if sock is not None:
                if self._peer_closed(sock):
                    self._drop(sock, "the server closed the connection")
                else:
                    try:
                        sock.sendall(wire)
                    except OSError as exc:
                        self.counters["write_failures"] += 1
                        self._drop(sock, f"write failed ({exc}); the batch is kept and written again")
                    else:
                        self.counters["sent"] += len(events)
                        return
            if not self.running and time.monotonic() >= self.stop_deadline - STOP_MARGIN:
                mark_abandoned(events)
                self.counters["abandoned"] += len(events)
                self.log.warning(
                    "Stopping: %d event(s) not written to tcp %s:%d; abandoned.", len(events), self.host, self.port
                )
                return
            self._connected.wait(0.2)
