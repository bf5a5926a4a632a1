"""wb-mqtt: MQTT in (wildcards, QoS 0/1, shared subscriptions, PUBACK after delivery) and out (QoS, retain)."""

from wb_mqtt.mqtt_in import MQTTIn
from wb_mqtt.mqtt_out import MQTTOut

__version__ = "1.0.0"

__all__ = ["MQTTIn", "MQTTOut", "__version__"]
