"""wb-amqp's input and output run the standard conformance suite of wishbone.testing, on the real broker."""

from wb_amqp import AMQPIn, AMQPOut
from wishbone.testing import conformance

TestAMQPIn = conformance(
    AMQPIn, config=lambda amqp_url: {"url": amqp_url, "queue": "", "queue_exclusive": True}, entry_point="amqp_in"
)
TestAMQPOut = conformance(
    AMQPOut,
    config=lambda amqp_url: {"url": amqp_url},
    entry_point="amqp_out",
    raising_event={"headers": {}, "data": {"x": 1j}},  # a complex number: no body can be made of it
)
