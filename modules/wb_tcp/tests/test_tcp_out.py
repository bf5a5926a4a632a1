"""tcp_out against real TCP servers on 127.0.0.1: batches, framings, servers that go away, TLS."""

from __future__ import annotations

import ssl

import gevent
import gevent.ssl
import pytest
from wb_tcp import TCPOut
from wishbone import framing, new_event, track
from wishbone.testing import Harness


def events(n: int, start: int = 0) -> list[dict]:
    return [new_event(f"event {i}") for i in range(start, start + n)]


def test_batches_are_written_in_order_one_write_each(sink, wait_until):
    with gevent.Timeout(15), Harness(TCPOut, {"port": sink.port}) as h:
        wait_until(lambda: h.module.ready, 5, "connected")
        for start in range(0, 1000, 100):
            h.feed(events(100, start))
        h.wait_consumed(1000)
        wait_until(lambda: len(sink.lines()) == 1000, 5, "1000 lines at the server")
        metrics = h.module.metrics()
    assert sink.lines() == [f"event {i}".encode() for i in range(1000)]
    assert metrics["sent"] == 1000 and metrics["batches"] <= 10 and metrics["connects"] == 1


@pytest.mark.parametrize("name", ["octet_counting", "length_prefix"])
def test_counted_framings_and_json(sink, name, wait_until):
    data = [{"a": 1}, "multi\nline", b"\x00\x01"]
    with gevent.Timeout(15), Harness(TCPOut, {"port": sink.port, "framing": name, "encode": "json"}) as h:
        h.feed([new_event(d) for d in data])
        h.wait_consumed(3)
        wait_until(lambda: len(framing.decoder(name).feed(sink.data())) == 3, 5, "3 frames")
    assert framing.decoder(name).feed(sink.data()) == [b'{"a":1}', b'"multi\\nline"', b'"\\u0000\\u0001"']


def test_raw_encoding_and_a_newline_inside_data_goes_to_failed(sink, wait_until):
    with gevent.Timeout(15), Harness(TCPOut, {"port": sink.port}) as h:
        h.feed([new_event(b"bytes"), new_event("two\nlines"), new_event({"k": [1]}), new_event("text")])
        [failed] = h.collect("failed", 1)
        h.wait_consumed(4)
        wait_until(lambda: len(sink.lines()) == 3, 5, "3 lines")
    assert sink.lines() == [b"bytes", b'{"k":[1]}', b"text"]
    assert failed["data"] == "two\nlines" and "holds a newline" in failed["headers"]["error"]["message"]


def test_a_server_that_is_not_there_yet_gets_everything_once_it_is(wait_until, sink_factory, tcp_port):
    port = tcp_port
    with gevent.Timeout(20), Harness(TCPOut, {"port": port, "reconnect_max": 0.2}) as h:
        h.feed(events(300))
        wait_until(lambda: h.module.metrics()["connect_failures"] >= 2, 5, "two failed attempts")
        assert not h.module.ready
        assert h.module.metrics()["sent"] == 0  # waiting, not dropping
        server = sink_factory(port)
        try:
            wait_until(lambda: len(server.lines()) == 300, 10, "300 lines once the server is up")
            assert server.lines() == [f"event {i}".encode() for i in range(300)]
        finally:
            server.stop()


def test_a_connection_the_server_closed_is_never_written_into(sink, wait_until):
    """Between batches the server closes the connection: the next batch goes to a new one, whole."""
    with gevent.Timeout(30), Harness(TCPOut, {"port": sink.port, "reconnect_initial": 0.05}) as h:
        for round_ in range(5):
            h.feed(events(100, round_ * 100))
            wanted = (round_ + 1) * 100
            wait_until(lambda n=wanted: len(sink.lines()) == n, 5, f"round {round_} at the server")
            sink.close_all()  # and the next batch is fed at once
        metrics = h.module.metrics()
    assert sink.lines() == [f"event {i}".encode() for i in range(500)]
    assert metrics["connects"] == 5 and metrics["sent"] == 500


