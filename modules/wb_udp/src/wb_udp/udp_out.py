"""The ``udp_out`` output: sends each event's data as one datagram."""

from __future__ import annotations

import json
import socket
from typing import Any

import gevent.socket
from wishbone import Module

__all__ = ["UDPOut", "to_bytes"]


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "backslashreplace")
    return str(value)


def to_bytes(data: Any) -> bytes:
    """The datagram for *data*: bytes as they are, text as UTF-8, anything else as JSON."""
    if type(data) is bytes:
        return data
    if type(data) is str:
        return data.encode("utf-8")
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    return json.dumps(data, ensure_ascii=False, default=_json_default).encode("utf-8")


class UDPOut(Module):
    """Sends the data of each event as one UDP datagram to host:port.

    Bytes are sent as they are, text encoded as UTF-8, any other data as JSON. The address is
    resolved once, at start. A datagram the kernel refuses (too long, no route, ...) is
    counted in ``send_errors`` and its event goes to ``failed`` with the error in
    ``headers.error``; nothing is logged per event.

    Parameters:
        port (int): destination UDP port.
        host (str): destination host name or address (default "127.0.0.1").

    Queues:
        inbox: events to send.
        failed: events whose datagram could not be sent.

    Metrics:
        sent: datagrams sent.  send_errors: datagrams that could not be sent.
    """

    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        if not 1 <= port <= 65535:
            raise ValueError(f"port must be 1..65535, got {port}")
        if not host:
            raise ValueError("host must not be empty")
        self.port = port
        self.host = host
        self.sent = 0
        self.send_errors = 0
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

    def on_stop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def metrics(self) -> dict:
        return {"sent": self.sent, "send_errors": self.send_errors}

    def consume(self, event: dict) -> None:
        try:
            self._sendto(to_bytes(event["data"]), self._address)
        except OSError:
            self.send_errors += 1
            raise  # the framework sends the event to failed, with the error in its headers
        self.sent += 1
