"""http_in on a real socket: answers after delivery, refuses what it must, survives bad clients."""

from __future__ import annotations

import base64
import statistics
import time

import gevent
import pytest
from gevent import socket
from geventhttpclient import HTTPClient
from wb_http import HTTPIn
from wishbone.ack import mark_failed
from wishbone.testing.harness import Harness


def start(**variables) -> Harness:
    h = Harness(HTTPIn, {"port": 0, **variables}, timeout=5)
    h.start()
    return h


def client(h: Harness) -> HTTPClient:
    return HTTPClient("127.0.0.1", h.module.bound_port, connection_timeout=5, network_timeout=10)


def post(h: Harness, body: bytes, path: str = "/", headers: dict | None = None) -> tuple[int, bytes]:
    c = client(h)
    try:
        r = c.request("POST", path, body=body, headers=headers or {})
        return r.status_code, r.read()
    finally:
        c.close()


def test_answers_200_only_once_the_events_are_delivered():
    h = start()
    try:
        with gevent.Timeout(10):
            answer = gevent.spawn(post, h, b'{"msg": "\\u00fc", "n": 1}')
            [event] = h.collect("outbox", 1)
            gevent.sleep(0.2)
            assert not answer.ready(), "answered before the event was delivered"
            assert event["data"] == {"msg": "ü", "n": 1}
            assert event["headers"]["http"]["path"] == "/" and event["headers"]["http"]["method"] == "POST"
            del event  # delivered: the output let go of it
            assert answer.get() == (200, b'{"accepted": 1}')
    finally:
        h.stop()
    assert h.module.metrics()["accepted"] == 1


def test_ndjson_body_becomes_one_event_per_line_with_one_answer():
    h = start(decode="json_lines")
    try:
        with gevent.Timeout(10):
            body = b"".join(b'{"i": %d}\n' % i for i in range(1000))
            answer = gevent.spawn(post, h, body)
            events = h.collect("outbox", 1000)
            assert [e["data"]["i"] for e in events] == list(range(1000))
            del events
            assert answer.get() == (200, b'{"accepted": 1000}')
    finally:
        h.stop()


def test_a_failed_delivery_answers_500():
    h = start()
    try:
        with gevent.Timeout(10):
            answer = gevent.spawn(post, h, b"[1, 2]")
            events = h.collect("outbox", 1)
            mark_failed(events)
            del events
            status, _ = answer.get()
            assert status == 500
    finally:
        h.stop()


def test_without_ack_it_answers_once_handed_on():
    h = start(ack=False)
    try:
        with gevent.Timeout(10):
            assert post(h, b'"x"')[0] == 200
            assert h.collect("outbox", 1)[0]["data"] == "x"
    finally:
        h.stop()


def test_not_delivered_in_time_answers_503_with_retry_after():
    h = start(ack_timeout=0.3)
    try:
        with gevent.Timeout(10):
            c = client(h)
            r = c.request("POST", "/", body=b"1")
            assert r.status_code == 503 and r["retry-after"] == "1"
            c.close()
            assert h.module.metrics()["timeouts"] == 1
    finally:
        h.stop()


@pytest.mark.parametrize(
    ("body", "path", "headers", "status"),
    [
        (b"{not json", "/", {}, 400),
        (b"\xff\xfe", "/", {}, 400),
        (b"1", "/elsewhere", {}, 404),
        (b"x" * 2000, "/", {}, 413),
    ],
)
def test_bad_requests_are_refused_and_nothing_is_emitted(body, path, headers, status):
    h = start(max_body=1000)
    try:
        with gevent.Timeout(10):
            got, answer = post(h, body, path, headers)
            assert got == status, answer
            gevent.sleep(0.05)
            assert h.collected("outbox") == []
    finally:
        h.stop()


def test_a_chunked_body_over_the_limit_is_refused_413():
    h = start(max_body=1000)
    try:
        with gevent.Timeout(10):
            s = socket.create_connection(("127.0.0.1", h.module.bound_port))
            chunk = b"x" * 800
            s.sendall(
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                + (b"%x\r\n%s\r\n" % (len(chunk), chunk)) * 2
                + b"0\r\n\r\n"
            )
            assert s.recv(100).startswith(b"HTTP/1.1 413")
            s.close()
    finally:
        h.stop()


def test_get_on_the_events_path_is_405_and_health_answers():
    h = start()
    try:
        with gevent.Timeout(10):
            c = client(h)
            assert c.get("/").status_code == 405
            health = c.get("/health")
            assert health.status_code == 200 and health.read() == b"ok\n"
            c.close()
    finally:
        h.stop()


def test_bearer_and_basic_auth():
    h = start(auth_token="s3cret", ack=False)
    try:
        with gevent.Timeout(10):
            assert post(h, b"1")[0] == 401
            assert post(h, b"1", headers={"Authorization": "Bearer wrong"})[0] == 401
            assert post(h, b"1", headers={"Authorization": "Bearer s3cret"})[0] == 200
    finally:
        h.stop()
    basic = start(username="u", password="p", ack=False)
    try:
        with gevent.Timeout(10):
            good = "Basic " + base64.b64encode(b"u:p").decode()
            assert post(basic, b"1", headers={"Authorization": good})[0] == 200
            assert post(basic, b"1")[0] == 401
    finally:
        basic.stop()


def test_too_many_requests_in_flight_get_429():
    h = start(max_requests=1)
    try:
        with gevent.Timeout(10):
            first = gevent.spawn(post, h, b"1")
            events = h.collect("outbox", 1)  # held: the first request waits for its delivery
            c = client(h)
            r = c.request("POST", "/", body=b"2")
            assert r.status_code == 429 and r["retry-after"] == "1"
            c.close()
            del events
            assert first.get()[0] == 200
    finally:
        h.stop()


def test_garbage_and_silent_clients_do_not_stop_the_server():
    h = start(idle_timeout=0.3, ack=False)
    try:
        with gevent.Timeout(10):
            silent = socket.create_connection(("127.0.0.1", h.module.bound_port))
            garbage = socket.create_connection(("127.0.0.1", h.module.bound_port))
            garbage.sendall(b"\x16\x03\x01\x02\x00garbage that is not HTTP\r\n\r\n")
            assert garbage.recv(100).startswith(b"HTTP/1.1 400")
            gevent.sleep(0.6)
            silent.settimeout(2)
            assert silent.recv(10) == b"", "a silent client is cut off by the idle timeout"
            assert post(h, b'"still here"')[0] == 200
            silent.close()
            garbage.close()
    finally:
        h.stop()


def test_keep_alive_answers_do_not_wait_for_the_clients_delayed_ack():
    # pywsgi sends an answer's headers and body apart: without TCP_NODELAY the body waits for
    # the client's delayed ACK of the headers (40 ms on Linux), each request on the connection
    h = start(ack=False)
    try:
        with gevent.Timeout(20):
            s = socket.create_connection(("127.0.0.1", h.module.bound_port))
            took = []
            for _ in range(20):
                started = time.perf_counter()
                s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n1")
                answer = b""
                while not answer.endswith(b'{"accepted": 1}'):
                    answer += s.recv(4096)
                took.append(time.perf_counter() - started)
            s.close()
            assert statistics.median(took) < 0.02, f"median {statistics.median(took) * 1000:.1f} ms a request"
    finally:
        h.stop()