def test_a_server_restart_loses_nothing_that_was_not_yet_written(wait_until, sink_factory):
    server = sink_factory()
    port = server.port
    with gevent.Timeout(30), Harness(TCPOut, {"port": port, "reconnect_initial": 0.05, "reconnect_max": 0.2}) as h:
        h.feed(events(100))
        wait_until(lambda: len(server.lines()) == 100, 5, "the first 100")
        server.stop()  # the server goes away
        h.feed(events(100, 100))
        wait_until(lambda: h.module.metrics()["connect_failures"] >= 1, 5, "a failed attempt")
        assert not h.module.ready
        server = sink_factory(port)  # and comes back on the same port
        try:
            wait_until(lambda: len(server.lines()) == 100, 10, "the next 100 after the restart")
        finally:
            server.stop()
    assert server.lines() == [f"event {i}".encode() for i in range(100, 200)]


def test_a_stop_without_a_server_abandons_the_unwritten_so_a_tracked_input_redelivers(wait_until, tcp_port):
    settled: list = []
    h = Harness(TCPOut, {"port": tcp_port})
    with gevent.Timeout(15):
        h.start()
        h.feed([track(e, lambda tag, ok: settled.append((tag, ok)), i) for i, e in enumerate(events(5))])
        gevent.sleep(0.3)
        h.stop(2.0)
    assert h.stop_seconds is not None and h.stop_seconds < 2.5
    assert h.module.metrics()["abandoned"] == 5
    assert h.collected("failed") == []
    wait_until(lambda: len(settled) == 5, 5, "5 settlements")
    assert sorted(settled) == [(i, None) for i in range(5)]  # None: abandoned, to be redelivered


def test_delivered_events_settle_ok(sink, wait_until):
    settled: list = []
    with gevent.Timeout(15), Harness(TCPOut, {"port": sink.port}) as h:
        h.feed([track(e, lambda tag, ok: settled.append(ok), i) for i, e in enumerate(events(10))])
        h.wait_consumed(10)
        wait_until(lambda: len(settled) == 10, 5, "10 settlements")
    assert settled == [True] * 10


def tls_sink(certs: dict, sink_factory):
    context = gevent.ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs["server_cert"], certs["server_key"])
    return sink_factory(ssl_context=context)


def test_tls_to_a_server_whose_certificate_checks_out(tls_certs, wait_until, sink_factory):
    server = tls_sink(tls_certs, sink_factory)
    try:
        variables = {"port": server.port, "tls": True, "tls_ca": tls_certs["ca"], "tls_server_name": "localhost"}
        with gevent.Timeout(15), Harness(TCPOut, variables) as h:
            h.feed(events(20))
            wait_until(lambda: len(server.lines()) == 20, 5, "20 lines over TLS")
    finally:
        server.stop()
    assert server.lines()[0] == b"event 0"


def test_tls_refuses_a_server_it_cannot_verify(tls_certs, wait_until, sink_factory):
    server = tls_sink(tls_certs, sink_factory)
    try:
        variables = {"port": server.port, "tls": True, "tls_ca": tls_certs["other_ca"], "reconnect_max": 0.2}
        with gevent.Timeout(15), Harness(TCPOut, variables) as h:
            h.feed(events(3))
            wait_until(lambda: h.module.metrics()["connect_failures"] >= 2, 5, "refused connections")
            assert not h.module.ready and server.lines() == []
            h.stop(1.0)
        assert h.module.metrics()["abandoned"] == 3
    finally:
        server.stop()


def test_bad_parameters_are_refused_by_name():
    for bad, match in (
        ({"port": 0}, "port"),
        ({"port": 1, "host": ""}, "host"),
        ({"port": 1, "tls_ca": "ca.pem"}, "tls"),
        ({"port": 1, "reconnect_initial": 5.0, "reconnect_max": 1.0}, "reconnect"),
        ({"port": 1, "write_timeout": 0}, "write_timeout"),
        ({"port": 1, "encode": "lines"}, "framing does"),
        ({"port": 1, "encode": "yaml"}, "encode"),
    ):
        with pytest.raises(ValueError, match=match):
            TCPOut(**bad)
