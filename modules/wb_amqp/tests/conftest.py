"""The real broker for wb-amqp's tests: a throwaway vhost and a client to fill and count queues.

Every test talks to the RabbitMQ on 127.0.0.1:5672 (or ``$WISHBONE_TEST_AMQP_URL``, a broker
whose node ``rabbitmqctl`` manages). When it is not running the tests skip (saying how to start
it), except under ``CI=true``, where they fail: CI must test the real thing. The session gets its
own vhost (``amqp_vhost`` of the wishbone.testing plugin); each test uses queue names of its own
and deletes them (:class:`wb_amqp.testing.Broker`). The tests' helpers (``shovel``,
``wait_for``) are in :mod:`wb_amqp.testing` too: no test imports another test file.
"""

from __future__ import annotations

import pytest
from wb_amqp.testing import Broker


@pytest.fixture(scope="session")
def amqp_vhost_prefix() -> str:
    """This suite's vhosts are named ``wb_amqp_test_<hex>``."""
    return "wb_amqp_test"


@pytest.fixture(scope="session")
def vhost(amqp_vhost: str) -> str:
    """The session's vhost (guest may use it), deleted afterwards."""
    return amqp_vhost


@pytest.fixture
def amqp_url(amqp_vhost_url: str) -> str:
    """The URL of the test vhost on the real broker (skips, or fails under CI, without one)."""
    return amqp_vhost_url


@pytest.fixture
def broker(amqp_url: str):
    """A :class:`wb_amqp.testing.Broker` on the test vhost; its queues and exchanges go afterwards."""
    with Broker(amqp_url) as b:
        yield b
