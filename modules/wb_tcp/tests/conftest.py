"""Fixtures of wb-tcp's tests: ports, waiting inside gevent, TCP servers that keep what they got, certificates.

Each helper is a fixture (test modules import no helper by file name, so any set of packages'
tests collects in one pytest run): ``tcp_port``, ``wait_until(predicate, timeout, what)``,
``sink`` (a server on a free port), ``sink_factory(port=0, ssl_context=None)`` (more of them),
``certs`` (PEM files made with the openssl command).
"""

from __future__ import annotations

import pathlib
import shutil
import socket
import subprocess
import time

import pytest


def free_tcp_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound once, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 5.0, what: str = "the condition") -> None:
    """Poll *predicate* (yielding to gevent) until true; AssertionError after *timeout*."""
    import gevent

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        gevent.sleep(0.01)


def _openssl(*args: str) -> None:
    if shutil.which("openssl") is None:
        raise RuntimeError("the TLS tests make their certificates with the openssl command: install openssl")
    subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=30)


def _issue(folder: pathlib.Path, name: str, subject: str, ca: str | None, ca_key: str | None, ext: str) -> None:
    """``name.pem`` / ``name.key``: an EC P-256 key and a certificate for it, self-signed when *ca* is None."""
    key, pem, ext_file = folder / f"{name}.key", folder / f"{name}.pem", folder / f"{name}.ext"
    ext_file.write_text(ext)
    _openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", str(key))
    if ca is None:
        _openssl(
            "req",
            "-new",
            "-x509",
            "-key",
            str(key),
            "-out",
            str(pem),
            "-days",
            "2",
            "-subj",
            subject,
            "-extensions",
            "v3",
            "-config",
            str(ext_file),
        )
        return
    csr = folder / f"{name}.csr"
    _openssl("req", "-new", "-key", str(key), "-out", str(csr), "-subj", subject, "-config", str(ext_file))
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        ca,
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-out",
        str(pem),
        "-days",
        "2",
        "-extfile",
        str(ext_file),
        "-extensions",
        "v3",
    )


_CA_EXT = "[req]\ndistinguished_name=dn\n[dn]\n[v3]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=keyCertSign,cRLSign\n"
_LEAF_EXT = "[req]\ndistinguished_name=dn\n[dn]\n[v3]\nbasicConstraints=critical,CA:FALSE\n"


def make_certificates(folder: pathlib.Path) -> dict:
    """PEM files in *folder*, made with the openssl command: ``ca``, ``server_cert``/``server_key``
    (127.0.0.1, localhost), ``client_cert``/``client_key`` (CN=client), ``other_ca`` and
    ``rogue_cert``/``rogue_key`` (a client certificate from a CA the server does not trust)."""
    org = "/O=Wishbone tests"
    _issue(folder, "ca", f"/CN=Wishbone test CA{org}", None, None, _CA_EXT)
    ca, ca_key = str(folder / "ca.pem"), str(folder / "ca.key")
    _issue(
        folder, "server", f"/CN=localhost{org}", ca, ca_key, _LEAF_EXT + "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
    )
    _issue(folder, "client", f"/CN=client{org}", ca, ca_key, _LEAF_EXT)
    _issue(folder, "other_ca", f"/CN=Other CA{org}", None, None, _CA_EXT)
    other, other_key = str(folder / "other_ca.pem"), str(folder / "other_ca.key")
    _issue(folder, "rogue", f"/CN=rogue{org}", other, other_key, _LEAF_EXT)
    out = {"ca": ca, "other_ca": other}
    for name in ("server", "client", "rogue"):
        out[f"{name}_cert"], out[f"{name}_key"] = str(folder / f"{name}.pem"), str(folder / f"{name}.key")
    return out


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
    return wait_until


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


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, as PEM files."""
    return make_certificates(tmp_path_factory.mktemp("certs"))
