"""udp_out: a plain socket on 127.0.0.1 receives what it sends."""

from __future__ import annotations

import json
import socket

import gevent
import gevent.socket
import pytest
from wb_udp import UDPOut
from wishbone import Pipeline, new_event
from wishbone.testing import Harness, bootstrap, free_udp_port


def build(modules: dict, routes: dict) -> Pipeline:
    """The pipeline of :func:`wishbone.testing.bootstrap`'s document."""
    return Pipeline.from_dict(bootstrap(modules, routes))


@pytest.fixture
def receiver():
    """A plain gevent UDP socket on 127.0.0.1 with a roomy receive buffer."""
    s = gevent.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)
    yield s
    s.close()


def test_bytes_text_and_other_data_are_sent_as_one_datagram_each(receiver):
    port = receiver.getsockname()[1]
    data = [b"\x00raw\xff", "héllo", {"a": [1, 2.5, None]}, 42, ["x"]]
    with gevent.Timeout(10), Harness(UDPOut, {"port": port}) as h:
        h.feed([new_event(d) for d in data])
        got = [receiver.recvfrom(65535)[0] for _ in data]
        h.wait_consumed(len(data))
    assert got[0] == b"\x00raw\xff"
    assert got[1] == "héllo".encode()
    assert json.loads(got[2]) == {"a": [1, 2.5, None]}
    assert got[3:] == [b"42", b'["x"]']
    assert h.module.metrics() == {"sent": 5, "send_errors": 0}


def test_a_datagram_too_long_goes_to_failed_and_is_counted(receiver):
    port = receiver.getsockname()[1]
    with gevent.Timeout(10), Harness(UDPOut, {"port": port}) as h:
        h.feed([new_event(b"x" * 70_000), new_event("after")])
        [bad] = h.collect("failed", 1)
        assert receiver.recvfrom(65535)[0] == b"after"
    assert bad["headers"]["error"]["type"] == "OSError"
    assert "too long" in bad["headers"]["error"]["message"]
    assert h.module.metrics() == {"sent": 1, "send_errors": 1}


def test_a_pipeline_sends_every_event(receiver, wait_until):
    port = receiver.getsockname()[1]
    got = []

    def read() -> None:
        while len(got) < 5000:
            got.append(receiver.recvfrom(65535)[0])

    reader = gevent.spawn(read)
    p = build(
        {"input": ("testevent", {"interval": 0, "count": 5000, "payload": "ping"}), "out": ("udp_out", {"port": port})},
        {"input.outbox": ["out.inbox"]},
    )
    with gevent.Timeout(20):
        p.start()
        assert p.join_inputs(10)
        wait_until(lambda: reader.dead, 10, "5000 datagrams at the receiver")
        assert p.stop(5)
    assert got == [b"ping"] * 5000
    assert p.snapshot()["modules"]["out"]["sent"] == 5000


def test_udp_out_into_udp_in_round_trip(wait_until):
    port = free_udp_port()
    p = build(
        {
            "input": ("testevent", {"interval": 0, "count": 2000, "payload": {"n": 1}}),
            "out": ("udp_out", {"port": port}),
            "udp": ("udp_in", {"port": port, "decode": "json"}),
            "sink": ("null", {}),
        },
        {"input.outbox": ["out.inbox"], "udp.outbox": ["sink.inbox"]},
    )
    with gevent.Timeout(20):
        p.start()  # every module's on_start runs before the first event is generated
        wait_until(lambda: p.modules["sink"].consumed == 2000, 10, "2000 events back")
        assert p.stop(5)
    snap = p.snapshot()["modules"]
    assert snap["out"]["sent"] == 2000
    assert snap["udp"]["datagrams"] == 2000
    assert snap["udp"]["decode_failures"] == 0
