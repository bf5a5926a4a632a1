"""The ``udp_out`` output: sends each event's data as one datagram."""

from __future__ import annotations

import socket
from typing import Any

import gevent.socket
from wishbone import codec
from wishbone.module import Output

__all__ = ["UDPOut", "to_bytes"]

_RAW = codec.get("raw")


def to_bytes(data: Any) -> bytes:
    """The datagram for *data* with the ``raw`` codec: bytes as they are, text as UTF-8, the rest as JSON."""
    return _RAW.encode(data)


class UDPOut(Output):
    """Sends the data of each event as one UDP datagram to host:port.

    ``encode`` names a codec of :mod:`wishbone.codec`; the default, ``raw``, sends bytes as
    they are, text as UTF-8 and any other data as JSON. The address is resolved once, at
    start. Data the codec cannot encode (``encode: text`` of a dict) is counted in
    ``encode_errors``, a datagram the kernel refuses (too long, no route, ...) in
    ``send_errors``; either way the event goes to ``failed`` with the error in
    ``headers.error``, and nothing is logged per event.

    Parameters:
        port (int): destination UDP port.
        host (str): destination host name or address (default "127.0.0.1").
        encode (str): a codec: "raw" (the default), "text", "lines" (adds a newline), "json",
            "json_lines" or "msgpack".

    Queues:
        inbox: events to send.
        failed: events whose datagram could not be encoded or sent.

    Metrics:
        sent: datagrams sent.  send_errors: datagrams that could not be sent.
        encode_errors: events whose data the codec could not encode.
    """

    def __init__(self, port: int, host: str = "127.0.0.1", encode: str = "raw") -> None:
        if not 1 <= port <= 65535:
            raise ValueError(f"port must be 1..65535, got {port}")
        if not host:
            raise ValueError("host must not be empty")
        try:
            self._encode = codec.get(encode).encode
        except ValueError as exc:  # names the codecs; the bootstrap adds the JSON path
            raise ValueError(f"encode: {exc}") from None
        self.port = port
        self.host = host
        self.encode = encode
        self.sent = 0
        self.send_errors = 0
        self.encode_errors = 0
        self._sock: gevent.socket.socket | None = None

    def on_start(self) -> None:
        try:
            family, _, _, _, address = gevent.socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)[0]
        except OSError as exc:
            raise OSError(exc.errno, f"cannot resolve udp destination {self.host}:{self.port}: {exc}") from None
        self._address = address
        self._sock = gevent.socket.socket(family, socket.SOCK_DGRAM)
        self._sendto = self._sock.sendto
        self.log.info("Sending to udp %s:%d (%s).", self.host, self.port, address[0])

    @property
    def ready(self) -> bool:
        """True while the socket is open (``/ready``, ``wishbone_module_connected``)."""
        return self._sock is not None

    def on_stop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def metrics(self) -> dict:
        return {"sent": self.sent, "send_errors": self.send_errors, "encode_errors": self.encode_errors}

    def consume(self, event: dict) -> None:
        """Send the event's data as one datagram (errors: to failed, by the framework)."""
        try:
            datagram = self._encode(event["data"])
        except codec.CodecError:
            self.encode_errors += 1
            raise
        try:
            self._sendto(datagram, self._address)
        except OSError:
            self.send_errors += 1
            raise  # the framework sends the event to failed, with the error in its headers
        self.sent += 1
