"""RabbitMQ for Wishbone: ``amqp_in`` consumes a queue, ``amqp_out`` publishes with confirms.

Delivery is at-least-once end to end: ``amqp_in`` acknowledges a message only after its
event was delivered downstream (see :mod:`wishbone.ack`), and ``amqp_out`` counts an event
as delivered only when the broker confirmed it.

The classes are imported on first use, so that loading this package's pytest plugin
(:mod:`wb_amqp.testing.plugin`) costs no pika, no gevent and no module machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from wb_amqp.amqp_in import AMQPIn
    from wb_amqp.amqp_out import AMQPOut

__all__ = ["AMQPIn", "AMQPOut"]
__version__ = "1.0.0"

_HOMES = {"AMQPIn": "wb_amqp.amqp_in", "AMQPOut": "wb_amqp.amqp_out"}


def __getattr__(name: str) -> Any:
    """Import ``AMQPIn`` or ``AMQPOut`` from its own module on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'wb_amqp' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(home), name)
