"""udp_out: a plain socket on 127.0.0.1 receives what it sends."""

from __future__ import annotations

import json
import socket

import gevent
import gevent.socket
import pytest
from wb_udp import UDPOut
from wishbone import BootstrapError, Pipeline, new_event
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
    assert h.module.metrics() == {"sent": 5, "send_errors": 0, "encode_errors": 0}


def test_a_datagram_too_long_goes_to_failed_and_is_counted(receiver):
    port = receiver.getsockname()[1]
    with gevent.Timeout(10), Harness(UDPOut, {"port": port}) as h:
        h.feed([new_event(b"x" * 70_000), new_event("after")])
        [bad] = h.collect("failed", 1)
        assert receiver.recvfrom(65535)[0] == b"after"
    assert bad["headers"]["error"]["type"] == "OSError"
    assert "too long" in bad["headers"]["error"]["message"]
    assert h.module.metrics() == {"sent": 1, "send_errors": 1, "encode_errors": 0}


@pytest.mark.parametrize(
    ("encode", "data", "datagram"),
    [
        ("json", "just a string", b'"just a string"'),
        ("json", {"ü": "✓", "n": float("nan")}, '{"ü":"✓","n":null}'.encode()),
        ("lines", "hello", b"hello\n"),
        ("json_lines", {"a": 1}, b'{"a":1}\n'),
        ("msgpack", {"a": b"\xff"}, b"\x81\xa1a\xc4\x01\xff"),
        ("text", "héllo", "héllo".encode()),
    ],
)
def test_every_codec_of_the_core_encodes_datagrams(receiver, encode, data, datagram):
    port = receiver.getsockname()[1]
    with gevent.Timeout(10), Harness(UDPOut, {"port": port, "encode": encode}) as h:
        h.feed([new_event(data)])
        assert receiver.recvfrom(65535)[0] == datagram
        h.wait_consumed(1)


def test_data_the_codec_cannot_encode_goes_to_failed_and_is_counted(receiver):
    port = receiver.getsockname()[1]
    with gevent.Timeout(10), Harness(UDPOut, {"port": port, "encode": "text"}) as h:
        h.feed([new_event({"not": "text"}), new_event("after")])
        [bad] = h.collect("failed", 1)
        assert receiver.recvfrom(65535)[0] == b"after"
    assert bad["headers"]["error"] == {
        "module": h.module.name,
        "type": "CodecError",
        "message": "text encodes str, not dict",
    }
    assert h.module.metrics() == {"sent": 1, "send_errors": 0, "encode_errors": 1}


def test_an_unknown_encode_is_a_load_error_naming_the_codecs():
    with pytest.raises(BootstrapError, match="bootstrap.out.*encode: unknown codec 'xml'"):
        build(
            {"input": ("testevent", {}), "out": ("udp_out", {"port": 9, "encode": "xml"})},
            {"input.outbox": ["out.inbox"]},
        )


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


def test_ready_while_the_socket_is_open(receiver):
    h = Harness(UDPOut, {"port": receiver.getsockname()[1]})
    assert not h.module.ready
    with gevent.Timeout(10), h:
        assert h.module.ready
    assert not h.module.ready
