"""wb-mqtt passes the standard checks every Wishbone module passes (against the real broker)."""

from wb_mqtt import MQTTIn, MQTTOut
from wishbone.testing import conformance

TestMQTTIn = conformance(
    MQTTIn, config=lambda mqtt_port, topic: {"port": mqtt_port, "topics": [f"{topic}/#"]}, entry_point="mqtt_in"
)
TestMQTTOut = conformance(
    MQTTOut,
    config=lambda mqtt_port, topic: {"port": mqtt_port, "topic": f"{topic}/out"},
    entry_point="mqtt_out",
    raising_event={"headers": {}, "data": 1j},  # no JSON for a complex number
)
