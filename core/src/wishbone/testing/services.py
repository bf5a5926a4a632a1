"""The outside services module tests talk to: free ports, a cooperative wait, and the rule for a missing server.

Connector packages bring their own servers' fixtures (wb-amqp's pytest plugin has the
broker's); what they share is here: :func:`unavailable` skips a test whose server is not
running, saying how to start it, and fails it under ``CI=true``, where a missing server is a
broken build, not a reason to skip.

Plain blocking sockets with short timeouts: this runs at fixture setup, outside any
greenlet, and must not depend on (or cause) monkey-patching. :func:`poll_until` is the one
thing here that yields to gevent: a test's own servers and modules go on while it waits.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import NoReturn

__all__ = ["free_tcp_port", "free_udp_port", "in_ci", "poll_until", "unavailable"]


def free_udp_port(host: str = "127.0.0.1") -> int:
    """A UDP port on *host* that nothing is bound to right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A TCP port on *host* that nothing listens on right now (bound once, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def poll_until(predicate: Callable[[], object], timeout: float = 5.0, what: str = "the condition") -> None:
    """Poll *predicate*, yielding to gevent between looks, until it is true; AssertionError after *timeout* s.

    For tests whose servers and modules run in this process's hub (a plain ``time.sleep``
    would stop them); :func:`wishbone.testing.cli.wait_until` is its counterpart for child processes.
    """
    import gevent

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        gevent.sleep(0.01)


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
