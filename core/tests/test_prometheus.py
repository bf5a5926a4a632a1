"""The ``prometheus`` metrics module: real HTTP scrapes of a running pipeline on 127.0.0.1.

The pipeline runs in this process's gevent hub; every scrape runs urllib in a real OS thread
(gevent's threadpool), so the hub keeps serving while the client blocks.
"""

from __future__ import annotations

import json
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import gevent
import pytest
from prometheus_client.parser import text_string_to_metric_families
from wishbone import BootstrapError, Module, Pipeline
from wishbone.builtin.prometheus import Prometheus
from wishbone.testing import load_bootstrap

EXAMPLE = pathlib.Path(__file__).resolve().parents[2] / "examples" / "prometheus.json"


class Gate(Module):
    """A sink whose readiness the test switches (the duck-typed ``ready`` attribute).

    Queues: inbox.
    """

    def __init__(self) -> None:
        self.ready = False


def build(modules: dict, routes: dict, metrics: dict | None = None, **kwargs) -> Pipeline:
    """A pipeline with the prometheus metrics module on a free port (``port`` 0 unless given)."""
    section = {"module": "prometheus", "interval": 60, "variables": {"port": 0, **(metrics or {})}}
    return Pipeline(load_bootstrap(modules, routes, section), **kwargs)


def get(port: int, path: str) -> tuple[int, str, str]:
    """GET http://127.0.0.1:port/path from a real thread: (status, content type, body)."""

    def fetch() -> tuple[int, str, str]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                return response.status, response.headers["Content-Type"], response.read().decode()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, exc.headers["Content-Type"], exc.read().decode()

    with gevent.Timeout(10):
        return gevent.get_hub().threadpool.spawn(fetch).get()


def scrape(port: int) -> dict[tuple[str, frozenset], float]:
    """The /metrics samples by (name, labels)."""
    status, ctype, body = get(port, "/metrics")
    assert status == 200 and ctype.startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def sample(samples: dict, name: str, **labels: str) -> float:
    """One sample's value; labels default to worker 0."""
    labels.setdefault("wishbone_instance", "0")
    return samples[(name, frozenset(labels.items()))]


def wait_until(predicate, timeout: float = 10.0) -> None:
    """Sleep cooperatively until *predicate()* is true."""
    with gevent.Timeout(timeout):
        while not predicate():
            gevent.sleep(0.01)


LINE = {
    "input": ("testevent", {"interval": 0.002, "count": 600}),
    "pt": ("passthrough", {}),
    "out": ("null", {}),
}
LINE_ROUTES = {"input.outbox": ["pt.inbox"], "pt.outbox": ["out.inbox"]}


def test_counters_move_while_running_and_agree_with_the_sink():
    p = build(LINE, LINE_ROUTES)
    with gevent.Timeout(30):
        p.start()
        port = p.metrics_module.bound_port
        wait_until(lambda: p.modules["out"].consumed > 0)
        first = scrape(port)
        wait_until(
            lambda: (
                p.modules["out"].consumed
                > first[("wishbone_module_consumed_total", frozenset({("module", "out"), ("wishbone_instance", "0")}))]
            )
        )
        second = scrape(port)
        assert sample(second, "wishbone_queue_events_in_total", queue="pt.inbox", module="pt") > sample(
            first, "wishbone_queue_events_in_total", queue="pt.inbox", module="pt"
        )
        assert p.join_inputs(20)
        wait_until(lambda: p.modules["out"].consumed == 600)
        final = scrape(port)
        assert sample(final, "wishbone_module_consumed_total", module="out") == 600
        assert sample(final, "wishbone_module_consumed_total", module="pt") == 600
        assert sample(final, "wishbone_module_failed_total", module="pt") == 0
        assert sample(final, "wishbone_module_generated", module="input") == 600
        for queue, module in (("input.outbox", "input"), ("pt.inbox", "pt"), ("pt.outbox", "pt"), ("out.inbox", "out")):
            assert sample(final, "wishbone_queue_events_in_total", queue=queue, module=module) == 600
            assert sample(final, "wishbone_queue_events_out_total", queue=queue, module=module) == 600
            assert sample(final, "wishbone_queue_events_dropped_total", queue=queue, module=module) == 0
            assert sample(final, "wishbone_queue_size", queue=queue, module=module) == 0
        assert sample(final, "wishbone_pipeline_healthy") == 1
        assert sample(final, "wishbone_pipeline_ready") == 1
        assert any(name == "process_cpu_seconds_total" for name, _ in final)
        assert p.stop(10)
    assert p.snapshot()["modules"]["out"]["consumed"] == 600
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass  # the endpoint closed with the pipeline


