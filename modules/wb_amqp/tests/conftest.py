"""The real broker for wb-amqp's tests: a throwaway vhost and a client to fill and count queues.

Every test talks to the RabbitMQ on 127.0.0.1:5672 (or ``$WISHBONE_TEST_AMQP_URL``, a broker
whose node ``rabbitmqctl`` manages). When it is not running the tests skip
(saying how to start it), except under ``CI=true``, where they fail: CI must test the real
thing. The session gets its own vhost (made and deleted with ``rabbitmqctl``); each test
uses queue names of its own and deletes them.
"""

from __future__ import annotations

import os
import shutil
import uuid
from urllib.parse import urlsplit

import pika.exceptions
import pytest
from amqp_support import Broker, rabbitmqctl
from wishbone.testing.services import amqp_available, amqp_url_from_env

BASE = urlsplit(amqp_url_from_env())  # amqp://guest:guest@127.0.0.1:5672/ unless $WISHBONE_TEST_AMQP_URL
HOST, PORT = BASE.hostname or "127.0.0.1", BASE.port or 5672
USER, PASSWORD = BASE.username or "guest", BASE.password or "guest"
START_HINT = "start it with `rabbitmq-server -detached`"


def _unavailable(message: str) -> None:
    if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
        pytest.fail(f"{message} (CI=true: the AMQP tests need the real broker)", pytrace=False)
    pytest.skip(message)


def _check_broker() -> None:
    problem = amqp_available(f"amqp://{HOST}:{PORT}/")
    if problem is not None:
        _unavailable(f"RabbitMQ is not reachable: {problem}; {START_HINT}")


@pytest.fixture(scope="session")
def vhost() -> str:
    """A vhost of this test session (guest may use it), deleted afterwards."""
    _check_broker()
    if shutil.which("rabbitmqctl") is None:
        _unavailable("rabbitmqctl is not on PATH; the AMQP tests manage their vhost with it")
    name = f"wb_amqp_test_{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, USER, ".*", ".*", ".*")
    yield name
    rabbitmqctl("delete_vhost", name)


@pytest.fixture
def amqp_url(vhost: str) -> str:
    """The URL of the test vhost on the real broker (skips, or fails under CI, without one)."""
    _check_broker()
    return f"amqp://{USER}:{PASSWORD}@{HOST}:{PORT}/{vhost}"


@pytest.fixture
def broker(amqp_url: str):
    """A :class:`amqp_support.Broker` on the test vhost; its queues and exchanges go afterwards."""
    b = Broker(amqp_url)
    yield b
    try:
        b.close()
    except pika.exceptions.AMQPError:
        b.reconnect()
        b.close()
