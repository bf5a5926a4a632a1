"""The ``amqp_in`` input: consumes a RabbitMQ queue, acknowledges what was delivered downstream."""

from __future__ import annotations

import collections
import gc
import time
from typing import Any

import gevent
import gevent.event
import pika.exceptions
from wishbone import codec
from wishbone.ack import split, track
from wishbone.event import error_record
from wishbone.log import RateLimitedLog
from wishbone.module import Input

from wb_amqp.connector import DEFAULT_URL, Connector
from wb_amqp.session import Session
from wb_amqp.topology import Topology

__all__ = ["AMQPIn"]

# A delivery settles when its last event is released. One kept alive only by a reference cycle
# (a module's bug) is released at the next garbage collection, which an idle process may not
# run for a long time: amqp_in runs one itself when deliveries are outstanding and nothing has
# settled for this long, doubling the wait (up to _COLLECT_MAX) while that finds nothing.
_COLLECT_FIRST = 2.0
_COLLECT_MAX = 60.0


class _Link:
    """One session's consuming state: deliveries not yet emitted, tags not yet acknowledged.

    Delivery tags are per channel, so everything here dies with the session; the broker
    redelivers whatever this session left unacknowledged.
    """

    __slots__ = ("session", "generation", "arrived", "outstanding", "settled", "consumer_tag")

    def __init__(self, session: Session, generation: int) -> None:
        self.session = session
        self.generation = generation
        self.arrived: list = []  # (method, properties, body), filled in the hub
        self.outstanding: collections.deque[int] = collections.deque()  # emitted, in tag order
        self.settled: dict[int, bool] = {}  # tag -> True: ack pending; False: done already
        self.consumer_tag: str | None = None


