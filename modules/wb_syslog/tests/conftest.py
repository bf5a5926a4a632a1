"""Fixtures of wb-syslog's tests: ports, waiting inside gevent, plain UDP senders, TCP servers.

Each helper is a fixture (test modules import no helper by file name, so any set of packages'
tests collects in one pytest run): ``free_port(kind)``, ``wait_until(predicate, timeout, what)``,
``send_udp(port, *datagrams)``, ``tcp_sink(port=0)`` (a TCP server keeping what it got; all
stopped at teardown).
"""

from __future__ import annotations

import socket

import gevent
import gevent.server
import pytest
from wishbone.testing.services import free_tcp_port, free_udp_port, poll_until


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    """A port on 127.0.0.1 nothing is bound to (of *kind*)."""
    return free_tcp_port() if kind == socket.SOCK_STREAM else free_udp_port()


def send_udp(port: int, *datagrams: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for d in datagrams:
            s.sendto(d, ("127.0.0.1", port))


class TCPSink:
    """A TCP server in this process keeping what each connection sent (``data()``)."""

    def __init__(self, port: int = 0) -> None:
        self.received: list[bytearray] = []
        self.server = gevent.server.StreamServer(("127.0.0.1", port), self._handle)
        self.server.start()
        self.port = self.server.server_port

    def _handle(self, sock, address) -> None:
        buf = bytearray()
        self.received.append(buf)
        try:
            while chunk := sock.recv(65536):
                buf += chunk
        except OSError:
            pass

    def data(self) -> bytes:
        return b"".join(bytes(b) for b in self.received)

    def stop(self) -> None:
        self.server.stop(timeout=1)


@pytest.fixture(name="free_port")
def free_port_fixture():
    """``free_port(kind=socket.SOCK_STREAM)``: a port on 127.0.0.1 nothing is bound to."""
    return free_port


@pytest.fixture(name="wait_until")
def wait_until_fixture():
    """``wait_until(predicate, timeout=5, what=...)``: poll inside gevent; AssertionError past the timeout."""
    return poll_until


@pytest.fixture(name="send_udp")
def send_udp_fixture():
    """``send_udp(port, *datagrams)`` from one plain socket."""
    return send_udp


@pytest.fixture
def tcp_sink():
    """``tcp_sink(port=0)`` -> a :class:`TCPSink`; every one stopped at teardown."""
    made: list[TCPSink] = []

    def make(port: int = 0) -> TCPSink:
        server = TCPSink(port)
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()
