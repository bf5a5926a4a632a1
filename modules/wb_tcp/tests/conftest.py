"""Fixtures of wb-tcp's tests: ports, waiting inside gevent, TCP servers that keep what they got.

Each helper is a fixture (test modules import no helper by file name, so any set of packages'
tests collects in one pytest run): ``tcp_port``, ``wait_until(predicate, timeout, what)``,
``sink`` (a server on a free port), ``sink_factory(port=0, ssl_context=None)`` (more of them).
TLS certificates come from the core's pytest plugin (``tls_certs``, :mod:`wishbone.testing.tls`).
"""

from __future__ import annotations

import socket

import pytest
from wishbone.testing.services import free_tcp_port, poll_until


class Sink:
    """A TCP server in this process (gevent) that keeps every byte each connection sent.

    ``data()`` is everything received, connections in the order they were accepted;
    ``lines()`` splits it on newlines. ``close_all()`` drops the open connections (a server
    restart, seen from the client); ``stop()`` closes the listener too.
    """

    def __init__(self, port: int = 0, ssl_context=None) -> None:
        import gevent.server

        self.received: list[bytearray] = []
        self.connections: list = []
        tls = {} if ssl_context is None else {"ssl_context": ssl_context}
        self.server = gevent.server.StreamServer(("127.0.0.1", port), self._handle, **tls)
        self.server.start()
        self.port = self.server.server_port

    def _handle(self, sock, address) -> None:
        buf = bytearray()
        self.received.append(buf)
        self.connections.append(sock)
        try:
            while chunk := sock.recv(65536):
                buf += chunk
        except OSError:
            pass

    def data(self) -> bytes:
        return b"".join(bytes(b) for b in self.received)

    def lines(self) -> list[bytes]:
        data = self.data()
        return data.split(b"\n")[:-1] if data else []

    def close_all(self) -> None:
        for sock in self.connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self.connections.clear()

    def stop(self) -> None:
        self.server.stop(timeout=1)
        self.close_all()


@pytest.fixture
def tcp_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on."""
    return free_tcp_port()


@pytest.fixture(name="wait_until")
def wait_until_fixture():
    """``wait_until(predicate, timeout=5, what=...)``: poll inside gevent; AssertionError past the timeout."""
    return poll_until


@pytest.fixture
def sink_factory():
    """``sink_factory(port=0, ssl_context=None)`` -> a :class:`Sink`; every one stopped at teardown."""
    made: list[Sink] = []

    def make(port: int = 0, ssl_context=None) -> Sink:
        server = Sink(port, ssl_context)
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


@pytest.fixture
def sink(sink_factory):
    """A TCP server on 127.0.0.1 keeping what it receives."""
    return sink_factory()
