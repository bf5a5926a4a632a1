"""The ``redis_in`` input: a Stream with a consumer group, a list with a processing list, or pub/sub."""

from __future__ import annotations

import socket
import time
from typing import Any

import gevent
import gevent.event
import gevent.queue
import redis
from wishbone import codec as codecs
from wishbone.ack import Delivery, TrackedEvent, track
from wishbone.log import RateLimitedLog, mask
from wishbone.module import Input

from wb_redis.connection import DEFAULT_URL, RETRYABLE, RedisLink

__all__ = ["RedisIn"]


def _as_sent(response: Any, **options: Any) -> Any:
    """A response callback that keeps the reply as parsed from the wire."""
    return response


def _entries(reply: Any) -> list:
    """The entries of a raw XREADGROUP reply of one stream (RESP2: a list, RESP3: a map; None: nothing)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return next(iter(reply.values()))
    return reply[0][1]


MODES = ("stream", "list", "pubsub")


class RedisIn(Input):
    """Reads events from Redis: a Stream with a consumer group, a list, or pub/sub channels.

    * ``mode: stream`` (at least once): ``XREADGROUP`` of up to ``batch_size`` entries on
      ``key`` as ``consumer`` of ``group`` (created with ``MKSTREAM`` when missing, from
      ``start``). An entry is ``XACK``-ed only once its event was delivered downstream (or
      reached ``failed``: it is handled, and a poison entry must not come back forever);
      what a forced stop abandons stays pending. At start the consumer first reads its own
      pending entries (what it had not acknowledged when it died), and every
      ``claim_interval`` seconds it claims (``XAUTOCLAIM``) entries other consumers left
      pending for more than ``claim_idle`` seconds. ``data`` is the decoded value of the
      entry's ``field`` (``null``: the whole entry as an object of text fields).
    * ``mode: list`` (at least once): ``BLMOVE`` from ``key`` into a processing list
      (``processing``, default ``<key>:processing:<consumer>``), then up to ``batch_size``
      more in one pipeline; an item leaves the processing list (``LREM``) once delivered. At
      start what the processing list holds (a previous run's in-flight items) comes first.
    * ``mode: pubsub`` (at most once: Redis keeps nothing for a subscriber that is away):
      ``SUBSCRIBE`` to ``key`` (channels, comma-separated) or ``PSUBSCRIBE`` to patterns.

    ``headers["redis"]``: ``key`` and ``id`` (stream), ``key`` (list) or ``channel`` (pubsub).
    Data that does not decode goes to ``failed`` with the reason (and is acknowledged).
    All redis-py calls run in gevent's threadpool (see ``wishbone.blocking``).

    Parameters:
        url (str): ``redis://[:password@]host:port/db`` (default ``redis://127.0.0.1:6379/0``).
        mode (str): ``stream`` (default), ``list`` or ``pubsub``.
        key (str): the stream, the list, or the channels (comma-separated) (default ``wishbone``).
        group (str): the consumer group (stream) (default ``wishbone``).
        consumer (str): this consumer's name; stable across restarts so it finds its own
            pending entries again (default ``<hostname>-<instance>``).
        start (str): where a new group starts: ``$`` (new entries) or ``0`` (all) (default ``$``).
        field (str): the entry field holding the data (stream); null for the whole entry (default ``data``).
        decode (str): codec of the data (default ``json``).
        pattern (bool): pubsub channels are patterns (PSUBSCRIBE) (default False).
        processing (str): the processing list (list mode) (default ``<key>:processing:<consumer>``).
        block (float): seconds one read waits for new data (default 1).
        claim_idle (float): claim other consumers' entries pending this long (default 60; 0: never).
        claim_interval (float): seconds between claims (default 10).
        timeout (float): socket timeout in seconds (default 5).

    Queues:
        outbox: the events.
        failed: data that did not decode.

    Metrics:
        read, acked, claimed, recovered (pending or processing items at start), decode_errors,
        reconnects (connection errors), connected.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        mode: str = "stream",
        key: str = "wishbone",
        group: str = "wishbone",
        consumer: str | None = None,
        start: str = "$",
        field: str | None = "data",
        decode: str = "json",
        pattern: bool = False,
        processing: str | None = None,
        block: float = 1.0,
        claim_idle: float = 60.0,
        claim_interval: float = 10.0,
        timeout: float = 5.0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"url must start with redis://, rediss:// or unix://, got {mask(url)!r}")
        if not 0 < block <= 60 or timeout <= block:
            raise ValueError("block must be more than 0 and at most 60 seconds, and less than timeout")
        self.url, self.mode, self.key, self.group = url, mode, key, group
        self.consumer_name = consumer
        self.start_id, self.field, self.pattern = start, field, pattern
        self.codec = codecs.get(decode)
        # One data item per value: the item itself, or for a framed codec (lines) the list of them.
        self._decode = self.codec.decode if self.codec.framed else self.codec.decode_frame
        self._field = None if field is None else field.encode()
        self.processing_name = processing
        self.block, self.claim_idle, self.claim_interval, self.timeout = block, claim_idle, claim_interval, timeout
        self.read = self.acked = self.claimed = self.recovered = self.decode_errors = 0
        self._link: RedisLink | None = None

    # ------------------------------------------------------------------ lifecycle
    def on_start(self) -> None:
        self.consumer = self.consumer_name or f"{socket.gethostname()}-{self.context.instance}"
        self.processing = self.processing_name or f"{self.key}:processing:{self.consumer}"
        self._link = RedisLink(self.url, self.timeout)
        # XREADGROUP's reply as the server sent it: redis-py's callback would turn each entry's
        # fields into a dict in Python (for this client only; _entries reads both RESP shapes).
        self._link.client.set_response_callback("XREADGROUP", _as_sent)
        self._bad = RateLimitedLog(self.log)
        self._trouble = RateLimitedLog(self.log)
        self._settled: list[Any] = []
        # The stream reader sends what settled with its next XREADGROUP (one round trip, one
        # thread hand-off); the acker is woken only when they pile up beyond that (the reader is
        # blocked downstream), and acknowledges the rest every round while the stream is idle.
        self._ack_at = self.batch_size * (2 if self.mode == "stream" else 1)
        self._wake = gevent.event.Event()
        self._closing = False
        self.spawn_producer({"stream": self._stream, "list": self._list, "pubsub": self._pubsub}[self.mode])
        if self.mode != "pubsub":
            self.spawn(self._acker)

    def on_stop_intake(self) -> None:
        self._wake.set()

    def on_stop(self) -> None:
        """Acknowledge what was delivered until the deadline, then close."""
        self._closing = True
        self._wake.set()
        self.join_background(max(0.1, self.stop_deadline - time.monotonic() - 0.2))
        if self._link is not None:
            self._link.close()

    @property
    def ready(self) -> bool:
        """True while the last Redis call succeeded."""
        return self._link is not None and self._link.connected

    def metrics(self) -> dict:
        return {
            "read": self.read,
            "acked": self.acked,
            "claimed": self.claimed,
            "recovered": self.recovered,
            "decode_errors": self.decode_errors,
            "reconnects": self._link.errors if self._link else 0,
            "connected": int(self.ready),
        }

    def _settle(self, tag: Any, ok: bool | None) -> None:
        if ok is not None:  # abandoned: stays pending / in the processing list for a later run
            settled = self._settled
            settled.append(tag)
            if len(settled) >= self._ack_at:
                self._wake.set()

    def _running(self) -> bool:
        return self.running

    # ------------------------------------------------------------------ events
    def _event(self, raw: Any, headers: dict, tag: Any) -> dict | None:
        """One tracked event for *raw*, or None when it does not decode (then failed, settled)."""
        try:
            if raw is None or isinstance(raw, dict):
                data = {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in (raw or {}).items()}
            else:
                data = self._decode(raw)
        except (codecs.CodecError, ValueError) as exc:
            self.decode_errors += 1
            self._bad.warning("Redis %s: data that does not decode: %s", headers, str(exc))
            event = track({"headers": {"redis": headers}, "data": raw}, self._settle, tag)
            self.fail(event, exc)
            return None
        return track({"headers": {"redis": headers}, "data": data}, self._settle, tag)

    def _emit(self, events: list) -> None:
        if events:
            self.read += len(events)
            self.emit_batch(events)
        self.flush()  # and what went to failed

    # ------------------------------------------------------------------ stream
    def _stream(self) -> None:
        """Emit the entries the reader hands over: it reads the next batch while this one is
        decoded and emitted (the Redis round trip overlaps the work here), one batch ahead."""
        batches: gevent.queue.Channel = gevent.queue.Channel()
        self.spawn_producer(self._read_stream, batches)
        emit = self._emit_entries
        while self.running:
            try:
                entries = batches.get(timeout=0.2)
            except gevent.queue.Empty:
                continue
            emit(entries)
            entries = []  # let go before waiting: held here, they could not settle

    def _hand_over(self, batches: gevent.queue.Channel, entries: list) -> None:
        """Give *entries* to the emitting greenlet; at a stop they stay pending for a later run."""
        while self.running:
            try:
                batches.put(entries, timeout=0.2)
                return
            except gevent.queue.Full:
                continue

    def _read_stream(self, batches: gevent.queue.Channel) -> None:
        link = self._link
        assert link is not None
        client = link.client
        while self.running and not self._create_group(client):
            self._wake.wait(1.0)
        pending: str | None = "0"  # first what this consumer had not acknowledged, from this id on
        last_claim = 0.0
        while self.running:
            if self.claim_idle and time.monotonic() - last_claim >= self.claim_interval:
                last_claim = time.monotonic()
                claimed = self._claim(client)
                if claimed:
                    self._hand_over(batches, claimed)
            tags, self._settled = self._settled, []  # acknowledged in the same round trip as the read
            try:
                acked, reply = link.run(
                    self._ack_and_read,
                    client,
                    tags,
                    pending or ">",
                    None if pending else int(self.block * 1000),
                    timeout=self.timeout + self.block,
                )
            except RETRYABLE as exc:
                self._settled[:0] = tags  # not known to be acknowledged: again with the next round
                self._trouble.warning("Redis at %s: %s; reconnecting", mask(self.url), str(exc))
                self._wake.wait(0.5)
                continue
            if tags:
                if isinstance(acked, Exception):
                    self._settled[:0] = tags  # again with the next round
                    self._trouble.warning("Redis acknowledgement failed: %s; will retry", str(acked))
                else:
                    self.acked += len(tags)
            if isinstance(reply, Exception):  # the group went away (stream deleted): make it again
                self._trouble.warning("Redis XREADGROUP on %s: %s", self.key, str(reply))
                self._create_group(client)
                continue
            entries = _entries(reply)
            if pending:
                if not entries:
                    pending = None  # every old entry is in flight again: now the new ones
                    continue
                pending = entries[-1][0].decode()  # the next read starts after the last one
                self.recovered += len(entries)
            if entries:
                self._hand_over(batches, entries)
            reply = entries = []

    def _ack_and_read(self, client: redis.Redis, tags: list, start: str, block: int | None) -> tuple:
        """In the thread: XACK *tags* (if any) and XREADGROUP from *start* in one pipeline.

        The XACK runs before the read blocks (Redis answers commands in order). Returns (the
        XACK's reply, or its error as a value, or None without tags; the read's reply or its
        error as a value): the hub keeps the books, not the thread.
        """
        streams = {self.key: start}
        if not tags:
            try:
                return None, client.xreadgroup(self.group, self.consumer, streams, count=self.batch_size, block=block)
            except redis.ResponseError as exc:
                return None, exc
        pipe = client.pipeline(transaction=False)
        pipe.xack(self.key, self.group, *tags)
        pipe.xreadgroup(self.group, self.consumer, streams, count=self.batch_size, block=block)
        acked, reply = pipe.execute(raise_on_error=False)
        return acked, reply

    def _emit_entries(self, entries: list) -> None:
        """One tracked event per stream entry, emitted in one batch (the loop is per event: kept lean).

        The entry id stays bytes as the tag that settles (XACK sends it as it came); the
        header has it as text.
        """
        events: list = []
        append = events.append
        key, field, decode, settle = self.key, self._field, self._decode, self._settle
        for entry_id, fields in entries:
            if fields is None:  # deleted from the stream while pending: nothing to deliver
                self._settled.append(entry_id)
                continue
            if type(fields) is list and field is not None and fields and fields[0] == field:
                raw = fields[1]  # the usual: XREADGROUP's [name, value, ...] with the one field first
            else:
                if type(fields) is list:  # XAUTOCLAIM's replies are dicts already
                    fields = dict(zip(fields[::2], fields[1::2], strict=False))
                raw = fields if field is None else fields.get(field)
            if type(raw) is bytes:
                try:
                    data = decode(raw)
                except (codecs.CodecError, ValueError):
                    pass  # _event below sends it to failed with the reason
                else:
                    event = TrackedEvent(headers={"redis": {"key": key, "id": entry_id.decode()}}, data=data)
                    event.delivery = Delivery(settle, entry_id)
                    append(event)
                    continue
            event = self._event(raw, {"key": key, "id": entry_id.decode()}, entry_id)  # whole entry, none, bad
            if event is not None:
                append(event)
        self._emit(events)

    def _create_group(self, client: redis.Redis) -> bool:
        try:
            self._link.run(client.xgroup_create, self.key, self.group, id=self.start_id, mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                self._trouble.warning("Redis XGROUP CREATE %s %s: %s", self.key, self.group, str(exc))
                return False
        except RETRYABLE as exc:
            self._trouble.warning("Redis at %s: %s; reconnecting", mask(self.url), str(exc))
            return False
        return True

    def _claim(self, client: redis.Redis) -> list:
        """The entries other consumers left pending for longer than ``claim_idle``, now ours."""
        try:
            reply = self._link.run(
                client.xautoclaim,
                self.key,
                self.group,
                self.consumer,
                int(self.claim_idle * 1000),
                count=self.batch_size,
            )
        except (redis.RedisError, *RETRYABLE) as exc:
            self._trouble.warning("Redis XAUTOCLAIM on %s: %s", self.key, str(exc))
            return []
        entries = reply[1] if reply else []
        self.claimed += len(entries)
        return entries

    # ------------------------------------------------------------------ list
    def _list(self) -> None:
        link = self._link
        assert link is not None
        client = link.client
        first = True
        while self.running:
            try:
                if first:  # what a previous run had taken but not delivered
                    items = link.run(client.lrange, self.processing, 0, -1)
                    items.reverse()
                    self.recovered += len(items)
                    first = False
                else:
                    item = link.run(
                        client.blmove,
                        self.key,
                        self.processing,
                        self.block,
                        "RIGHT",
                        "LEFT",
                        timeout=self.timeout + self.block,
                    )
                    if item is None:
                        continue
                    pipe = client.pipeline(transaction=False)
                    for _ in range(self.batch_size - 1):
                        pipe.lmove(self.key, self.processing, "RIGHT", "LEFT")
                    items = [item, *(i for i in link.run(pipe.execute) if i is not None)]
            except RETRYABLE as exc:
                self._trouble.warning("Redis at %s: %s; reconnecting", mask(self.url), str(exc))
                self._wake.wait(0.5)
                continue
            events = [e for e in (self._event(i, {"key": self.key}, i) for i in items) if e is not None]
            self._emit(events)
            # let go before the next (blocking) read: held here, they could not settle
            events = items = []

    # ------------------------------------------------------------------ pubsub
    def _pubsub(self) -> None:
        link = self._link
        assert link is not None
        channels = [c.strip() for c in self.key.split(",") if c.strip()]
        subscriber = None
        while self.running:
            try:
                if subscriber is None:
                    subscriber = link.client.pubsub(ignore_subscribe_messages=True)
                    link.run(subscriber.psubscribe if self.pattern else subscriber.subscribe, *channels)
                messages = []
                message = link.run(subscriber.get_message, True, self.block, timeout=self.timeout + self.block)
                while message is not None and len(messages) < self.batch_size:
                    messages.append(message)
                    message = link.run(subscriber.get_message, True, 0)
            except RETRYABLE as exc:
                self._trouble.warning("Redis at %s: %s; resubscribing", mask(self.url), str(exc))
                subscriber = None
                self._wake.wait(0.5)
                continue
            events = []
            for m in messages:
                channel = m["channel"].decode("utf-8", "replace")
                try:
                    [data] = self.codec.decode(m["data"])
                except (codecs.CodecError, ValueError) as exc:
                    self.decode_errors += 1
                    self.fail({"headers": {"redis": {"channel": channel}}, "data": m["data"]}, exc)
                    continue
                events.append({"headers": {"redis": {"channel": channel}}, "data": data})
            self._emit(events)
        if subscriber is not None:
            try:
                link.run(subscriber.close)
            except Exception:  # closing a broken subscription
                pass

    # ------------------------------------------------------------------ acknowledging
    def _acker(self) -> None:
        """Acknowledge settled entries in batches: one XACK (or one LREM pipeline) per round."""
        while True:
            closing = self._closing  # on_stop: everything downstream has settled by now
            self._wake.wait(0.2)
            self._wake.clear()
            if self._settled:
                self._acknowledge()
            if closing and not self._settled:
                return

    def _acknowledge(self) -> None:
        tags, self._settled = self._settled, []
        link = self._link
        assert link is not None
        try:
            if self.mode == "stream":
                link.run(link.client.xack, self.key, self.group, *tags)
            else:
                pipe = link.client.pipeline(transaction=False)
                for item in tags:
                    pipe.lrem(self.processing, 1, item)
                link.run(pipe.execute)
        except (redis.RedisError, *RETRYABLE) as exc:
            self._settled[:0] = tags  # try again next round
            self._trouble.warning("Redis acknowledgement failed: %s; will retry", str(exc))
            gevent.sleep(0.5)
            return
        self.acked += len(tags)