def test_a_durable_queue_exposes_its_disk_figures_and_memory_queues_none(tmp_path):
    doc = {
        "metrics": {"module": "prometheus", "interval": 60, "variables": {"port": 0}},
        "bootstrap": {
            "input": {"module": "testevent", "variables": {"interval": 0, "count": 1000}},
            "pt": {"module": "passthrough", "queues": {"inbox": {"durable": True, "path": str(tmp_path)}}},
            "out": {"module": "null"},
        },
        "routingtable": {"input.outbox": ["pt.inbox"], "pt.outbox": ["out.inbox"]},
    }
    p = Pipeline.from_dict(doc)
    with gevent.Timeout(30):
        p.start()
        wait_until(lambda: p.modules["out"].consumed == 1000)
        figures = p.snapshot()["queues"]["pt.inbox"]
        samples = scrape(p.metrics_module.bound_port)
        assert p.stop(10)
    durable = {"queue": "pt.inbox", "module": "pt"}
    assert sample(samples, "wishbone_queue_disk_bytes", **durable) == figures["bytes"] > 0
    assert sample(samples, "wishbone_queue_disk_segments", **durable) == figures["segments"] >= 1
    assert sample(samples, "wishbone_queue_disk_writes_total", **durable) == figures["writes"] >= 1
    assert sample(samples, "wishbone_queue_disk_syncs_total", **durable) == figures["syncs"] >= 1
    waited = sample(samples, "wishbone_queue_write_wait_seconds_total", **durable)
    assert waited == pytest.approx(figures["write_wait_ms"] / 1000)
    assert sample(samples, "wishbone_queue_damaged_records_total", **durable) == 0
    assert sample(samples, "wishbone_queue_replayed_events_total", **durable) == 0
    memory = frozenset({"queue": "out.inbox", "module": "out", "wishbone_instance": "0"}.items())
    assert ("wishbone_queue_disk_bytes", memory) not in samples


def test_health_and_ready_answer_200_then_503_when_a_module_stops():
    p = build(LINE, LINE_ROUTES)
    with gevent.Timeout(30):
        assert p.metrics_module.bound_port is None
        p.start()
        port = p.metrics_module.bound_port
        assert get(port, "/health")[::2] == (200, "ok\n")
        assert get(port, "/ready")[::2] == (200, "ok\n")
        gevent.killall(p.modules["out"].greenlets(), timeout=5)  # the sink's consumer dies
        assert get(port, "/health")[::2] == (503, "unavailable\n")
        assert get(port, "/ready")[0] == 503
        assert sample(scrape(port), "wishbone_pipeline_healthy") == 0
        p.stop(5)


def test_ready_follows_the_modules_ready_attribute():
    p = build(
        {"input": ("testevent", {"interval": 0.05}), "gate": (Gate, {})},
        {"input.outbox": ["gate.inbox"]},
    )
    with gevent.Timeout(30):
        p.start()
        port = p.metrics_module.bound_port
        assert get(port, "/health")[0] == 200
        assert get(port, "/ready")[0] == 503
        assert sample(scrape(port), "wishbone_pipeline_ready") == 0
        p.modules["gate"].ready = True
        assert get(port, "/ready")[0] == 200
        assert p.stop(5)


def test_draining_pipeline_answers_503_until_the_endpoint_closes():
    p = build(LINE, LINE_ROUTES)
    seen = []

    class Probe:
        from wishbone import hookimpl

        @hookimpl
        def wishbone_pipeline_draining(self, pipeline, timeout):
            seen.append(get(p.metrics_module.bound_port, "/health")[0])

    p.pm.register(Probe())
    with gevent.Timeout(30):
        p.start()
        assert p.stop(5)
    assert seen == [503]


def test_unknown_path_is_404_and_index_lists_endpoints():
    p = build(LINE, LINE_ROUTES)
    with gevent.Timeout(30):
        p.start()
        port = p.metrics_module.bound_port
        assert get(port, "/nothing")[0] == 404
        status, _, body = get(port, "/")
        assert status == 200 and "/metrics" in body
        p.stop(5)


def test_busy_port_fails_the_start_before_any_module_runs():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        p = build(LINE, LINE_ROUTES, metrics={"port": port})
        with gevent.Timeout(10), pytest.raises(RuntimeError, match=rf"cannot listen on 127.0.0.1:{port}"):
            p.start()
        assert not any(m.running for m in p.modules.values())
        p.stop(2)


