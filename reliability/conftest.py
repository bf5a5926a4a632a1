"""Fixtures of the reliability suite: a pidfile whose processes die with the test, and a recorder
of each scenario's figures (sent, received, duplicates, lost, time to recover).

Figures are printed as one JSON line per scenario (``RELIABILITY {...}``, shown with ``-s`` or
``-rA``) and appended to ``$WB_RELIABILITY_RESULTS`` (default: ``results.jsonl`` in pytest's
base temp dir), which docs/reliability.md is written from.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path

import pytest
from wishbone.pidfile import alive

from reliability.helpers import kill_quietly, read_pids


@pytest.fixture
def pid_path(tmp_path: Path):
    """A pidfile path in the test's temp dir; whatever it names is killed after the test."""
    path = tmp_path / "wishbone.pid"
    yield path
    for pid in read_pids(path):
        if alive(pid):
            kill_quietly(pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def results_file(tmp_path_factory) -> Path:
    """Where every scenario's figures are appended, one JSON object per line."""
    path = os.environ.get("WB_RELIABILITY_RESULTS")
    if path:
        return Path(path)
    return tmp_path_factory.getbasetemp() / "results.jsonl"


@pytest.fixture
def record(request, results_file: Path):
    """``record(**figures)``: print and append this scenario's figures (named after the test)."""

    def _record(**figures) -> dict:
        line = {"scenario": request.node.name, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        line.update(figures)
        text = json.dumps(line, sort_keys=False)
        print(f"RELIABILITY {text}")
        results_file.parent.mkdir(parents=True, exist_ok=True)
        with open(results_file, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")
        return line

    return _record


@pytest.fixture(scope="session")
def vhost() -> str:
    """A RabbitMQ vhost of this test session (guest may use it), deleted afterwards."""
    from reliability.amqp import check_broker, rabbitmqctl

    check_broker()
    name = f"wb_reliability_{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    yield name
    rabbitmqctl("delete_vhost", name)


@pytest.fixture
def amqp_url(vhost: str) -> str:
    """The URL of the session's vhost on the real broker."""
    from reliability.amqp import HOST, PORT

    return f"amqp://guest:guest@{HOST}:{PORT}/{vhost}"


@pytest.fixture
def broker(amqp_url: str):
    """A :class:`reliability.amqp.Broker` on the vhost; its queues and exchanges go afterwards."""
    import pika.exceptions

    from reliability.amqp import Broker

    b = Broker(amqp_url)
    yield b
    try:
        b.close()
    except pika.exceptions.AMQPError:
        b.connect()
        b.close()
