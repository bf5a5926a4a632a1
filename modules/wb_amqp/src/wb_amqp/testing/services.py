"""The broker the tests talk to: where it is, whether it answers, ``rabbitmqctl``.

Plain blocking sockets with short timeouts: this runs at fixture setup, outside any
greenlet, and must not depend on (or cause) monkey-patching. No AMQP client is needed here.
"""

from __future__ import annotations

import os
import socket
import subprocess
from urllib.parse import urlsplit

__all__ = [
    "AMQP_URL",
    "AMQP_URL_ENV",
    "START_BROKER",
    "amqp_available",
    "amqp_url_from_env",
    "rabbitmqctl",
    "vhost_url",
]

#: The broker the tests expect: a local RabbitMQ with its default account.
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"

#: Environment variable that points the tests at another broker.
AMQP_URL_ENV = "WISHBONE_TEST_AMQP_URL"

#: What a skipped test says.
START_BROKER = "start a local broker with `rabbitmq-server -detached` (guest/guest on 127.0.0.1:5672)"

# AMQP 0-9-1 protocol header; a broker answers it with a Connection.Start method frame.
_AMQP_HEADER = b"AMQP\x00\x00\x09\x01"
_FRAME_METHOD = 1


def amqp_url_from_env() -> str:
    """The broker URL for tests: ``$WISHBONE_TEST_AMQP_URL`` or :data:`AMQP_URL`."""
    return os.environ.get(AMQP_URL_ENV) or AMQP_URL


def amqp_available(url: str = AMQP_URL, timeout: float = 2.0) -> str | None:
    """None when an AMQP broker answers at *url*; otherwise why not, in one line."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5672
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(_AMQP_HEADER)
            reply = sock.recv(8)
    except OSError as exc:
        return f"no AMQP broker at {host}:{port} ({exc.strerror or exc})"
    if not reply or reply[0] != _FRAME_METHOD:
        return f"{host}:{port} answered, but not as an AMQP 0-9-1 broker (got {reply[:8]!r})"
    return None


def vhost_url(vhost: str, url: str | None = None) -> str:
    """The URL of *vhost* on the broker of *url* (default: :func:`amqp_url_from_env`), same account."""
    parts = urlsplit(url or amqp_url_from_env())
    user, password = parts.username or "guest", parts.password or "guest"
    return f"amqp://{user}:{password}@{parts.hostname or '127.0.0.1'}:{parts.port or 5672}/{vhost}"


def rabbitmqctl(*args: str, timeout: float = 60) -> str:
    """Run ``rabbitmqctl -q ARGS`` and return its output; RuntimeError (with its message) on failure."""
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr or done.stdout}")
    return done.stdout
