"""Fixtures of the reliability suite: a pidfile whose processes die with the test, a recorder
of each scenario's figures (sent, received, duplicates, lost, time to recover), and the real
broker on a throwaway vhost (``amqp_vhost`` of wb-amqp's pytest plugin, here ``vhost``).

Figures are printed as one JSON line per scenario (``RELIABILITY {...}``, shown with ``-s`` or
``-rA``) and appended to ``$WB_RELIABILITY_RESULTS`` (default: ``results.jsonl`` in pytest's
base temp dir), which docs/reliability.md is written from.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from wishbone.testing.cli import kill_pidfile


@pytest.fixture
def pid_path(tmp_path: Path):
    """A pidfile path in the test's temp dir; whatever it names is killed after the test."""
    path = tmp_path / "wishbone.pid"
    yield path
    kill_pidfile(path)


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
def amqp_vhost_prefix() -> str:
    """This suite's vhosts are named ``wb_reliability_<hex>``."""
    return "wb_reliability"


@pytest.fixture(scope="session")
def vhost(amqp_vhost: str) -> str:
    """A RabbitMQ vhost of this test session (guest may use it), deleted afterwards.

    Skips without a broker or ``rabbitmqctl`` (fails under ``CI=true``), see wb_amqp.testing.plugin.
    """
    return amqp_vhost


@pytest.fixture
def broker(amqp_vhost_url: str):
    """A :class:`wb_amqp.testing.Broker` on the vhost (``broker.url``); its queues and exchanges go afterwards."""
    from wb_amqp.testing import Broker

    with Broker(amqp_vhost_url) as b:
        yield b
