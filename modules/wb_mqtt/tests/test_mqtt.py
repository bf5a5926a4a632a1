"""wb-mqtt against the real Mosquitto: QoS 1 acks after delivery, redelivery, shared subscriptions,
topics from headers, reconnects through a proxy that cuts connections."""

from __future__ import annotations

import gevent
import pytest
from gevent import socket
from gevent.server import StreamServer
from wb_mqtt import MQTTIn, MQTTOut
from wishbone.ack import mark_abandoned
from wishbone.testing.harness import Harness


def drain(h: Harness, n: int, timeout: float = 15) -> list:
    """Take *n* events, letting go of each at once: held events are not acknowledged, and the
    broker sends a QoS 1 client only so many unacknowledged messages (Mosquitto: 20)."""
    seen = []
    with gevent.Timeout(timeout):
        while len(seen) < n:
            for e in h.collect("outbox", 1):
                seen.append((e["headers"], e["data"]))
    return seen


def events(n: int, start: int = 0) -> list[dict]:
    return [{"headers": {}, "data": {"i": i}} for i in range(start, start + n)]


def publish(port: int, topic: str, n: int, start: int = 0, **variables) -> None:
    with Harness(MQTTOut, {"port": port, "topic": topic, **variables}) as out:
        with gevent.Timeout(15):
            out.feed(events(n, start))
            out.wait_consumed(n)
            while out.module.metrics()["unconfirmed"]:
                gevent.sleep(0.02)


VERSIONS = pytest.mark.parametrize("version", ["3.1.1", "5"])


@VERSIONS
def test_qos1_out_then_in(mqtt_port, topic, version):
    variables = {"port": mqtt_port, "topics": [f"{topic}/#"], "client_id": f"{topic}-in", "version": version}
    with Harness(MQTTIn, variables) as h:
        with gevent.Timeout(15):
            while not h.module.ready:
                gevent.sleep(0.02)
            gevent.sleep(0.2)  # subscribed
            sender = gevent.spawn(publish, mqtt_port, f"{topic}/a", 300)
            got = drain(h, 300)
            sender.get()
    assert sorted(data["i"] for _, data in got) == list(range(300))
    assert got[0][0]["mqtt"] == {"topic": f"{topic}/a", "qos": 1, "retain": False}


@VERSIONS
def test_an_unacknowledged_message_comes_back_in_the_next_session(mqtt_port, topic, version):
    variables = {"port": mqtt_port, "topics": [f"{topic}/#"], "client_id": f"{topic}-persistent", "version": version}
    with Harness(MQTTIn, variables, timeout=3) as h, gevent.Timeout(15):
        while not h.module.ready:
            gevent.sleep(0.02)
        gevent.sleep(0.2)
        publish(mqtt_port, f"{topic}/x", 3)
        got = h.collect("outbox", 3)
        mark_abandoned(got[:1])  # never delivered (a forced stop): no PUBACK
        del got
        gevent.sleep(0.3)
        assert h.module.metrics()["acked"] == 2
    with Harness(MQTTIn, variables) as h, gevent.Timeout(15):  # the same session comes back
        [again] = h.collect("outbox", 1)
        assert again["data"] == {"i": 0}


def test_mqtt5_lets_the_broker_send_inflight_messages_unacknowledged(mqtt_port, topic):
    variables = {
        "port": mqtt_port,
        "topics": [f"{topic}/#"],
        "client_id": f"{topic}-v5",
        "version": "5",
        "inflight": 50,
    }
    with Harness(MQTTIn, variables) as h, gevent.Timeout(20):
        while not h.module.ready:
            gevent.sleep(0.02)
        gevent.sleep(0.2)
        publish(mqtt_port, f"{topic}/w", 80)
        held = h.collect("outbox", 50)  # Mosquitto sends an MQTT 3.1.1 client 20
        gevent.sleep(0.5)
        assert h.collected("outbox") == [], "more than the window was sent"
        del held
        rest = drain(h, 30)
    assert sorted(data["i"] for _, data in rest) == list(range(50, 80))


def test_a_shared_subscription_splits_the_messages(mqtt_port, topic):
    common = {"port": mqtt_port, "topics": [f"{topic}/#"], "share": "workers"}
    with (
        Harness(MQTTIn, {**common, "client_id": f"{topic}-1"}) as a,
        Harness(MQTTIn, {**common, "client_id": f"{topic}-2"}) as b,
    ):
        with gevent.Timeout(20):
            while not (a.module.ready and b.module.ready):
                gevent.sleep(0.02)
            gevent.sleep(0.3)
            sender = gevent.spawn(publish, mqtt_port, f"{topic}/job", 200)
            got_a, got_b = [], []
            while len(got_a) + len(got_b) < 200:
                got_a += [e["data"]["i"] for e in a.collected("outbox")]
                got_b += [e["data"]["i"] for e in b.collected("outbox")]
                gevent.sleep(0.02)
            sender.get()
    assert len(got_a) + len(got_b) == 200 and got_a and got_b
    assert sorted(got_a + got_b) == list(range(200))


