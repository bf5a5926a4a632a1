"""The ``http_out`` output: POSTs events to an HTTP endpoint, a batch per request, keep-alive.

geventhttpclient is the client: made for gevent (its sockets are gevent's, nothing is
patched), it keeps connections alive in a pool and parses responses in C. A batch becomes
one request (``format: ndjson`` or ``json_array``) or one request per event (``single``).
A 5xx, 408, 429 or a connection error is retried with backoff until it succeeds or the stop
deadline comes (then the events are abandoned, so a tracked input upstream delivers them
again); any other 4xx is permanent: those events go to ``failed`` with the status.
"""

from __future__ import annotations

import random
import time
from urllib.parse import urlsplit

import gevent
from geventhttpclient import HTTPClient
from geventhttpclient.url import URL
from wishbone import codec as codecs
from wishbone.ack import mark_abandoned
from wishbone.log import RateLimitedLog
from wishbone.module import Output

__all__ = ["HTTPOut"]

_FORMATS = ("ndjson", "json_array", "single")
_RETRYABLE = {408, 429}


class PermanentError(Exception):
    """The server refused the request for good (a 4xx other than 408/429)."""


class HTTPOut(Output):
    """Sends events to an HTTP endpoint: batched, keep-alive, retried with backoff.

    The body is the events' ``data`` (or whole events with ``complete``): ``ndjson`` one JSON
    text per line, ``json_array`` one JSON array, ``single`` one request per event with the
    event's data encoded by ``encode``. A 2xx settles the events (acknowledges a tracked input
    upstream). A 5xx, 408, 429 or a connection error is retried with exponential backoff
    (``retry_initial`` doubling to ``retry_max`` seconds, with jitter) until it succeeds; at
    the stop deadline what was not sent is abandoned (left for a tracked input to redeliver).
    Any other 4xx is permanent: those events go to ``failed`` with the status and body.

    Parameters:
        url (str): where to POST (``http://127.0.0.1:8080/``); https works too.
        format (str): ``ndjson`` (default), ``json_array`` or ``single``.
        encode (str): codec of each event's data for ``single`` (default ``json``).
        complete (bool): send whole events (headers and data), not only data (default False).
        method (str): HTTP method (default ``POST``).
        headers (dict): extra request headers (default none).
        auth_token (str): send ``Authorization: Bearer <token>`` (default none).
        timeout (float): seconds to connect and to wait for an answer (default 10).
        concurrency (int): connections kept alive in the pool (default 4).
        retry_initial (float): first backoff in seconds (default 0.1).
        retry_max (float): longest backoff in seconds (default 10).

    Queues:
        inbox: events to send.
        failed: events the server refused for good (``headers["error"]`` says the status).

    Metrics:
        requests, sent (events), retries, refused (events to failed), connected (1/0).
    """

    def __init__(
        self,
        url: str = "http://127.0.0.1:8080/",
        format: str = "ndjson",
        encode: str = "json",
        complete: bool = False,
        method: str = "POST",
        headers: dict | None = None,
        auth_token: str | None = None,
        timeout: float = 10.0,
        concurrency: int = 4,
        retry_initial: float = 0.1,
        retry_max: float = 10.0,
    ) -> None:
        if format not in _FORMATS:
            raise ValueError(f"format must be one of {', '.join(_FORMATS)}, got {format!r}")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"url must be http:// or https:// with a host, got {url!r}")
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.url = URL(url)
        self.format = format
        self.codec = codecs.get(encode)
        self.complete = complete
        self.method = method.upper()
        self.request_headers = {**(headers or {})}
        if auth_token is not None:
            self.request_headers["Authorization"] = f"Bearer {auth_token}"
        self.request_headers.setdefault(
            "Content-Type", "application/x-ndjson" if format == "ndjson" else "application/json"
        )
        self.timeout = timeout
        self.concurrency = concurrency
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.requests = self.sent = self.retries = self.refused = 0
        self.connected = False
        self._client: HTTPClient | None = None

    def on_start(self) -> None:
        self._client = HTTPClient.from_url(
            self.url,
            concurrency=self.concurrency,
            connection_timeout=self.timeout,
            network_timeout=self.timeout,
        )
        self._trouble = RateLimitedLog(self.log)

    def on_stop(self) -> None:
        if self._client is not None:
            self._client.close()

    @property
    def ready(self) -> bool:
        """True once a request succeeded and until a connection error."""
        return self.connected

    def metrics(self) -> dict:
        return {
            "requests": self.requests,
            "sent": self.sent,
            "retries": self.retries,
            "refused": self.refused,
            "connected": int(self.connected),
        }

    # ------------------------------------------------------------------ sending
    def _body(self, events: list) -> bytes:
        items = events if self.complete else [e["data"] for e in events]
        if self.format == "ndjson":
            return b"".join(codecs.json_dumps(item) + b"\n" for item in items)
        return codecs.json_dumps(items)

    def consume_batch(self, events: list) -> None:
        """Send the batch (one request, or one per event for ``single``), retrying as documented."""
        if self.format == "single":
            for event in events:
                try:
                    body = self.codec.encode(event if self.complete else event["data"])
                except codecs.CodecError as exc:
                    self.fail(event, exc)
                    continue
                self._deliver([event], body)
        else:
            good = []
            for event in events:
                try:
                    codecs.json_dumps(event if self.complete else event["data"])
                    good.append(event)
                except codecs.CodecError as exc:
                    self.fail(event, exc)
            if good:
                self._deliver(good, self._body(good))

    def _deliver(self, events: list, body: bytes) -> None:
        backoff = self.retry_initial
        while True:
            try:
                self._request(body)
                self.sent += len(events)
                return
            except PermanentError as exc:
                self.refused += len(events)
                for event in events:
                    self.fail(event, exc)
                return
            except Exception as exc:  # 5xx, 408, 429, connection errors: retry
                # str(exc): a log record holding the exception would hold its traceback, its
                # frames and so these events (and the acknowledgement of their input)
                self._trouble.warning("POST %s failed (%s); retrying in %.1fs", self.url, str(exc), backoff)
            if time.monotonic() + backoff > self.stop_deadline:
                # the stop deadline: never attempted to the end, so left for the source to redeliver
                mark_abandoned(events)
                return
            self.retries += 1
            gevent.sleep(backoff * (0.5 + random.random() / 2))
            backoff = min(backoff * 2, self.retry_max)

    def _request(self, body: bytes) -> None:
        assert self._client is not None
        self.requests += 1
        try:
            response = self._client.request(self.method, self.url.request_uri, body=body, headers=self.request_headers)
            status = response.status_code
            text = response.read()
        except Exception:
            self.connected = False
            raise
        self.connected = True
        if 200 <= status < 300:
            return
        snippet = text[:200].decode("utf-8", "replace")
        if 400 <= status < 500 and status not in _RETRYABLE:
            raise PermanentError(f"HTTP {status}: {snippet}")
        raise RuntimeError(f"HTTP {status}: {snippet}")
