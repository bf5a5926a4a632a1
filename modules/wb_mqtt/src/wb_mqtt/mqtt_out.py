"""The ``mqtt_out`` output: publish each event; with QoS 1 hold it until the broker's PUBACK."""

from __future__ import annotations

import time

import gevent
import gevent.event
from wishbone import codec as codecs
from wishbone.ack import mark_abandoned
from wishbone.module import Output

from wb_mqtt.link import MQTTLink, client_id_for

__all__ = ["MQTTOut"]


class MQTTOut(Output):
    """Publishes events to an MQTT broker, the topic per event from a header or the default.

    QoS 1 (at least once): an event is held until the broker acknowledged it (PUBACK), and only
    then let go of (acknowledging a tracked input upstream); paho sends again what was in
    flight when a connection was lost, and at most ``max_inflight`` events wait for their
    PUBACK (backpressure beyond). At the stop deadline what is still unacknowledged is
    abandoned (a tracked input delivers it again). QoS 0: at most once.

    Parameters:
        host (str): broker address (default ``127.0.0.1``).
        port (int): broker port (default 1883).
        topic (str): the topic (default ``wishbone``).
        topic_header (str): take the topic from this header of each event when present (default none).
        qos (int): 0 or 1 (default 1).
        retain (bool): publish retained messages (default False).
        encode (str): codec of the payload (default ``json``).
        max_inflight (int): events waiting for a PUBACK at once (default 1000).
        client_id (str): the MQTT client id; worker N > 0 appends ``-N`` (default
            ``wishbone-<hostname>-<name>-<instance>-<random>``: a clean session, nothing to resume).
        keepalive (int): seconds between pings (default 30).
        username (str): broker user (default none).
        password (str): broker password (default none).
        tls (bool): connect with TLS (default False).

    Queues:
        inbox: events to publish.
        failed: events whose data does not encode, or whose topic is not a valid topic.

    Metrics:
        published, confirmed, unconfirmed, reconnects, connected.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1883,
        topic: str = "wishbone",
        topic_header: str | None = None,
        qos: int = 1,
        retain: bool = False,
        encode: str = "json",
        max_inflight: int = 1000,
        client_id: str | None = None,
        keepalive: int = 30,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
    ) -> None:
        if qos not in (0, 1):
            raise ValueError("qos must be 0 or 1")
        if max_inflight < 1:
            raise ValueError("max_inflight must be at least 1")
        if not topic or "+" in topic or "#" in topic:
            raise ValueError("topic must be a topic name (no wildcards)")
        self.host, self.port, self.topic, self.topic_header = host, port, topic, topic_header
        self.qos, self.retain, self.max_inflight = qos, retain, max_inflight
        self.client_id, self.keepalive = client_id, keepalive
        self.username, self.password, self.tls = username, password, tls
        self.codec = codecs.get(encode)
        self.published = self.confirmed = 0
        self._link: MQTTLink | None = None

    def on_start(self) -> None:
        client_id = client_id_for(self.client_id, self.name, self.context.instance, unique=True)
        self._unconfirmed: dict[int, dict] = {}
        self._room = gevent.event.Event()
        self._room.set()
        self._up = gevent.event.Event()
        self._link = link = MQTTLink(
            self.host, self.port, client_id, True, self.keepalive, self.username, self.password, self.log, self.tls
        )
        # the window is max_inflight, kept here: paho's own scans every message it holds on each
        # PUBACK once its window is not full (a quarter of a millisecond per PUBACK at 1000)
        link.client.max_inflight_messages_set(0)
        link.client.max_queued_messages_set(0)
        link.client.on_publish = self._published
        link.on_connect = self._up.set
        link.on_disconnect = self._up.clear
        link.poll = lambda: 0.002 if self._unconfirmed else 0.5  # PUBACKs due: look often
        self.spawn(link.run)

    def on_stop(self) -> None:
        """Wait for the outstanding PUBACKs (until the deadline), then disconnect."""
        deadline = self.stop_deadline - 0.3
        while self._unconfirmed and time.monotonic() < deadline:
            self._room.clear()
            self._room.wait(min(0.1, max(0.0, deadline - time.monotonic())))
        if self._unconfirmed:
            left = list(self._unconfirmed.values())
            self._unconfirmed.clear()
            mark_abandoned(left)
            self.log.warning("%d event(s) had no PUBACK by the stop deadline: abandoned.", len(left))
            left = []
        if self._link is not None:
            self._link.stop()

    @property
    def ready(self) -> bool:
        """True while connected to the broker."""
        return self._link is not None and self._link.connected

    def metrics(self) -> dict:
        return {
            "published": self.published,
            "confirmed": self.confirmed,
            "unconfirmed": len(getattr(self, "_unconfirmed", ())),
            "reconnects": self._link.reconnects if self._link else 0,
            "connected": int(self.ready),
        }

    def _published(
        self, client: object, userdata: object, mid: int, reason: object = None, properties: object = None
    ) -> None:
        if self._unconfirmed.pop(mid, None) is not None:
            self.confirmed += 1
            if not self._room.is_set() and len(self._unconfirmed) < self.max_inflight:
                self._room.set()  # someone waits (only _wait_for_room and on_stop clear it)

    def consume_batch(self, events: list) -> None:
        """Publish the batch; with QoS 1 the events are kept until their PUBACK.

        paho queues each publish; the batch is written in one burst at the end (or when the
        window is full), and the driver greenlet reads the PUBACKs.
        """
        header, default, encode = self.topic_header, self.topic, self.codec.encode
        publish, qos, retain = self._link.client.publish, self.qos, self.retain
        unconfirmed, window, up = self._unconfirmed, self.max_inflight, self._up
        published = 0
        for event in events:
            try:
                payload = encode(event["data"])
            except codecs.CodecError as exc:
                self.fail(event, exc)
                continue
            if header:  # the default was checked once, a topic from a header is checked each time
                topic = event["headers"].get(header)
                topic = default if topic is None else str(topic)
                if not topic or "+" in topic or "#" in topic:
                    self.fail(event, ValueError(f"not a topic name: {topic!r}"))
                    continue
            else:
                topic = default
            if len(unconfirmed) >= window or not up.is_set():
                self._wait_for_room()
            try:
                info = publish(topic, payload, qos, retain)
            except ValueError as exc:  # paho refuses it: a topic or payload too long, not UTF-8
                self.fail(event, exc)
                continue
            published += 1
            if qos:
                unconfirmed[info.mid] = event
        self.published += published
        self._link.write()

    def _wait_for_room(self) -> None:
        """Until connected and below the window (what this batch queued so far written first)."""
        while not self._up.is_set() or len(self._unconfirmed) >= self.max_inflight:
            if not self._up.is_set():
                self._up.wait(0.5)
            else:
                self._link.write()
                self._room.clear()
                self._room.wait(0.5)