def test_topic_from_a_header_and_undecodable_payloads_to_failed(mqtt_port, topic):
    with Harness(MQTTIn, {"port": mqtt_port, "topics": [f"{topic}/#"], "client_id": f"{topic}-h"}) as h:
        with gevent.Timeout(15):
            while not h.module.ready:
                gevent.sleep(0.02)
            gevent.sleep(0.2)
            with Harness(
                MQTTOut, {"port": mqtt_port, "topic": f"{topic}/default", "topic_header": "t", "encode": "text"}
            ) as out:
                out.feed(
                    [
                        {"headers": {"t": f"{topic}/chosen"}, "data": '{"ok": 1}'},
                        {"headers": {}, "data": "{not json"},
                        {"headers": {"t": f"{topic}/+"}, "data": "x"},
                        {"headers": {"t": f"{topic}/{'a' * 70_000}"}, "data": "y"},  # paho: too long
                    ]
                )
                refused, too_long = out.collect("failed", 2)
            [good] = h.collect("outbox", 1)
            [bad] = h.collect("failed", 1)
    assert good["headers"]["mqtt"]["topic"] == f"{topic}/chosen" and good["data"] == {"ok": 1}
    assert bad["headers"]["mqtt"]["topic"] == f"{topic}/default" and "not JSON" in bad["headers"]["error"]["message"]
    assert "not a topic name" in refused["headers"]["error"]["message"]
    assert "too long" in too_long["headers"]["error"]["message"]


class CuttingProxy:
    """A TCP proxy to the broker that can cut every connection (a network failure)."""

    def __init__(self, port: int) -> None:
        self.target = ("127.0.0.1", port)
        self.conns: list = []
        self.server = StreamServer(("127.0.0.1", 0), self._serve)
        self.server.start()
        self.port = self.server.server_port

    def _pump(self, src, dst) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            s.close()

    def _serve(self, client, _address) -> None:
        upstream = socket.create_connection(self.target)
        self.conns += [client, upstream]
        gevent.joinall([gevent.spawn(self._pump, client, upstream), gevent.spawn(self._pump, upstream, client)])

    def cut(self) -> None:
        for s in self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.conns.clear()


def test_cut_connections_are_reconnected_and_nothing_is_lost(mqtt_port, topic):
    proxy = CuttingProxy(mqtt_port)
    variables_in = {"port": proxy.port, "topics": [f"{topic}/#"], "client_id": f"{topic}-cut-in"}
    try:
        with Harness(MQTTIn, variables_in) as h, gevent.Timeout(40):
            with Harness(MQTTOut, {"port": proxy.port, "topic": f"{topic}/c", "client_id": f"{topic}-cut-out"}) as out:
                while not (h.module.ready and out.module.ready):
                    gevent.sleep(0.02)
                gevent.sleep(0.2)
                for r in range(4):
                    out.feed(events(100, r * 100))
                    gevent.sleep(0.05)
                    proxy.cut()
                out.wait_consumed(400, timeout=20)
                while out.module.metrics()["unconfirmed"]:
                    gevent.sleep(0.05)
                seen: set = set()
                with gevent.Timeout(30):  # duplicates may come (a message sent again after a cut)
                    while len(seen) < 400:
                        seen |= {e["data"]["i"] for e in h.collect("outbox", 1, timeout=30)}
                assert h.module.metrics()["reconnects"] >= 1 and out.module.metrics()["reconnects"] >= 1
    finally:
        proxy.server.stop()
    assert seen == set(range(400))


def test_what_settles_after_its_connection_was_lost_is_not_acknowledged_on_the_next(mqtt_port, topic):
    """A packet id names a message on one connection only: the broker may give it to another
    message on the next, so a late PUBACK could acknowledge a message not yet delivered."""
    proxy = CuttingProxy(mqtt_port)
    variables = {"port": proxy.port, "topics": [f"{topic}/#"], "client_id": f"{topic}-late"}
    try:
        with Harness(MQTTIn, variables) as h, gevent.Timeout(30):
            while not h.module.ready:
                gevent.sleep(0.02)
            gevent.sleep(0.2)
            publish(mqtt_port, f"{topic}/late", 3)
            held = h.collect("outbox", 3)  # in the pipeline, not yet settled
            proxy.cut()
            while not (h.module.metrics()["reconnects"] and h.module.ready):
                gevent.sleep(0.02)
            again = h.collect("outbox", 3, timeout=10)  # the session kept them: sent again
            del held  # settle now, after their connection went
            gevent.sleep(0.3)
            metrics = h.module.metrics()
            assert metrics["stale_acks"] == 3 and metrics["acked"] == 0
            del again  # their copies on this connection are acknowledged
            gevent.sleep(0.3)
            assert h.module.metrics()["acked"] == 3
        with Harness(MQTTIn, variables) as h2:  # nothing left unacknowledged in the session
            gevent.sleep(1.0)
            assert h2.collected("outbox") == []
    finally:
        proxy.server.stop()
