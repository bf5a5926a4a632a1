"""The outside services module tests talk to: a free UDP port, and the rule for a missing server.

Connector packages bring their own servers' fixtures (wb-amqp's pytest plugin has the
broker's); what they share is here: :func:`unavailable` skips a test whose server is not
running, saying how to start it, and fails it under ``CI=true``, where a missing server is a
broken build, not a reason to skip.

Plain blocking sockets with short timeouts: this runs at fixture setup, outside any
greenlet, and must not depend on (or cause) monkey-patching.
"""

from __future__ import annotations

import os
import socket
from typing import NoReturn

__all__ = ["free_udp_port", "in_ci", "unavailable"]


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port on *host* that nothing is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def in_ci() -> bool:
    """True under ``CI=true`` (or ``1``, ``yes``): missing servers fail instead of skipping."""
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def unavailable(message: str) -> NoReturn:
    """Skip the test with *message* (say how to start the server), or fail it under ``CI=true``.

    Call it from a fixture that found its server missing::

        problem = redis_available(url)
        if problem:
            unavailable(f"Redis is needed: {problem}; start it with `redis-server --daemonize yes`")
    """
    import pytest

    if in_ci():
        pytest.fail(f"{message} (CI=true: a missing server fails the build)", pytrace=False)
    pytest.skip(message)