class AMQPIn(Input):
    """Consumes a RabbitMQ queue; a message is acknowledged once its event was delivered.

    Every message becomes an event ``{"headers": {"amqp": {"routing_key", "exchange",
    "delivery_tag", "redelivered", "properties": {...}, "decode": "raw"}}, "data": body}``;
    ``properties`` holds every message property that is set (``message_id``,
    ``correlation_id``, ``headers``, ``content_type``, ``priority``, ``timestamp``...), which
    ``amqp_out`` publishes again; ``decode`` names the codec the body went through (by which
    ``amqp_out`` encodes it back). The body is passed as it is (``decode: raw``) or decoded. The message is
    acknowledged (in batches, ``multiple=True``) only when every copy of its event has been
    delivered downstream: confirmed by an ``amqp_out``, written by another output, or filtered
    out. An event that reaches a ``failed`` queue or is dropped is rejected: requeued, or
    dead-lettered by the broker. A queue whose ``x-dead-letter-exchange`` names an exchange
    that does not exist is refused (an error naming it, retried; nothing is consumed), since
    the broker would discard what is rejected; ``dead_letter_queue`` declares the exchange and
    a queue bound to it. At most ``prefetch`` messages are in the pipeline at once; on a lost
    connection the input reconnects with backoff, redeclares and resumes, and the broker
    redelivers what was not acknowledged (at-least-once: a message may arrive twice,
    ``headers.amqp.redelivered`` is then true). Ready while connected and consuming.

    Several instances (processes, hosts) consuming the same queue share its messages.

    Parameters:
        url (str): ``amqp://user:password@host:port/vhost`` (vhost ``/`` is ``%2F``); the
            password is masked everywhere it is shown. Without user:password pika logs in as
            guest/guest (default ``amqp://127.0.0.1:5672/%2F``).
        queue (str): the queue to consume; ``""`` declares a server-named one (default
            "wishbone").
        queue_durable (bool): declare the queue durable (default True).
        queue_exclusive (bool): declare it exclusive to this connection (default False).
        queue_auto_delete (bool): delete it when its last consumer leaves (default False).
        queue_arguments (dict): queue arguments, e.g. ``{"x-dead-letter-exchange": "dlx"}``.
        dead_letter_queue (str): declare the exchange named by ``x-dead-letter-exchange``
            (a durable fanout) and this durable queue bound to it, so that rejected
            messages are kept (default None: only check that the exchange exists).
        exchange (str): an exchange to declare and bind the queue to ("" = none, default).
        exchange_type (str): direct, fanout, topic or headers (default "direct").
        exchange_durable (bool): declare the exchange durable (default True).
        exchange_auto_delete (bool): delete it when unbound (default False).
        exchange_arguments (dict): exchange arguments.
        bindings (list[str]): routing keys binding the queue to the exchange.
        declare (bool): declare exchange, queue and bindings on every connect; False only
            checks that the queue exists (default True).
        prefetch (int): unacknowledged messages in flight at most (default 500).
        decode (str): how the body becomes ``data``, a codec of ``wishbone.codec``:
            ``"raw"`` (default; ``"bytes"`` is the same): the body as it is; ``"text"``:
            UTF-8; ``"json"``: one JSON text (NaN and Infinity refused, integers exact);
            ``"msgpack"``; ``"lines"`` / ``"json_lines"``: one event per line, all settling
            the one message. A body that does not decode goes to ``failed`` (and is rejected
            once released).
        requeue_failed (bool): requeue rejected messages instead of dead-lettering them
            (default False: a poison message would otherwise loop forever).
        heartbeat (int): AMQP heartbeat in seconds (default 30).
        reconnect_delay (float): first delay before a reconnect, doubling (default 0.5).
        reconnect_max_delay (float): longest delay between reconnects (default 30).
        timeout (float): seconds to wait for the broker to answer a command (default 15).

    Queues:
        outbox: one event per message.
        failed: events whose body did not decode (the message is rejected once released).

    Metrics:
        received, acked, rejected, unacked (emitted, not yet acknowledged),
        stale_settlements (settled after their connection was lost: redelivered),
        abandoned (cut off by a forced stop), decode_errors, reconnects, connected,
        cycle_settlements (settled only at a garbage collection amqp_in ran: some module
        keeps events in reference cycles; a warning says so).
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        queue: str = "wishbone",
        queue_durable: bool = True,
        queue_exclusive: bool = False,
        queue_auto_delete: bool = False,
        queue_arguments: dict | None = None,
        dead_letter_queue: str | None = None,
        exchange: str = "",
        exchange_type: str = "direct",
        exchange_durable: bool = True,
        exchange_auto_delete: bool = False,
        exchange_arguments: dict | None = None,
        bindings: list[str] | None = None,
        declare: bool = True,
        prefetch: int = 500,
        decode: str = "raw",
        requeue_failed: bool = False,
        heartbeat: int = 30,
        reconnect_delay: float = 0.5,
        reconnect_max_delay: float = 30.0,
        timeout: float = 15.0,
    ) -> None:
        if prefetch < 1 or prefetch > 65535:
            raise ValueError(f"prefetch must be between 1 and 65535, got {prefetch}")
        topology = Topology(
            exchange=exchange,
            exchange_type=exchange_type,
            exchange_durable=exchange_durable,
            exchange_auto_delete=exchange_auto_delete,
            exchange_arguments=dict(exchange_arguments or {}),
            queue=queue,
            queue_durable=queue_durable,
            queue_exclusive=queue_exclusive,
            queue_auto_delete=queue_auto_delete,
            queue_arguments=dict(queue_arguments or {}),
            bindings=list(bindings or []),
            declare=declare,
            dead_letter_queue=dead_letter_queue,
        )
        self.connector: Connector[_Link] = Connector(
            url, topology, heartbeat, timeout, reconnect_delay, reconnect_max_delay
        )
        self.url = self.connector.url
        self.topology = topology
        self.prefetch = prefetch
        try:
            self._codec = codec.get(decode)
        except ValueError as exc:  # names the codecs; the bootstrap adds the JSON path
            raise ValueError(f"decode: {exc}") from None
        self.decode = self._codec.name  # "bytes" is "raw"; amqp_out's encode: auto reads it
        self.requeue_failed = requeue_failed

    @property
    def ready(self) -> bool:
        """True while connected, the topology declared and the consumer registered."""
        return self.connector.ready

    # ------------------------------------------------------------------ lifecycle
    def on_start(self) -> None:
        self._link: _Link | None = None
        self._generation = 0
        self._arrivals = gevent.event.Event()  # deliveries waiting to be emitted
        self._wake = gevent.event.Event()  # settlements waiting, session lost, or stopping
        self._settlements: list = []
        self._intake = True
        self._stopping = False
        self._bad_body = RateLimitedLog(self.log)
        self._cycles_log = RateLimitedLog(self.log)
        self.received = self.acked = self.rejected = self.stale = self.abandoned = 0
        self.decode_errors = self.cycle_settlements = 0
        self._connection = self.spawn(
            self.connector.run, self.log, ("consume from", "consuming"), self._setup, self._serve
        )
        self.spawn_producer(self._emit_loop)

    def on_stop_intake(self) -> None:
        """Stop receiving (basic_cancel); the connection stays open for the final acks."""
        self._intake = False
        link = self._link
        if link is not None and link.consumer_tag and link.session.is_open:
            try:
                link.session.channel.basic_cancel(link.consumer_tag)
            except Exception:  # the session is going away; the broker requeues
                pass
        self._arrivals.set()

    def on_stop(self) -> None:
        """Acknowledge what was delivered (until the deadline), then close the connection."""
        self._stopping = True
        self.connector.stop()
        self._wake.set()
        self._connection.join(max(0.1, self.stop_deadline - time.monotonic() - 0.2))
        self.connector.abort()  # still open at the deadline: the broker requeues what it holds

    def metrics(self) -> dict:
        """Messages received, acknowledged, rejected; reconnects; settlements of old sessions."""
        link = self._link
        return {
            "received": self.received,
            "acked": self.acked,
            "rejected": self.rejected,
            "unacked": len(link.outstanding) if link else 0,
            "stale_settlements": self.stale,
            "abandoned": self.abandoned,
            "decode_errors": self.decode_errors,
            "cycle_settlements": self.cycle_settlements,
            "reconnects": self.connector.reconnects,
            "connected": int(self.connector.ready),
        }

    # ------------------------------------------------------------------ the connection greenlet
    def _setup(self, session: Session, queue: str | None) -> _Link:
        """Set the prefetch window and start consuming *queue* (the topology is declared)."""
        self._generation += 1
        link = _Link(session, self._generation)
        channel = session.channel
        session.call(channel.basic_qos, prefetch_count=self.prefetch)
        if self._intake:
            arrivals = self._arrivals

            def on_message(channel: Any, method: Any, properties: Any, body: bytes) -> None:
                # In the hub: only record and signal (the producer swaps link.arrived for a new list).
                link.arrived.append((method, properties, body))
                arrivals.set()

            ok = session.call(channel.basic_consume, queue=queue, on_message_callback=on_message)
            link.consumer_tag = ok.method.consumer_tag
        self._link = link
        self._arrivals.set()  # deliveries may have arrived before the link was published
        session.lost.rawlink(lambda _: self._wake.set())
        return link

    def _serve(self, link: _Link) -> bool:
        """Acknowledge in batches until the session is lost (False), or stopping and all settled (True)."""
        lost = link.session.lost
        wake = self._wake
        collect_after = _COLLECT_FIRST
        while not lost.is_set():
            if self._settlements:
                self._acknowledge(link)
                collect_after = _COLLECT_FIRST
            if self._stopping and (not link.outstanding or time.monotonic() >= self.stop_deadline - 0.3):
                if link.outstanding:
                    self.log.warning(
                        "%d message(s) not delivered by the stop deadline; the broker will redeliver them.",
                        len(link.outstanding),
                    )
                break
            wake.clear()
            if self._settlements:
                continue
            if self._stopping:
                wake.wait(0.5)
            elif not wake.wait(collect_after) and link.outstanding:
                collect_after = min(collect_after * 2, _COLLECT_MAX)
                self._collect_cycles()
        if self._stopping:
            self.connector.close(link.session, self.stop_deadline)
            return True
        self._link = None
        return False

    def _acknowledge(self, link: _Link) -> None:
        """Apply the settlements recorded so far: ack the contiguous prefix, reject failures."""
        items, self._settlements = self._settlements, []
        generation = link.generation
        settled = link.settled
        channel = link.session.channel
        requeue = self.requeue_failed
        try:
            for (gen, tag), ok in items:
                if gen != generation:
                    self.stale += 1  # from a lost session: the broker redelivers that message
                elif ok is None:
                    self.abandoned += 1  # cut off by a forced stop: left unacked, the broker redelivers it
                elif ok:
                    settled[tag] = True
                else:
                    channel.basic_nack(delivery_tag=tag, multiple=False, requeue=requeue)
                    settled[tag] = False
                    self.rejected += 1
            outstanding = link.outstanding
            last = 0
            acked = 0
            while outstanding and outstanding[0] in settled:
                tag = outstanding.popleft()
                if settled.pop(tag):
                    last = tag
                    acked += 1
            if last:
                channel.basic_ack(delivery_tag=last, multiple=True)
                self.acked += acked
            if len(settled) > self.prefetch // 2:
                # One slow event holds the prefix back: ack the others one by one so the
                # prefetch window keeps moving.
                for tag, pending in settled.items():
                    if pending:
                        channel.basic_ack(delivery_tag=tag, multiple=False)
                        settled[tag] = False
                        self.acked += 1
        except (pika.exceptions.AMQPError, AttributeError):
            pass  # the channel closed meanwhile: the loss is handled by the caller, the broker redelivers

    def _collect_cycles(self) -> None:
        """Deliveries outstanding, none settled for a while: free events held only by reference cycles."""
        before = len(self._settlements)
        gc.collect()
        freed = len(self._settlements) - before
        if freed:
            self.cycle_settlements += freed
            self._cycles_log.warning(
                "%d message(s) settled only at a garbage collection: a module of this pipeline keeps events "
                "in reference cycles, which holds back their acknowledgement (%d so far).",
                freed,
                self.cycle_settlements,
            )

    def _settled(self, tag: tuple, ok: bool | None) -> None:
        """Delivery callback (any greenlet, even the hub): only record and signal."""
        self._settlements.append((tag, ok))
        self._wake.set()

    # ------------------------------------------------------------------ the producer
    def _emit_loop(self) -> None:
        arrivals = self._arrivals
        while self.running:
            arrivals.wait()
            arrivals.clear()
            link = self._link
            if not self._intake or link is None or not link.arrived:
                continue
            batch, link.arrived = link.arrived, []
            if link.session.lost.is_set():
                continue  # unacknowledged on a dead channel: the broker redelivers them
            self._emit_deliveries(link, batch)

    def _emit_deliveries(self, link: _Link, batch: list) -> None:
        """One event per delivery, tracked, handed on in one batch for the whole burst."""
        generation = link.generation
        outstanding = link.outstanding.append
        settle = self._settled
        framed = self._codec.framed
        decode = self._codec.decode if framed else self._codec.decode_frame
        codec_name = self.decode
        events = []
        append = events.append
        failed = None
        for method, properties, body in batch:
            tag = method.delivery_tag
            headers = {
                "amqp": {
                    "routing_key": method.routing_key,
                    "exchange": method.exchange,
                    "delivery_tag": tag,
                    "redelivered": method.redelivered,
                    "properties": {k: v for k, v in properties.__dict__.items() if v is not None},
                    "decode": codec_name,
                }
            }
            outstanding(tag)
            try:
                data = decode(body)
            except Exception as exc:  # CodecError; and whatever else, garbage never stops the input
                headers["error"] = error_record(self.name, exc)
                self.emit(track({"headers": headers, "data": body}, settle, (generation, tag)), "failed")
                failed = f"{type(exc).__name__}: {exc}"  # text only: a kept exception keeps its frames
                self.decode_errors += 1
                continue
            if framed:  # one event per line, the message settles with the last of them
                events.extend(split(track({"headers": headers, "data": None}, settle, (generation, tag)), data))
            else:
                append(track({"headers": headers, "data": data}, settle, (generation, tag)))
        self.received += len(batch)
        if failed is not None:
            self._bad_body.warning("Bodies that do not decode as %s went to 'failed': %s", self.decode, failed)
        self.emit_batch(events)
        self.flush()
