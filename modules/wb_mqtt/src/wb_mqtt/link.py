"""One paho-mqtt client driven from a greenlet: cooperative, no thread, no patching.

paho exposes its socket and the three steps of its network loop (``loop_read``,
``loop_write``, ``loop_misc``), so a greenlet waits on the socket with gevent's ``select`` and
steps the client: nothing blocks the hub. Only the connect (a blocking ``create_connection``
inside paho) runs in gevent's threadpool (``wishbone.blocking``). A lost connection is
connected again with backoff (``wishbone.reconnect.Backoff`` shape: doubling, jittered, capped);
``on_connect`` runs after every (re)connect so a subscriber subscribes again.
"""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.event
import gevent.select
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from wishbone.blocking import call

__all__ = ["MQTTLink", "client_id_for"]

#: MQTT 5 session expiry "never", as an MQTT 3.1.1 persistent session (Mosquitto: until
#: ``persistent_client_expiration``)
SESSION_KEPT = 0xFFFFFFFF


def _nothing(*args: Any) -> None:
    """paho's socket-register callbacks: the driver selects on the socket itself."""


def client_id_for(given: str | None, name: str, instance: int, unique: bool = False) -> str:
    """The MQTT client id of a module in worker *instance*.

    Two connections with one client id take the session from each other, back and forth, so
    each worker needs its own: a *given* id is used as it is by instance 0 and gets
    ``-<instance>`` appended in the others. Without one: ``wishbone-<hostname>-<name>-<instance>``
    (stable, so that a restarted worker finds its session), plus a random part when *unique*
    (a publisher keeps no session: two pipelines on one host must not collide).
    """
    if given:
        return given if instance == 0 else f"{given}-{instance}"
    stable = f"wishbone-{socket.gethostname()}-{name}-{instance}"
    return f"{stable}-{os.urandom(4).hex()}" if unique else stable


class MQTTLink:
    """A paho client, its connection loop and its driver greenlet.

    :param host: broker address; :param port: broker port.
    :param client_id: the MQTT client id (stable, for a persistent session).
    :param clean: start a clean session (False keeps QoS 1 subscriptions and unacknowledged
        messages on the broker while the client is away).
    :param keepalive: seconds between pings.
    :param username: / :param password: credentials, if the broker wants them.
    :param log: the module's (rate-limited) logger.
    :param tls: connect with TLS.
    :param version: the protocol, ``"3.1.1"`` or ``"5"``.
    :param receive_maximum: MQTT 5: unacknowledged QoS 1 messages the broker may send at once
        (MQTT 3.1.1 leaves that to the broker: Mosquitto's ``max_inflight_messages``, 20).
    """

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        clean: bool,
        keepalive: int,
        username: str | None,
        password: str | None,
        log: Any,
        tls: bool = False,
        version: str = "3.1.1",
        receive_maximum: int | None = None,
    ) -> None:
        self.host, self.port, self.keepalive, self.log = host, port, keepalive, log
        self._connect_options: dict = {}
        if version == "5":
            self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
            properties = Properties(PacketTypes.CONNECT)
            if not clean:  # an MQTT 5 session ends with its connection unless it has an expiry
                properties.SessionExpiryInterval = SESSION_KEPT
            if receive_maximum:
                properties.ReceiveMaximum = receive_maximum
            self._connect_options = {"clean_start": clean, "properties": properties}
        elif version == "3.1.1":
            self.client = mqtt.Client(
                CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean, protocol=mqtt.MQTTv311
            )
        else:
            raise ValueError(f"MQTT version must be '3.1.1' or '5', not {version!r}")
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls:
            self.client.tls_set()
        self.client.on_connect = self._connected
        self.client.on_disconnect = self._disconnected
        # paho's "external loop" mode: a packet (publish, ack) is queued, not written at once
        # (a send and a loop_write per packet); the driver, or :meth:`write`, writes them in bursts
        self.client.on_socket_register_write = _nothing
        self.client.on_socket_unregister_write = _nothing
        self.connected = False
        self.reconnects = 0
        #: counts the connections: packet ids of one connection mean nothing on the next
        self.generation = 0
        self.on_connect: Callable[[], None] = lambda: None
        self.on_disconnect: Callable[[], None] = lambda: None
        #: called in the driver greenlet after every read (emit what arrived) and every step
        #: (acknowledge what settled); may block (backpressure: the driver stops reading)
        self.after_read: Callable[[], None] = lambda: None
        self.each_step: Callable[[], None] = lambda: None
        #: seconds the driver waits on the socket: short while acknowledgements may be due
        self.poll: Callable[[], float] = lambda: 0.5
        self._stopping = False
        self._wake = gevent.event.Event()

    def _connected(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any = None) -> None:
        if getattr(reason, "is_failure", False):
            self.log.warning("MQTT broker %s:%d refused the connection: %s", self.host, self.port, str(reason))
            return
        self.connected = True
        self.generation += 1
        self.on_connect()

    def _disconnected(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any = None) -> None:
        if self.connected:
            self.reconnects += 1
        self.connected = False
        self.on_disconnect()

    def stop(self) -> None:
        """End the driver loop (after a clean DISCONNECT when connected)."""
        self._stopping = True
        self._wake.set()

    def run(self) -> None:
        """Connect, drive, reconnect with backoff, until :meth:`stop` (run it in a greenlet)."""
        delay = 0.1
        first = True
        while not self._stopping:
            try:
                if first:
                    call(self.client.connect, self.host, self.port, self.keepalive, timeout=15, **self._connect_options)
                    first = False
                else:
                    call(self.client.reconnect, timeout=15)
            except Exception as exc:  # refused, unreachable, DNS: wait and try again
                self.log.warning("MQTT broker %s:%d: %s; retrying in %.1fs", self.host, self.port, str(exc), delay)
                self._wake.wait(delay * (0.8 + random.random() * 0.2))
                delay = min(delay * 2, 10.0)
                continue
            delay = 0.1
            self._drive()
        if self.client.socket() is not None:
            try:
                self.client.disconnect()
                self._drive(until_written=True)
            except Exception:  # already gone
                pass

    def _drive(self, until_written: bool = False) -> None:
        """Step paho while its socket is open (or, at the end, until its output is written)."""
        client = self.client
        deadline = time.monotonic() + 2.0
        while True:
            sock = client.socket()
            if sock is None:
                return
            if until_written and (not client.want_write() or time.monotonic() > deadline):
                return
            if self._stopping and not until_written:
                return
            writers = [sock] if client.want_write() else []
            # TLS: bytes already decrypted in the SSL object are not seen by select
            pending = sock.pending() if hasattr(sock, "pending") else 0
            try:
                readable, writable, _ = gevent.select.select([sock], writers, [], 0 if pending else self.poll())
            except (OSError, ValueError):  # the socket closed under us
                return
            rc = mqtt.MQTT_ERR_SUCCESS
            if readable or pending:
                rc = client.loop_read(max_packets=100)
                self.after_read()
            self.each_step()
            if rc == mqtt.MQTT_ERR_SUCCESS and (writable or client.want_write()):
                rc = client.loop_write()
            if rc == mqtt.MQTT_ERR_SUCCESS:
                rc = client.loop_misc()
            if rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_AGAIN):
                return  # lost: paho has closed the socket; run() connects again

    def write(self) -> None:
        """Write what is queued now (after a batch of publishes); the driver writes what is left."""
        if self.connected and self.client.want_write():
            self.client.loop_write()
