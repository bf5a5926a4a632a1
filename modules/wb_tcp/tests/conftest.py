"""Fixtures of wb-tcp's tests: a free TCP port, test certificates; ``tcp_helpers`` importable."""

from __future__ import annotations

import pathlib
import sys

import pytest

_HERE = str(pathlib.Path(__file__).parent)
if _HERE not in sys.path:  # importlib import mode does not add this folder by itself
    sys.path.insert(0, _HERE)

from tcp_helpers import free_tcp_port, make_certificates  # noqa: E402  (needs the path above)


@pytest.fixture
def tcp_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on."""
    return free_tcp_port()


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, as PEM files."""
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def sink():
    """A TCP server on 127.0.0.1 keeping what it receives (see tcp_helpers.Sink)."""
    from tcp_helpers import Sink

    server = Sink()
    yield server
    server.stop()
