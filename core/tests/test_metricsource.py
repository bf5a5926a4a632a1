"""The ``metrics`` input: its pipeline's snapshots routed to a sink as ordinary events."""

from __future__ import annotations

import json
import re
import time

import gevent
import pytest
from wishbone import BootstrapError, Pipeline
from wishbone.builtin.metricsource import MetricsSource, graphite_lines
from wishbone.event import is_event
from wishbone.testing import conformance, load_bootstrap
from wishbone.testing.samples import Collect

GRAPHITE = re.compile(r"^[A-Za-z0-9_.\-]+ -?\d+(\.\d+)? \d{10}$")


def build(variables: dict, **kwargs) -> Pipeline:
    """testevent -> null, and the metrics source -> a collecting sink."""
    modules = {
        "input": ("testevent", {"interval": 0, "count": 200}),
        "out": "null",
        "metrics": ("metrics", variables),
        "sink": Collect,  # a test-only sink, not installed as an entry point
    }
    routes = {"input.outbox": ["out.inbox"], "metrics.outbox": ["sink.inbox"]}
    return Pipeline(load_bootstrap(modules, routes), **kwargs)


def run(p: Pipeline, snapshots: int) -> list:
    """Run until the input is done, the sink saw it all and *snapshots* more were taken; stop."""
    with gevent.Timeout(30):
        p.start()  # join_inputs() would wait forever: the metrics source is an endless input
        while p.modules["out"].consumed < 200:
            gevent.sleep(0.01)
        target = p.modules["metrics"].snapshots + snapshots
        while p.modules["metrics"].snapshots < target:
            gevent.sleep(0.01)
        assert p.stop(10)
    return p.modules["sink"].seen


def test_snapshot_format_emits_one_json_event_per_snapshot():
    events = run(build({"interval": 0.05}), snapshots=2)
    assert len(events) >= 2
    assert all(is_event(e) for e in events)
    decoded = [json.loads(json.dumps(e["data"])) for e in events]  # plain JSON values, nothing else
    last = decoded[-1]
    assert set(last) == {"time", "instance", "queues", "modules"}
    assert last["instance"] == 0
    assert last["modules"]["out"]["consumed"] == 200
    assert last["queues"]["out.inbox"] == {"in": 200, "out": 200, "dropped": 0, "size": 0}
    assert last["modules"]["input"]["generated"] == 200
    times = [d["time"] for d in decoded]
    assert times == sorted(times) and abs(times[-1] - time.time()) < 30


def test_graphite_format_emits_one_parseable_line_per_figure():
    events = run(build({"interval": 0.05, "format": "graphite", "prefix": "acme.wb"}), snapshots=2)
    lines = [e["data"] for e in events]
    assert lines and all(isinstance(line, str) and GRAPHITE.match(line) for line in lines), lines[:5]
    parsed = [line.split(" ") for line in lines]
    assert all(path.startswith("acme.wb.0.") for path, _, _ in parsed)
    final = {path: float(value) for path, value, _ in parsed}  # later snapshots overwrite earlier
    assert final["acme.wb.0.queue.out.inbox.in"] == 200
    assert final["acme.wb.0.module.out.consumed"] == 200
    assert final["acme.wb.0.module.input.generated"] == 200
    assert final["acme.wb.0.module.metrics.snapshots"] >= 2


def test_stop_does_not_wait_for_the_interval():
    p = build({"interval": 60})
    with gevent.Timeout(20):
        p.start()
        while p.modules["out"].consumed < 200:
            gevent.sleep(0.01)
        started = time.monotonic()
        assert p.stop(10)
    assert time.monotonic() - started < 3
    assert p.modules["sink"].seen == []


def test_it_needs_no_plugin_its_context_gives_the_snapshot():
    p = build({"interval": 0.01}, load_entry_points=False)
    with gevent.Timeout(20):
        p.start()
        while not p.modules["sink"].seen:
            gevent.sleep(0.01)
        assert p.stop(5)
    assert p.modules["sink"].seen[0]["data"]["instance"] == 0


def test_bad_parameters_are_load_errors_naming_the_parameter():
    with pytest.raises(BootstrapError, match=r"bootstrap\.metrics\.variables\.format"):
        build({"format": "xml"})
    with pytest.raises(BootstrapError, match=r"bootstrap\.metrics\.variables.*interval"):
        build({"interval": 0})


def test_graphite_lines_sanitise_names_and_skip_non_numbers():
    snapshot = {
        "time": 1700000000.7,
        "instance": 2,
        "queues": {"a.outbox": {"in": 3, "out": 3, "dropped": 0, "size": 0}},
        "modules": {"a b": {"consumed": 1, "failed": 0, "state": "up", "flag": True, "rate/s": 1.5}},
    }
    assert graphite_lines(snapshot, "") == [
        "2.queue.a.outbox.in 3 1700000000",
        "2.queue.a.outbox.out 3 1700000000",
        "2.queue.a.outbox.dropped 0 1700000000",
        "2.queue.a.outbox.size 0 1700000000",
        "2.module.a_b.consumed 1 1700000000",
        "2.module.a_b.failed 0 1700000000",
        "2.module.a_b.rate_s 1.5 1700000000",
    ]


# The standard module checks every package runs (documented, parameters refused, stop deadlines...).
TestConformance = conformance(MetricsSource, config={"interval": 0.05}, entry_point="metrics")
