"""Readiness: amqp_in and amqp_out are ready only while connected with their topology declared.

Checked through the real Prometheus endpoint of the core (``/ready`` and
``wishbone_pipeline_ready``), which reads each module's ``ready``.
"""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

import gevent
import pytest
from prometheus_client.parser import text_string_to_metric_families
from wb_amqp.testing import close_all_connections, wait_for
from wishbone import Pipeline


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again on exit: nothing listens there


def _get(port: int, path: str) -> tuple[int, str]:
    """GET from a real thread (the endpoint runs in this hub): (status, body)."""

    def fetch() -> tuple[int, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.read().decode()

    with gevent.Timeout(10):
        return gevent.get_hub().threadpool.spawn(fetch).get()


def _pipeline_ready(port: int) -> float:
    status, body = _get(port, "/metrics")
    assert status == 200
    [value] = [
        s.value for f in text_string_to_metric_families(body) for s in f.samples if s.name == "wishbone_pipeline_ready"
    ]
    return value


def _pipeline(url: str, **variables) -> Pipeline:
    in_vars = {"url": url, "queue": "", "queue_exclusive": True, **variables}
    return Pipeline.from_dict(
        {
            "metrics": {"module": "prometheus", "interval": 60, "variables": {"port": 0}},
            "bootstrap": {
                "input": {"module": "amqp_in", "variables": in_vars},
                "output": {"module": "amqp_out", "variables": {"url": url, "routing_key": "nowhere", **variables}},
            },
            "routingtable": {"input.outbox": ["output.inbox"]},
        }
    )


@pytest.fixture
def running():
    started = []

    def start(p: Pipeline) -> int:
        p.start()
        started.append(p)
        return p.metrics_module.bound_port

    yield start
    for p in started:
        assert p.stop(10)


def test_pointed_at_a_closed_port_the_pipeline_is_not_ready(running):
    port = running(_pipeline(f"amqp://guest:guest@127.0.0.1:{_closed_port()}/%2F", reconnect_delay=0.1))
    gevent.sleep(0.5)  # several failed attempts
    assert _get(port, "/health")[0] == 200, "running, only not connected"
    assert _get(port, "/ready")[0] == 503
    assert _pipeline_ready(port) == 0


def test_ready_while_connected_not_ready_while_the_connection_is_lost(running, amqp_url, vhost):
    p = _pipeline(amqp_url, reconnect_delay=3.0, reconnect_max_delay=3.0)
    port = running(p)
    wait_for(lambda: _get(port, "/ready")[0] == 200, 10, what="/ready 200 once connected")
    assert _pipeline_ready(port) == 1
    assert p.modules["input"].ready and p.modules["output"].ready
    close_all_connections(vhost)
    wait_for(lambda: not p.modules["input"].ready and not p.modules["output"].ready, 5, what="both lost")
    assert _get(port, "/ready")[0] == 503  # reconnecting takes at least 2.4 s (3 s, jittered)
    assert _pipeline_ready(port) == 0
    wait_for(lambda: _get(port, "/ready")[0] == 200, 15, what="ready again after the reconnect")
