"""Test support for wb-amqp and its users: the real broker, a throwaway vhost, a client for it.

Registered as a pytest plugin (entry point ``pytest11``, :mod:`wb_amqp.testing.plugin`), so
with wb-amqp installed every test gets the fixtures ``amqp_url``, ``amqp_vhost`` and
``amqp_vhost_url`` without imports; without a broker they skip, saying how to start one,
and under ``CI=true`` they fail. The helpers::

    from wb_amqp.testing import Broker, ids

    @pytest.fixture
    def broker(amqp_vhost_url):
        with Broker(amqp_vhost_url) as b:  # its queues and exchanges are deleted afterwards
            yield b

    def test_relay(broker, amqp_vhost, amqp_vhost_url):
        source = broker.queue("in")
        broker.publish(source, (b"%d" % i for i in range(1000)), wait=True)
        ...
        distinct, duplicates = ids(broker.take_all(target))

:func:`shovel` builds the pipeline ``amqp_in -> passthrough -> amqp_out`` between two queues
(:func:`shovel_document`, its bootstrap document), :func:`wait_for` lets greenlets run until a
condition holds. Names are imported on first use: loading the plugin imports neither pika nor gevent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wb_amqp.testing.broker import Broker, close_all_connections, connections, ids, queue_states
    from wb_amqp.testing.pipelines import shovel, shovel_document, wait_for
    from wb_amqp.testing.services import AMQP_URL, amqp_available, amqp_url_from_env, rabbitmqctl, vhost_url

__all__ = [
    "AMQP_URL",
    "Broker",
    "amqp_available",
    "amqp_url_from_env",
    "close_all_connections",
    "connections",
    "ids",
    "queue_states",
    "rabbitmqctl",
    "shovel",
    "shovel_document",
    "vhost_url",
    "wait_for",
]

_BROKER = ("Broker", "close_all_connections", "connections", "ids", "queue_states")
_SERVICES = ("AMQP_URL", "amqp_available", "amqp_url_from_env", "rabbitmqctl", "vhost_url")
_PIPELINES = ("shovel", "shovel_document", "wait_for")
_HOMES = {
    **dict.fromkeys(_BROKER, "wb_amqp.testing.broker"),
    **dict.fromkeys(_SERVICES, "wb_amqp.testing.services"),
    **dict.fromkeys(_PIPELINES, "wb_amqp.testing.pipelines"),
}


def __getattr__(name: str) -> Any:
    """Import a public name from its own module on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'wb_amqp.testing' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(home), name)
