"""Helpers of wb-tcp's tests: free ports, certificates made at test time, a line-counting TCP server."""

from __future__ import annotations

import datetime
import ipaddress
import pathlib
import socket
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


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


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Wishbone tests"),
        ]
    )


def _write(path: pathlib.Path, key, cert: x509.Certificate) -> tuple[str, str]:
    key_path = path.with_suffix(".key")
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_path = path.with_suffix(".pem")
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(cert_path), str(key_path)


def _cert(subject: str, issuer: x509.Name, key, signer, ca: bool, sans: list | None = None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(signer, hashes.SHA256())


def make_certificates(folder: pathlib.Path) -> dict:
    """PEM files in *folder*: ``ca``, ``server_cert``/``server_key`` (127.0.0.1, localhost),
    ``client_cert``/``client_key`` (CN=client), ``other_ca`` and ``rogue_cert``/``rogue_key``
    (a client certificate from a CA the server does not trust)."""
    out: dict = {}
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("Wishbone test CA", _name("Wishbone test CA"), ca_key, ca_key, ca=True)
    out["ca"], _ = _write(folder / "ca", ca_key, ca)
    sans = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    key = ec.generate_private_key(ec.SECP256R1())
    out["server_cert"], out["server_key"] = _write(
        folder / "server", key, _cert("localhost", ca.subject, key, ca_key, False, sans)
    )
    key = ec.generate_private_key(ec.SECP256R1())
    out["client_cert"], out["client_key"] = _write(
        folder / "client", key, _cert("client", ca.subject, key, ca_key, False)
    )
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = _cert("Other CA", _name("Other CA"), other_key, other_key, ca=True)
    out["other_ca"], _ = _write(folder / "other_ca", other_key, other)
    key = ec.generate_private_key(ec.SECP256R1())
    out["rogue_cert"], out["rogue_key"] = _write(
        folder / "rogue", key, _cert("rogue", other.subject, key, other_key, False)
    )
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
