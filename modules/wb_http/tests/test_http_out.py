"""http_out against a real HTTP server on 127.0.0.1: batches, retries, permanent refusals, acks."""

from __future__ import annotations

import json

import gevent
from gevent.pywsgi import WSGIServer
from wb_http import HTTPOut
from wishbone.ack import track
from wishbone.testing.harness import Harness


def events(n: int, start: int = 0) -> list[dict]:
    return [{"headers": {"h": i}, "data": {"i": i}} for i in range(start, start + n)]


def test_a_batch_is_one_ndjson_request(http_sink):
    with Harness(HTTPOut, {"url": http_sink.url}) as h, gevent.Timeout(10):
        for start, n in ((0, 100), (100, 100), (200, 50)):
            h.feed(events(n, start))
            h.wait_consumed(start + n)
    lines = [json.loads(line) for body in http_sink.bodies for line in body.splitlines()]
    assert lines == [{"i": i} for i in range(250)]
    assert len(http_sink.bodies) == 3  # one request per batch
    assert http_sink.headers[0]["CONTENT_TYPE"] == "application/x-ndjson"
    assert h.module.metrics()["sent"] == 250 and h.module.ready


def test_json_array_whole_events_and_single(http_sink):
    with Harness(HTTPOut, {"url": http_sink.url, "format": "json_array", "complete": True}) as h, gevent.Timeout(10):
        h.feed(events(3))
        h.wait_consumed(3)
    assert json.loads(http_sink.bodies[0]) == [{"headers": {"h": i}, "data": {"i": i}} for i in range(3)]
    http_sink.bodies.clear()
    with Harness(HTTPOut, {"url": http_sink.url, "format": "single", "encode": "text"}) as h, gevent.Timeout(10):
        h.feed([{"headers": {}, "data": "a"}, {"headers": {}, "data": "b"}])
        h.wait_consumed(2)
    assert http_sink.bodies == [b"a", b"b"]


def test_5xx_and_429_are_retried_until_delivered(http_sink):
    http_sink.statuses = [503, 500, 429]
    with Harness(HTTPOut, {"url": http_sink.url, "retry_initial": 0.01}) as h, gevent.Timeout(10):
        h.feed(events(5))
        h.wait_consumed(5)
    assert len(http_sink.bodies) == 1 and h.module.metrics()["retries"] == 3
    assert h.collected("failed") == []


def test_a_permanent_4xx_sends_the_batch_to_failed(http_sink):
    http_sink.statuses = [400]
    with Harness(HTTPOut, {"url": http_sink.url}) as h, gevent.Timeout(10):
        h.feed(events(4))
        failed = h.collect("failed", 4)
    assert failed[0]["headers"]["error"]["type"] == "PermanentError"
    assert "HTTP 400" in failed[0]["headers"]["error"]["message"]
    assert http_sink.bodies == []


def test_a_server_that_comes_up_later_gets_everything(http_sink):
    port = http_sink.server.server_port
    http_sink.server.stop()
    with Harness(HTTPOut, {"url": f"http://127.0.0.1:{port}/in", "retry_initial": 0.05, "retry_max": 0.2}) as h:
        with gevent.Timeout(15):
            h.feed(events(10))
            gevent.sleep(0.5)
            assert not h.module.ready and h.module.metrics()["retries"] > 0
            # the same sink comes up on the same port (its server object is spent once stopped)
            http_sink.server = WSGIServer(("127.0.0.1", port), http_sink._app, log=None, error_log=None)
            http_sink.server.start()
            h.wait_consumed(10, timeout=10)
    assert [json.loads(x) for x in http_sink.bodies[0].splitlines()] == [{"i": i} for i in range(10)]


def test_a_tracked_event_settles_only_after_the_2xx(http_sink):
    settled = []
    http_sink.statuses = [503]
    with Harness(HTTPOut, {"url": http_sink.url, "retry_initial": 0.3}) as h, gevent.Timeout(10):
        h.feed([track(e, lambda tag, ok: settled.append((tag, ok)), e["data"]["i"]) for e in events(3)])
        gevent.sleep(0.15)
        assert settled == []  # the first attempt got a 503: not delivered yet
        h.wait_consumed(3)
        gevent.sleep(0.05)
    assert sorted(settled) == [(0, True), (1, True), (2, True)]
