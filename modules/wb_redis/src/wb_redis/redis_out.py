"""The ``redis_out`` output: XADD, LPUSH/RPUSH or PUBLISH, one pipeline round trip per batch."""

from __future__ import annotations

import time

import gevent
import redis
from wishbone import codec as codecs
from wishbone.ack import mark_abandoned
from wishbone.log import RateLimitedLog, mask
from wishbone.module import Output

from wb_redis.connection import DEFAULT_URL, RETRYABLE, RedisLink, backoff

__all__ = ["RedisOut"]

MODES = ("stream", "lpush", "rpush", "publish")


class RedisOut(Output):
    """Writes events to Redis: a Stream (XADD), a list (LPUSH/RPUSH) or a channel (PUBLISH).

    Each batch is one pipeline (one round trip, no transaction). A connection error or a
    timeout keeps the batch and retries it with backoff until it is written, so nothing is
    dropped while Redis is away; at the stop deadline what was not written is abandoned (a
    tracked input upstream delivers it again). A command Redis refuses (``WRONGTYPE``, say)
    sends that event to ``failed`` with the error. The events are let go of (and a tracked
    input acknowledged) once Redis answered the pipeline: at least once (a pipeline whose
    answer was lost is sent again). ``PUBLISH`` is at most once by nature: a subscriber that is
    away misses the message.

    Parameters:
        url (str): ``redis://[:password@]host:port/db`` (default ``redis://127.0.0.1:6379/0``).
        mode (str): ``stream`` (default), ``lpush``, ``rpush`` or ``publish``.
        key (str): the stream, list or channel (default ``wishbone``).
        key_header (str): take the key from this header of each event when it has it, e.g.
            ``redis_key`` (default none).
        field (str): the entry field the data goes in (stream) (default ``data``).
        encode (str): codec of the data (default ``json``).
        maxlen (int): trim the stream to about this many entries (``MAXLEN ~``); 0 keeps all (default 0).
        timeout (float): socket timeout in seconds (default 5).

    Queues:
        inbox: events to write.
        failed: events Redis refused, or whose data does not encode.

    Metrics:
        written, refused, retries, connected.
    """

    def __init__(
        self,
        url: str = DEFAULT_URL,
        mode: str = "stream",
        key: str = "wishbone",
        key_header: str | None = None,
        field: str = "data",
        encode: str = "json",
        maxlen: int = 0,
        timeout: float = 5.0,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"url must start with redis://, rediss:// or unix://, got {mask(url)!r}")
        if maxlen < 0:
            raise ValueError("maxlen must be 0 (keep all) or more")
        self.url, self.mode, self.key, self.key_header = url, mode, key, key_header
        self.field, self.maxlen, self.timeout = field, maxlen, timeout
        self.codec = codecs.get(encode)
        self.written = self.refused = self.retries = 0
        self._link: RedisLink | None = None

    def on_start(self) -> None:
        self._link = RedisLink(self.url, self.timeout)
        self._trouble = RateLimitedLog(self.log)

    def on_stop(self) -> None:
        if self._link is not None:
            self._link.close()

    @property
    def ready(self) -> bool:
        """True while the last pipeline was answered."""
        return self._link is not None and self._link.connected

    def metrics(self) -> dict:
        return {"written": self.written, "refused": self.refused, "retries": self.retries, "connected": int(self.ready)}

    def consume_batch(self, events: list) -> None:
        """Write the batch in one pipeline; retry it whole while Redis is away."""
        commands, queued = [], []
        header = self.key_header
        for event in events:
            try:
                value = self.codec.encode(event["data"])
            except codecs.CodecError as exc:
                self.fail(event, exc)
                continue
            key = self.key
            if header is not None:
                key = str(event["headers"].get(header, key))
            commands.append((key, value))
            queued.append(event)
        if not queued:
            return
        replies = self._execute(commands, queued)
        if replies is None:
            return
        for event, reply in zip(queued, replies, strict=True):
            if isinstance(reply, Exception):
                self.refused += 1
                self.fail(event, reply)
            else:
                self.written += 1

    def _pipeline(self, commands: list) -> redis.client.Pipeline:
        """A fresh pipeline of *commands* (redis-py empties a pipeline when it executes, even on error)."""
        assert self._link is not None
        pipe = self._link.client.pipeline(transaction=False)
        queue = pipe.execute_command
        if self.mode == "stream":
            # The arguments redis-py's xadd() builds (XADD key [MAXLEN ~ n] * field value),
            # put together once per batch instead of once per event.
            trim = ("MAXLEN", "~", str(self.maxlen)) if self.maxlen else ()
            tail = (*trim, "*", self.field)
            for key, value in commands:
                queue("XADD", key, *tail, value)
        else:
            name = {"publish": "PUBLISH", "lpush": "LPUSH", "rpush": "RPUSH"}[self.mode]
            for key, value in commands:
                queue(name, key, value)
        return pipe

    def _execute(self, commands: list, queued: list) -> list | None:
        """The pipeline's replies, retried with backoff; None when the stop deadline came first."""
        pauses = backoff()
        while True:
            try:
                # raise_on_error=False: one reply per command, a refused one as its exception
                return self._link.run(self._pipeline(commands).execute, False)
            except RETRYABLE as exc:
                self._trouble.warning("Redis at %s: %s; retrying the batch", mask(self.url), str(exc))
            pause = pauses.next()
            if time.monotonic() + pause > self.stop_deadline:
                mark_abandoned(queued)
                return None
            self.retries += 1
            gevent.sleep(pause)
