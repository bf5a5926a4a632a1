"""The pytest plugin (entry point ``pytest11``): fixtures for module tests, no imports needed.

* ``harness``: a factory, ``harness(ModuleClass, variables, **options)`` -> a
  :class:`~wishbone.testing.harness.Harness`; every harness it made is stopped at teardown.
* ``udp_port``: a UDP port on 127.0.0.1 that nothing is bound to.
* ``amqp_url``: the URL of a reachable RabbitMQ (``$WISHBONE_TEST_AMQP_URL`` or
  ``amqp://guest:guest@127.0.0.1:5672/%2F``). When none answers the test is skipped, or
  fails under ``CI=true``, where a missing broker is a broken build, not a reason to skip.
* ``amqp_vhost`` (session): a throwaway vhost on that broker, made and deleted with
  ``rabbitmqctl`` (same skip-or-fail rule; also when ``rabbitmqctl`` is not on PATH), so that
  closing "all connections" of it touches nobody else's. Its name starts with
  ``amqp_vhost_prefix`` (a session fixture to override in a conftest). ``amqp_vhost_url``: its URL.

Loading it costs nothing at startup: the harness is imported by the first test that uses
it, and nothing here touches ``gevent.monkey``. Disable it with ``-p no:wishbone``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from wishbone.testing.harness import Harness

__all__ = ["amqp_url", "amqp_vhost", "amqp_vhost_prefix", "amqp_vhost_url", "harness", "udp_port"]

_START_BROKER = "start a local broker with `rabbitmq-server -detached` (guest/guest on 127.0.0.1:5672)"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _unavailable(message: str) -> None:
    """Skip with *message*, or fail under ``CI=true``, where a missing broker is a broken build."""
    if _in_ci():
        pytest.fail(f"{message} (CI=true: a missing broker fails the build)", pytrace=False)
    pytest.skip(message)


def _check_broker(url: str) -> None:
    from wishbone.testing.services import amqp_available

    problem = amqp_available(url)
    if problem is not None:
        _unavailable(f"RabbitMQ is needed: {problem}; {_START_BROKER}")


@pytest.fixture
def udp_port() -> int:
    """A free UDP port on 127.0.0.1."""
    from wishbone.testing.services import free_udp_port

    return free_udp_port()


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """The URL of a reachable AMQP broker; skips (fails under ``CI=true``) without one."""
    from wishbone.testing.services import amqp_url_from_env

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
    from wishbone.testing.services import amqp_url_from_env, rabbitmqctl

    url = amqp_url_from_env()
    _check_broker(url)
    if shutil.which("rabbitmqctl") is None:
        _unavailable("rabbitmqctl is not on PATH; the test vhost is made and deleted with it")
    name = f"{amqp_vhost_prefix}_{uuid.uuid4().hex[:8]}"
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, urlsplit(url).username or "guest", ".*", ".*", ".*")
    yield name
    rabbitmqctl("delete_vhost", name)


@pytest.fixture
def amqp_vhost_url(amqp_vhost: str) -> str:
    """The URL of ``amqp_vhost`` (skips, or fails under CI, when the broker stopped answering)."""
    from wishbone.testing.services import amqp_url_from_env, vhost_url

    url = amqp_url_from_env()
    _check_broker(url)
    return vhost_url(amqp_vhost, url)


@pytest.fixture
def harness() -> Iterator[Callable[..., Harness]]:
    """A factory of harnesses: ``harness(ModuleClass, {"param": 1})``; all stopped at teardown."""
    from wishbone.testing.harness import Harness

    made: list[Harness] = []

    def make(module_cls: type, variables: dict | None = None, **options: object) -> Harness:
        instance = Harness(module_cls, variables, **options)  # type: ignore[arg-type]
        made.append(instance)
        return instance

    yield make
    for instance in made:
        instance.stop()
