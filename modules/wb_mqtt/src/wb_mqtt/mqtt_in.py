"""The ``mqtt_in`` input: subscribe to topics; for QoS 1, PUBACK only once delivered."""

from __future__ import annotations

from wishbone import codec as codecs
from wishbone.ack import track
from wishbone.log import RateLimitedLog
from wishbone.module import Input

from wb_mqtt.link import MQTTLink, client_id_for

__all__ = ["MQTTIn"]


class MQTTIn(Input):
    """Subscribes to MQTT topics (wildcards ``+`` and ``#``); each message becomes an event.

    QoS 1 (at least once): the client acknowledges a message (PUBACK) only after its event was
    delivered downstream (or reached ``failed``); the session is persistent (a stable
    ``client_id``, clean session off), so what was not acknowledged when the process died is
    sent again by the broker when it comes back. QoS 0: at most once. With ``share``, the
    subscription is shared (``$share/<share>/<topic>``): the broker splits the messages among
    the subscribers of the group, so ``--instances N`` splits the work.

    ``data`` is the decoded payload; ``headers["mqtt"]`` holds ``topic``, ``qos``, ``retain``.
    A payload that does not decode goes to ``failed`` with the reason (and is acknowledged).
    paho-mqtt is driven from a greenlet on its own socket: no thread, nothing patched.

    Parameters:
        host (str): broker address (default ``127.0.0.1``).
        port (int): broker port (default 1883).
        topics (list): topic filters to subscribe to (default ``["wishbone/#"]``).
        qos (int): 0 or 1 (default 1).
        share (str): a shared-subscription group name (default none).
        client_id (str): stable id of the persistent session; worker N > 0 appends ``-N`` (default
            ``wishbone-<hostname>-<name>-<instance>``).
        decode (str): codec of the payload (default ``json``).
        keepalive (int): seconds between pings (default 30).
        username (str): broker user (default none).
        password (str): broker password (default none).
        tls (bool): connect with TLS (default False).
        version (str): the protocol, ``3.1.1`` or ``5`` (default ``3.1.1``).
        inflight (int): MQTT 5: how many unacknowledged QoS 1 messages the broker may send at once
            (its Receive Maximum; default 1000). MQTT 3.1.1 leaves that to the broker (Mosquitto: 20).

    Queues:
        outbox: the events.
        failed: payloads that did not decode.

    Metrics:
        received, acked, decode_errors, left_unacknowledged (arrived after intake stopped: the
        broker sends them again), stale_acks (settled after their connection was lost: not
        acknowledged, the broker sends them again), reconnects, connected.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1883,
        topics: list | None = None,
        qos: int = 1,
        share: str | None = None,
        client_id: str | None = None,
        decode: str = "json",
        keepalive: int = 30,
        username: str | None = None,
        password: str | None = None,
        tls: bool = False,
        version: str = "3.1.1",
        inflight: int = 1000,
    ) -> None:
        if qos not in (0, 1):
            raise ValueError("qos must be 0 or 1")
        if str(version) not in ("3.1.1", "5"):
            raise ValueError("version must be '3.1.1' or '5'")
        if not 1 <= inflight <= 65535:
            raise ValueError("inflight must be 1 to 65535")
        self.version, self.inflight = str(version), inflight
        self.topics = list(topics or ["wishbone/#"])
        if not self.topics or not all(isinstance(t, str) and t for t in self.topics):
            raise ValueError("topics must be a list of topic filters")
        self.host, self.port, self.qos, self.share = host, port, qos, share
        self.client_id, self.keepalive = client_id, keepalive
        self.username, self.password, self.tls = username, password, tls
        self.codec = codecs.get(decode)
        self.received = self.acked = self.decode_errors = self.left_unacknowledged = self.stale_acks = 0
        self._link: MQTTLink | None = None

    def on_start(self) -> None:
        client_id = client_id_for(self.client_id, self.name, self.context.instance)
        self._bad = RateLimitedLog(self.log)
        self._arrived: list = []
        #: tags of settled messages: ``generation << 16 | packet id`` (see _acknowledge)
        self._settled: list[int] = []
        self._outstanding = 0
        self._link = link = MQTTLink(
            self.host,
            self.port,
            client_id,
            self.qos == 0,
            self.keepalive,
            self.username,
            self.password,
            self.log,
            self.tls,
            self.version,
            self.inflight,
        )
        link.client.on_message = self._message
        if self.qos == 1:
            link.client.manual_ack_set(True)
        link.on_connect = self._subscribe
        link.after_read = self._hand_on
        link.each_step = self._acknowledge
        link.poll = lambda: 0.005 if self._outstanding else 0.5
        # the driver lives until on_stop, so that what settles during the drain is acknowledged
        self.spawn(link.run)

    def on_stop(self) -> None:
        if self._link is not None:
            self._acknowledge()
            self._link.stop()

    @property
    def ready(self) -> bool:
        """True while connected and subscribed."""
        return self._link is not None and self._link.connected

    def metrics(self) -> dict:
        return {
            "received": self.received,
            "acked": self.acked,
            "decode_errors": self.decode_errors,
            "left_unacknowledged": self.left_unacknowledged,
            "stale_acks": self.stale_acks,
            "reconnects": self._link.reconnects if self._link else 0,
            "connected": int(self.ready),
        }

    # ------------------------------------------------------------------ driver callbacks
    def _subscribe(self) -> None:
        filters = [f"$share/{self.share}/{t}" if self.share else t for t in self.topics]
        self._link.client.subscribe([(f, self.qos) for f in filters])
        self.log.info("Subscribed to %s (QoS %d)", ", ".join(filters), self.qos)

    def _message(self, client: object, userdata: object, message: object) -> None:
        self._arrived.append(message)

    def _settle(self, tag: int, ok: bool | None) -> None:
        if ok is not None:  # abandoned: not acknowledged, the broker sends it again
            self._settled.append(tag)
        else:
            self._outstanding -= 1

    def _hand_on(self) -> None:
        """Emit what the last read brought (in the driver greenlet: blocking here stops reading)."""
        if not self._arrived:
            return
        messages, self._arrived = self._arrived, []
        if not self.running:  # intake stopped: not acknowledged, so the broker sends them again
            self.left_unacknowledged += len(messages)
            return
        events = []
        tracked = self.qos == 1
        generation = self._link.generation << 16
        for m in messages:
            headers = {"mqtt": {"topic": m.topic, "qos": m.qos, "retain": bool(m.retain)}}
            try:
                data = self.codec.decode(m.payload)
                data = data[0] if len(data) == 1 else data
            except codecs.CodecError as exc:
                self.decode_errors += 1
                self._bad.warning("MQTT %s: a payload that does not decode: %s", m.topic, exc.reason)
                event = {"headers": headers, "data": m.payload}
                if tracked and m.qos:
                    self._outstanding += 1
                    event = track(event, self._settle, generation | m.mid)
                self.fail(event, exc)
                continue
            event = {"headers": headers, "data": data}
            if tracked and m.qos:
                self._outstanding += 1
                event = track(event, self._settle, generation | m.mid)
            events.append(event)
        self.received += len(messages)
        messages = []
        if events:
            self.emit_batch(events)
        events = []
        self.flush()

    def _acknowledge(self) -> None:
        """PUBACK what settled, on the connection it came in on.

        A packet id names a message only on its connection: after a reconnect the broker sends
        what was not acknowledged again (the session is kept), and may give an old id to another
        message once the id was acknowledged there. So a message that settles after its
        connection was lost is not acknowledged: its copy on the new connection will be.
        """
        link = self._link
        if self._settled and link is not None and link.connected:
            tags, self._settled = self._settled, []
            current, ack = link.generation, link.client.ack
            acked = 0
            for tag in tags:
                if tag >> 16 == current:
                    ack(tag & 0xFFFF, 1)
                    acked += 1
            self._outstanding -= len(tags)
            self.acked += acked
            self.stale_acks += len(tags) - acked
