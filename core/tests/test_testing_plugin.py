"""The pytest plugin: fixtures without imports, the missing-server rule (skip here, fail in CI), no patching.

The core's kit knows no server: connector packages bring their servers' fixtures and share
the rule through :func:`wishbone.testing.services.unavailable`.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

USES_FIXTURES = """
import pytest
from wishbone.testing.services import unavailable

@pytest.fixture
def some_server():
    unavailable("SomeServer is needed: nothing at 127.0.0.1:1; start it with `someserver --daemon`")

def test_udp_port(udp_port):
    assert 1024 <= udp_port < 65536

def test_needs_a_server(some_server):
    pass

def test_harness(harness):
    from wishbone.builtin.passthrough import Passthrough
    from wishbone.event import new_event
    with harness(Passthrough) as h:
        h.feed([new_event(1)])
        assert h.collect()[0]["data"] == 1
"""


def run_pytest(tmp_path: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    (tmp_path / "test_uses_fixtures.py").write_text(USES_FIXTURES)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-W", "error", *args],
        cwd=tmp_path,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_its_server_a_test_skips_and_says_how_to_start_it(tmp_path):
    done = run_pytest(tmp_path, {"CI": ""})
    assert done.returncode == 0, done.stdout
    assert "2 passed, 1 skipped" in done.stdout
    assert "start it with `someserver --daemon`" in done.stdout


def test_without_its_server_a_test_fails_under_ci(tmp_path):
    done = run_pytest(tmp_path, {"CI": "true"})
    assert done.returncode == 1, done.stdout
    assert "1 error" in done.stdout and "2 passed" in done.stdout
    assert "CI=true: a missing server fails the build" in done.stdout


def test_the_cores_kit_knows_no_broker(tmp_path):
    # Only the core's plugin: none of a connector package's fixtures, and no broker client in it.
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--fixtures", "-p", "no:cacheprovider", "-p", "no:wb_amqp"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout
    assert "udp_port" in done.stdout
    assert "amqp_url" not in done.stdout and "amqp_vhost" not in done.stdout
    kit = Path(__file__).resolve().parents[1] / "src" / "wishbone" / "testing"
    for name in ("plugin.py", "services.py"):
        text = (kit / name).read_text().lower()
        assert "rabbitmq" not in text and "amqp_url =" not in text and "def amqp" not in text, f"{name} knows a broker"


def test_udp_port_is_free_to_bind(udp_port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", udp_port))  # OSError if something holds it
        assert sock.getsockname() == ("127.0.0.1", udp_port)


def test_loading_the_plugin_patches_nothing_and_imports_no_monkey():
    code = (
        "import sys, wishbone.testing.plugin, wishbone.testing\n"
        "assert 'gevent.monkey' not in sys.modules, 'gevent.monkey imported'\n"
        "assert 'wishbone.testing.harness' not in sys.modules, 'harness imported at load'\n"
        "import gevent.monkey\n"
        "assert not gevent.monkey.is_anything_patched()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_the_plugin_is_registered_through_its_entry_point():
    from importlib.metadata import entry_points

    [ep] = [ep for ep in entry_points(group="pytest11") if ep.name == "wishbone"]
    assert ep.value == "wishbone.testing.plugin"


def test_pytest_fixtures_lists_them_with_their_documentation(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--fixtures", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    listed = done.stdout
    assert "wishbone/testing/plugin.py" in listed
    for line in ("A factory of harnesses", "A free UDP port on 127.0.0.1", "A CA, a server certificate"):
        assert line in listed


def _handshake(server: ssl.SSLContext, client: ssl.SSLContext) -> tuple[ssl.SSLObject, ssl.SSLObject]:
    """A TLS handshake in memory (no socket): each side checks the other's certificate."""
    server_in, server_out, client_in, client_out = (ssl.MemoryBIO() for _ in range(4))
    s = server.wrap_bio(server_in, server_out, server_side=True)
    c = client.wrap_bio(client_in, client_out, server_hostname="localhost")
    for _ in range(10):
        for side in (c, s):
            try:
                side.do_handshake()
            except ssl.SSLWantReadError:
                pass
        server_in.write(client_out.read())
        client_in.write(server_out.read())
    return s, c


def test_tls_certs_make_a_server_and_a_client_that_trust_each_other_and_a_rogue(tls_certs):
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tls_certs["server_cert"], tls_certs["server_key"])
    server.load_verify_locations(tls_certs["ca"])
    server.verify_mode = ssl.CERT_REQUIRED
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(tls_certs["ca"])
    client.load_cert_chain(tls_certs["client_cert"], tls_certs["client_key"])
    s, c = _handshake(server, client)
    assert dict(rdn[0] for rdn in s.getpeercert()["subject"])["commonName"] == "client"
    assert dict(rdn[0] for rdn in c.getpeercert()["subject"])["commonName"] == "localhost"
    stranger = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # trusts only the other CA: refuses the server
    stranger.load_verify_locations(tls_certs["other_ca"])
    with pytest.raises(ssl.SSLCertVerificationError):
        _handshake(server, stranger)
    rogue = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    rogue.load_verify_locations(tls_certs["ca"])
    rogue.load_cert_chain(tls_certs["rogue_cert"], tls_certs["rogue_key"])
    with pytest.raises(ssl.SSLError):  # the server refuses the rogue client's certificate
        _handshake(server, rogue)