def free_port_pair(offset: int) -> int:
    """A port P such that P + offset was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert port - offset > 1024
    return port - offset


def test_worker_n_serves_on_port_plus_n_with_its_instance_label():
    base = free_port_pair(3)
    p = build(LINE, LINE_ROUTES, metrics={"port": base}, instance=3)
    with gevent.Timeout(30):
        p.start()
        assert p.metrics_module.bound_port == base + 3
        samples = scrape(base + 3)
        assert sample(samples, "wishbone_module_consumed_total", module="out", wishbone_instance="3") >= 0
        assert {dict(labels).get("wishbone_instance") for name, labels in samples if name.startswith("wishbone_")} == {
            "3"
        }
        p.stop(5)


def test_two_pipelines_in_one_process_keep_their_own_figures():
    a = build(
        {"input": ("testevent", {"interval": 0, "count": 100}), "a_out": ("null", {})},
        {"input.outbox": ["a_out.inbox"]},
    )
    b = build(
        {"input": ("testevent", {"interval": 0, "count": 300}), "b_out": ("null", {})},
        {"input.outbox": ["b_out.inbox"]},
    )
    with gevent.Timeout(30):
        a.start()
        b.start()
        wait_until(lambda: a.modules["a_out"].consumed == 100 and b.modules["b_out"].consumed == 300)
        sa, sb = scrape(a.metrics_module.bound_port), scrape(b.metrics_module.bound_port)
        assert sample(sa, "wishbone_module_consumed_total", module="a_out") == 100
        assert sample(sb, "wishbone_module_consumed_total", module="b_out") == 300
        assert not any(dict(labels).get("module") == "b_out" for _, labels in sa)
        assert a.stop(5) and b.stop(5)


def test_module_specific_figures_are_numbers_only_and_never_shadow_the_counters():
    collector = Prometheus(port=0, process_metrics=False)
    collector.latest = {
        "time": 1.5,
        "instance": 0,
        "queues": {},
        "modules": {"x": {"consumed": 1, "failed": 0, "consumed_total": 99, "text": "no", "flag": True, "bytes in": 7}},
    }
    from prometheus_client import generate_latest

    body = generate_latest(collector.registry).decode()
    samples = {(s.name, s.value) for f in text_string_to_metric_families(body) for s in f.samples}
    assert ("wishbone_module_consumed_total", 1) in samples
    assert ("wishbone_module_bytes_in", 7) in samples
    assert not any(name in ("wishbone_module_text", "wishbone_module_flag") for name, _ in samples)
    assert [v for n, v in samples if n == "wishbone_module_consumed_total"] == [1]


def test_bad_port_is_a_load_error_naming_the_parameter():
    with pytest.raises(BootstrapError, match="metrics.variables"):
        build(LINE, LINE_ROUTES, metrics={"port": 70000})
    with pytest.raises(BootstrapError, match="metrics.variables.port"):
        build(LINE, LINE_ROUTES, metrics={"port": "9800"})


def test_example_file_runs_and_curl_scrapes_it():
    doc = json.loads(EXAMPLE.read_text())
    Pipeline.from_file(str(EXAMPLE))  # loads and checks as shipped (building binds nothing)
    doc["metrics"]["variables"]["port"] = 0
    p = Pipeline.from_dict(doc, source=str(EXAMPLE))
    with gevent.Timeout(30):
        p.start()
        port = p.metrics_module.bound_port
        wait_until(lambda: p.snapshot()["modules"]["output"]["consumed"] > 0)
        curl = (
            gevent.get_hub()
            .threadpool.spawn(
                subprocess.run,
                ["curl", "-sS", "--max-time", "5", f"http://127.0.0.1:{port}/metrics"],
                capture_output=True,
                text=True,
                timeout=10,
            )
            .get()
        )
        assert curl.returncode == 0, curl.stderr
        assert 'wishbone_module_consumed_total{module="output",wishbone_instance="0"}' in curl.stdout
        p.stop(5)


def free_consecutive_ports(count: int) -> int:
    """A port P such that P .. P + count - 1 could all be bound a moment ago."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + count > 65535:
            continue
        held = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                held.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in held:
                sock.close()
    raise RuntimeError("no run of free ports found")


def test_cli_with_two_instances_serves_each_worker_on_its_own_port(tmp_path):
    # No pipeline runs in this process: plain blocking urllib is fine here.
    base = free_consecutive_ports(2)
    doc = json.loads(EXAMPLE.read_text())
    doc["metrics"]["variables"]["port"] = base
    config = tmp_path / "prometheus.json"
    config.write_text(json.dumps(doc))
    wishbone = pathlib.Path(sys.executable).with_name("wishbone")
    args = [str(wishbone), "debug", "--config", str(config), "--instances", "2", "--pid", str(tmp_path / "wb.pid")]
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as server:
        try:
            bodies = {}
            deadline = time.monotonic() + 20
            while len(bodies) < 2 and time.monotonic() < deadline:
                for worker in (0, 1):
                    try:
                        with urllib.request.urlopen(f"http://127.0.0.1:{base + worker}/metrics", timeout=2) as r:
                            body = r.read().decode()
                        if f'wishbone_module_consumed_total{{module="output",wishbone_instance="{worker}"}}' in body:
                            bodies[worker] = body
                    except OSError:
                        time.sleep(0.1)
            assert sorted(bodies) == [0, 1], "both workers serve their own figures"
            for worker in (0, 1):
                with urllib.request.urlopen(f"http://127.0.0.1:{base + worker}/health", timeout=2) as r:
                    assert r.status == 200
        finally:
            server.send_signal(signal.SIGTERM)
            output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert f"Serving metrics on http://127.0.0.1:{base + 1}/metrics" in output


def test_a_ready_property_that_raises_counts_as_not_ready():
    from wishbone.builtin.prometheus import module_ready

    class Broken:
        @property
        def ready(self):
            raise ConnectionError("broker gone")

    assert module_ready(Broken()) is False
    assert module_ready(object()) is True
