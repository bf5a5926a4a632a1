"""The pytest plugin (entry point ``pytest11``): fixtures for module tests, no imports needed.

* ``harness``: a factory, ``harness(ModuleClass, variables, **options)`` -> a
  :class:`~wishbone.testing.harness.Harness`; every harness it made is stopped at teardown.
* ``udp_port``: a UDP port on 127.0.0.1 that nothing is bound to.
* ``tls_certs``: PEM files of a test CA, a server and client certificates, made once per
  run (:func:`wishbone.testing.tls.make_certificates` names them).

Servers' fixtures come with the packages that talk to them (wb-amqp's plugin has
``amqp_url`` and ``amqp_vhost``); they skip without their server, or fail under ``CI=true``,
through :func:`wishbone.testing.services.unavailable`.

Loading it costs nothing at startup: the harness is imported by the first test that uses
it, and nothing here touches ``gevent.monkey``. Disable it with ``-p no:wishbone``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from wishbone.testing.harness import Harness

__all__ = ["harness", "tls_certs", "udp_port"]


@pytest.fixture
def udp_port() -> int:
    """A free UDP port on 127.0.0.1."""
    from wishbone.testing.services import free_udp_port

    return free_udp_port()


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A CA, a server certificate for 127.0.0.1/localhost and client certificates, as PEM files."""
    from wishbone.testing.tls import make_certificates

    return make_certificates(tmp_path_factory.mktemp("tls"))


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
