"""wishbone.blocking.call: a blocking call runs in a thread while the hub goes on."""

from __future__ import annotations

import socket
import threading
import time

import gevent
import pytest
from wishbone.blocking import BlockingTimeout, call


def test_the_hub_keeps_running_while_a_blocking_call_waits():
    ticks = []

    def ticker():
        while True:
            ticks.append(time.monotonic())
            gevent.sleep(0.01)

    g = gevent.spawn(ticker)
    with gevent.Timeout(5):
        assert call(time.sleep, 0.3) is None  # the stdlib sleep, not gevent's: it blocks its thread
    g.kill()
    assert len(ticks) > 15, "other greenlets ran while the call blocked"


def test_results_and_exceptions_come_back():
    assert call(lambda a, b=0: a + b, 1, b=2) == 3
    assert call(threading.get_ident) != threading.get_ident()
    with pytest.raises(ZeroDivisionError):
        call(lambda: 1 / 0)


def test_a_stalled_server_costs_a_thread_not_the_hub():
    """A real server that accepts and never answers: a stdlib recv blocks; call() gives up."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.create_connection(server.getsockname())
    client.settimeout(1.0)  # the driver's own timeout brings the thread back
    try:
        started = time.monotonic()
        with pytest.raises(BlockingTimeout, match="did not return within 0.2s"):
            call(client.recv, 10, timeout=0.2)
        assert time.monotonic() - started < 0.5
    finally:
        gevent.sleep(1.0)
        client.close()
        server.close()
