"""wishbone.testing.services: free ports and the cooperative wait the packages' tests share."""

from __future__ import annotations

import socket

import gevent
import pytest
from wishbone.testing import free_tcp_port, free_udp_port, poll_until


def test_the_free_ports_can_be_bound():
    for kind, port in ((socket.SOCK_STREAM, free_tcp_port()), (socket.SOCK_DGRAM, free_udp_port())):
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind(("127.0.0.1", port))


def test_poll_until_lets_the_hub_run_and_fails_saying_what_it_waited_for():
    done = []
    gevent.spawn_later(0.05, done.append, True)
    poll_until(lambda: done, 5, "the greenlet")  # a blocking sleep would never see it
    with pytest.raises(AssertionError, match="timed out after 0.1 s waiting for nothing"):
        poll_until(lambda: False, 0.1, "nothing")
