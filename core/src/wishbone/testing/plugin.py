"""The pytest plugin (entry point ``pytest11``): fixtures for module tests, no imports needed.

* ``harness``: a factory, ``harness(ModuleClass, variables, **options)`` -> a
  :class:`~wishbone.testing.harness.Harness`; every harness it made is stopped at teardown.
* ``udp_port``: a UDP port on 127.0.0.1 that nothing is bound to.
* ``amqp_url``: the URL of a reachable RabbitMQ (``$WISHBONE_TEST_AMQP_URL`` or
  ``amqp://guest:guest@127.0.0.1:5672/%2F``). When none answers the test is skipped, or
  fails under ``CI=true``, where a missing broker is a broken build, not a reason to skip.

Loading it costs nothing at startup: the harness is imported by the first test that uses
it, and nothing here touches ``gevent.monkey``. Disable it with ``-p no:wishbone``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from wishbone.testing.harness import Harness

__all__ = ["amqp_url", "harness", "udp_port"]

_START_BROKER = "start a local broker with `rabbitmq-server -detached` (guest/guest on 127.0.0.1:5672)"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.fixture
def udp_port() -> int:
    """A free UDP port on 127.0.0.1."""
    from wishbone.testing.services import free_udp_port

    return free_udp_port()


@pytest.fixture(scope="session")
def amqp_url() -> str:
    """The URL of a reachable AMQP broker; skips (fails under ``CI=true``) without one."""
    from wishbone.testing.services import amqp_available, amqp_url_from_env

    url = amqp_url_from_env()
    problem = amqp_available(url)
    if problem is not None:
        message = f"RabbitMQ is needed: {problem}; {_START_BROKER}"
        if _in_ci():
            pytest.fail(f"{message} (CI=true: a missing broker fails the build)", pytrace=False)
        pytest.skip(message)
    return url


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
