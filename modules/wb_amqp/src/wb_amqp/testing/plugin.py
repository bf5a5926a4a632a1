"""wb-amqp's pytest plugin (entry point ``pytest11``): the real broker's fixtures, no imports needed.

* ``amqp_url`` (session): the URL of a reachable RabbitMQ (``$WISHBONE_TEST_AMQP_URL`` or
  ``amqp://guest:guest@127.0.0.1:5672/%2F``). When none answers the test is skipped, saying
  how to start one, or fails under ``CI=true``, where a missing broker is a broken build.
* ``amqp_vhost`` (session): a throwaway vhost on that broker, made and deleted with
  ``rabbitmqctl`` (same skip-or-fail rule; also when ``rabbitmqctl`` is not on PATH), so that
  closing "all connections" of it touches nobody else's. Its name starts with
  ``amqp_vhost_prefix`` (a session fixture to override in a conftest). ``amqp_vhost_url``: its URL.

The skip-or-fail rule is the core's (:func:`wishbone.testing.services.unavailable`). Loading
this costs nothing at startup: no pika, no gevent; nothing touches ``gevent.monkey``.
Disable it with ``-p no:wb_amqp``.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from wishbone.testing.services import unavailable

from wb_amqp.testing.services import START_BROKER, amqp_available, amqp_url_from_env, rabbitmqctl, vhost_url

__all__ = ["amqp_url", "amqp_vhost", "amqp_vhost_prefix", "amqp_vhost_url"]


def _check_broker(url: str) -> None:
    problem = amqp_available(url)
    if problem is not None:
        unavailable(f"RabbitMQ is needed: {problem}; {START_BROKER}")


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """The URL of a reachable AMQP broker; skips (fails under ``CI=true``) without one."""
    url = amqp_url_from_env()
    _check_broker(url)
    return url


@pytest.fixture(scope="session")
def amqp_vhost_prefix() -> str:
    """How the name of the session's vhost starts; override it to tell test suites apart."""
    return "wishbone_test"


@pytest.fixture(scope="session")
def amqp_vhost(amqp_vhost_prefix: str) -> Iterator[str]:
    """A vhost of this test session on the broker of ``amqp_url`` (its user may use it), deleted afterwards."""
    url = amqp_url_from_env()
    _check_broker(url)
    if shutil.which("rabbitmqctl") is None:
        unavailable("rabbitmqctl is not on PATH; the test vhost is made and deleted with it")
    name = f"{amqp_vhost_prefix}_{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, urlsplit(url).username or "guest", ".*", ".*", ".*")
    yield name
    rabbitmqctl("delete_vhost", name)


@pytest.fixture
def amqp_vhost_url(amqp_vhost: str) -> str:
    """The URL of ``amqp_vhost`` (skips, or fails under CI, when the broker stopped answering)."""
    url = amqp_url_from_env()
    _check_broker(url)
    return vhost_url(amqp_vhost, url)
