"""RabbitMQ for Wishbone: ``amqp_in`` consumes a queue, ``amqp_out`` publishes with confirms.

Delivery is at-least-once end to end: ``amqp_in`` acknowledges a message only after its
event was delivered downstream (see :mod:`wishbone.ack`), and ``amqp_out`` counts an event
as delivered only when the broker confirmed it.
"""

from wb_amqp.amqp_in import AMQPIn
from wb_amqp.amqp_out import AMQPOut

__all__ = ["AMQPIn", "AMQPOut"]
__version__ = "1.0.0"
