"""syslog_out to real receivers on 127.0.0.1: UDP datagrams, TCP frames, parsed back; a server that comes late."""

from __future__ import annotations

import socket

import gevent
import gevent.socket
import pytest
from wb_syslog import SyslogIn, SyslogOut, parse
from wishbone import framing, new_event, track
from wishbone.testing import Harness


def test_udp_rfc5424_from_fields_and_defaults():
    receiver = gevent.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(5)
    variables = {"port": receiver.getsockname()[1], "hostname": "me", "app": "wb", "facility": 16}
    fields = {"severity": 3, "app": "nginx", "msgid": "ACC", "structured_data": {"r@1": {"k": "v"}}, "message": "hi"}
    with gevent.Timeout(10), Harness(SyslogOut, variables) as h:
        h.feed([new_event(fields), new_event("plain text"), new_event([1, 2])])
        datagrams = [receiver.recv(65535).decode() for _ in range(3)]
    receiver.close()
    first, second, third = (parse(d) for d in datagrams)
    assert (first["facility"], first["severity"], first["host"], first["app"]) == (16, 3, "me", "nginx")
    assert first["structured_data"] == {"r@1": {"k": "v"}} and first["message"] == "hi"
    assert (second["app"], second["severity"], second["message"]) == ("wb", 5, "plain text")
    assert third["message"] == "[1, 2]" and first["rfc"] == "5424" and first["timestamp"].endswith("Z")
    assert h.module.metrics()["sent"] == 3


@pytest.mark.parametrize("fmt", ["rfc5424", "rfc3164"])
@pytest.mark.parametrize("frame", ["octet_counting", "newline"])
def test_tcp_frames_parse_back(fmt, frame, wait_until, tcp_sink):
    sink = tcp_sink()
    try:
        variables = {"port": sink.port, "transport": "tcp", "format": fmt, "framing": frame, "hostname": "h"}
        with gevent.Timeout(10), Harness(SyslogOut, variables) as h:
            h.feed([new_event({"app": "a", "procid": "1", "message": f"m {i}"}) for i in range(100)])
            h.feed([new_event("two\nlines")])
            h.wait_consumed(101)
            if frame == "newline":
                [failed] = h.collect("failed", 1)
                assert "holds a newline" in failed["headers"]["error"]["message"]
            wanted = 100 if frame == "newline" else 101

            def frames() -> list[bytes]:
                return framing.decoder(frame).feed(sink.data())

            wait_until(lambda: len(frames()) == wanted, 5, f"{wanted} frames")
    finally:
        sink.stop()
    parsed = [parse(f.decode()) for f in frames()]
    assert [p["message"] for p in parsed[:100]] == [f"m {i}" for i in range(100)]
    assert all(
        p["rfc"] == fmt[3:] and p["host"] == "h" and p["app"] == "a" and p["procid"] == "1" for p in parsed[:100]
    )
    if frame == "octet_counting":  # a newline inside a message is carried by octet counting
        assert parsed[100]["message"] == "two\nlines"


def test_tcp_server_that_comes_late_gets_everything_and_a_stop_without_it_abandons(wait_until, free_port, tcp_sink):
    port = free_port()
    with gevent.Timeout(20), Harness(SyslogOut, {"port": port, "transport": "tcp", "reconnect_max": 0.2}) as h:
        h.feed([new_event(f"m{i}") for i in range(50)])
        wait_until(lambda: h.module.metrics()["connect_failures"] >= 2, 5, "two failed attempts")
        assert not h.module.ready
        sink = tcp_sink(port)
        try:
            wait_until(lambda: len(framing.decoder("octet_counting").feed(sink.data())) == 50, 10, "50 messages")
        finally:
            sink.stop()
    settled: list = []
    h = Harness(SyslogOut, {"port": free_port(), "transport": "tcp"})
    with gevent.Timeout(10):
        h.start()
        h.feed([track(new_event("x"), lambda tag, ok: settled.append(ok), 1)])
        gevent.sleep(0.2)
        h.stop(1.5)
    wait_until(lambda: settled == [None], 5, "the abandoned event settled")
    assert h.module.metrics()["abandoned"] == 1


def test_syslog_out_to_syslog_in_over_udp_keeps_every_field():
    fields = {
        "facility": 23,
        "severity": 7,
        "timestamp": "2024-05-01T10:00:00.5+02:00",
        "host": "web01",
        "app": "api",
        "procid": "99",
        "msgid": "REQ",
        "structured_data": {"a@1": {"x": "1", "y": 'q"uote'}},
        "message": "ünïcode message",
    }
    with gevent.Timeout(10), Harness(SyslogIn, {"port": 0}) as server:
        with Harness(SyslogOut, {"port": server.module.port}) as client:
            client.feed([new_event(fields)])
            [event] = server.collect("outbox", 1)
    assert {k: event["data"][k] for k in fields} == fields


def test_bad_parameters_are_refused_by_name():
    for bad, match in (
        ({"port": 0}, "port"),
        ({"port": 1, "facility": 24}, "facility"),
        ({"port": 1, "severity": 8}, "severity"),
        ({"port": 1, "format": "rfc9999"}, "format"),
    ):
        with pytest.raises(ValueError, match=match):
            SyslogOut(**bad)
