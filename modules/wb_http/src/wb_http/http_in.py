"""The ``http_in`` input: an HTTP server whose POSTed bodies become events.

Each request runs in the server's own greenlet: it reads the body (bounded), decodes it with
the chosen codec into one event or many (``json_lines``: one per line), hands them on in one
batch and, with ``ack`` on, waits until every one of them has been delivered downstream
before it answers: 200 when all were delivered, 500 when any failed, 503 when they were not
done within ``ack_timeout``. The client's retry is what makes delivery at least once.
"""

from __future__ import annotations

import base64
import hmac
import socket
import time
from typing import Any

import gevent
import gevent.event
import gevent.lock
from gevent.pywsgi import WSGIHandler, WSGIServer
from wishbone import codec as codecs
from wishbone.ack import Delivery, TrackedEvent
from wishbone.log import RateLimitedLog
from wishbone.module import Input

__all__ = ["HTTPIn"]

_JSON = [("Content-Type", "application/json")]


class _Request:
    """The outcome of one request's events; they share one delivery, settled with the last."""

    __slots__ = ("ok", "done")

    def __init__(self) -> None:
        self.ok: bool | None = None
        self.done = gevent.event.Event()


def _settle(request: _Request, ok: bool | None) -> None:
    request.ok = ok
    request.done.set()


class _Handler(WSGIHandler):
    """pywsgi's handler with an idle timeout on the connection (a client that connects and
    never sends, or sends a byte a minute, is cut off), with ``TCP_NODELAY``, and without an
    access-log line per request (never a log call per event).

    pywsgi writes an answer's headers and its body in two ``send`` calls; with Nagle's
    algorithm on, the body waits for the client to acknowledge the headers, and a client
    delays that acknowledgement (40 ms on Linux): every request on a keep-alive connection
    would take 40 ms, whatever the server does (``bench/bench_http.py`` measured 44 ms).
    """

    def handle(self) -> None:
        self.socket.settimeout(self.server.idle_timeout)
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle()

    def log_request(self) -> None:
        pass


class HTTPIn(Input):
    """Takes events over HTTP: POST a body, get an answer once its events were delivered.

    A ``POST`` to ``path`` carries one event (``decode: json``, ``text``, ``raw``, ``msgpack``)
    or many (``json_lines``/NDJSON or ``lines``: one per line). The event's ``data`` is the
    decoded body; ``headers["http"]`` holds ``method``, ``path``, ``query``, ``remote_addr``
    and ``content_type``.

    Answers: 200 ``{"accepted": N}`` once the events are delivered (``ack: true``; with
    ``ack: false``, once they are handed on); 400 for a body that does not decode (with the
    reason; nothing is emitted); 401 without the right credentials; 404 for another path; 405
    for another method; 413 over ``max_body``; 429 with ``Retry-After`` while
    ``max_requests`` requests are already in flight; 503 with ``Retry-After`` when the
    pipeline did not take the events within ``queue_timeout`` or did not deliver them within
    ``ack_timeout``; 500 when a delivery failed. ``GET health_path`` answers 200 while the
    input runs.

    Parameters:
        host (str): address to listen on (default ``127.0.0.1``).
        port (int): TCP port (default 8080; 0 picks a free one, see ``bound_port``).
        path (str): the path events are POSTed to (default ``/``).
        health_path (str): a GET here answers 200 ``ok`` (default ``/health``).
        decode (str): codec of the body (default ``json``): raw, text, lines, json, json_lines, msgpack.
        ack (bool): answer only after the events were delivered (default True).
        ack_timeout (float): seconds to wait for delivery before answering 503 (default 30).
        queue_timeout (float): seconds to wait for room in the pipeline before 503 (default 5).
        max_body (int): largest body in bytes; more is refused with 413 (default 10 MiB).
        max_requests (int): requests in flight at once; more get 429 (default 256).
        auth_token (str): require ``Authorization: Bearer <token>`` (default none).
        username (str): require HTTP basic auth with this user (default none).
        password (str): the basic-auth password (default none).
        idle_timeout (float): seconds a connection may stay silent, reading a request or
            between keep-alive requests, before it is closed (default 30).

    Queues:
        outbox: the events.

    Metrics:
        requests, accepted (events), bad_requests, unauthorized, too_large, busy (429),
        timeouts (503), delivery_failures (500).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8080,
        path: str = "/",
        health_path: str = "/health",
        decode: str = "json",
        ack: bool = True,
        ack_timeout: float = 30.0,
        queue_timeout: float = 5.0,
        max_body: int = 10 * 1024 * 1024,
        max_requests: int = 256,
        auth_token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        idle_timeout: float = 30.0,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError("port must be 0 to 65535")
        if max_body < 1 or max_requests < 1:
            raise ValueError("max_body and max_requests must be at least 1")
        if (username is None) != (password is None):
            raise ValueError("username and password go together")
        self.host, self.port, self.path, self.health_path = host, port, path, health_path
        self.codec = codecs.get(decode)
        self.ack, self.ack_timeout, self.queue_timeout = ack, ack_timeout, queue_timeout
        self.max_body, self.max_requests = max_body, max_requests
        self._expected_auth = self._authorization(auth_token, username, password)
        self.idle_timeout = idle_timeout
        self.bound_port = 0
        self.counts = dict.fromkeys(
            ("requests", "accepted", "bad_requests", "unauthorized", "too_large", "busy", "timeouts"), 0
        )
        self.counts["delivery_failures"] = 0
        self._server: WSGIServer | None = None

    @staticmethod
    def _authorization(token: str | None, username: str | None, password: str | None) -> bytes | None:
        if token is not None:
            return f"Bearer {token}".encode()
        if username is not None:
            return b"Basic " + base64.b64encode(f"{username}:{password}".encode())
        return None

    # ------------------------------------------------------------------ lifecycle
    def on_start(self) -> None:
        self._slots = gevent.lock.BoundedSemaphore(self.max_requests)
        self._bad = RateLimitedLog(self.log)
        self._server = WSGIServer((self.host, self.port), self._app, log=None, error_log=None, handler_class=_Handler)
        self._server.idle_timeout = self.idle_timeout
        self._server.start()
        self.bound_port = self._server.server_port
        self.log.info("Listening on http://%s:%d%s", self.host, self.bound_port, self.path)

    def on_stop_intake(self) -> None:
        if self._server is not None:
            # stop accepting; requests in flight get until the stop deadline to be answered
            self._server.stop(timeout=max(0.1, self.stop_deadline - time.monotonic() - 0.5))

    @property
    def ready(self) -> bool:
        """True while the server is listening."""
        return self._server is not None and self._server.started

    def metrics(self) -> dict:
        return dict(self.counts)

    # ------------------------------------------------------------------ requests
    def _app(self, environ: dict, start_response: Any) -> list[bytes]:
        method, path = environ["REQUEST_METHOD"], environ.get("PATH_INFO", "/")
        if method == "GET" and path == self.health_path:
            return self._answer(start_response, "200 OK", b"ok\n", [("Content-Type", "text/plain")])
        if path != self.path:
            return self._answer(start_response, "404 Not Found", b'{"error": "no such path"}')
        if method != "POST":
            return self._answer(
                start_response, "405 Method Not Allowed", b'{"error": "POST only"}', [*_JSON, ("Allow", "POST")]
            )
        if self._expected_auth is not None:
            given = environ.get("HTTP_AUTHORIZATION", "").encode("latin-1", "replace")
            if not hmac.compare_digest(given, self._expected_auth):
                self.counts["unauthorized"] += 1
                return self._answer(
                    start_response,
                    "401 Unauthorized",
                    b'{"error": "unauthorized"}',
                    [*_JSON, ("WWW-Authenticate", "Bearer" if self._expected_auth.startswith(b"Bearer") else "Basic")],
                )
        if not self._slots.acquire(blocking=False):
            self.counts["busy"] += 1
            return self._answer(
                start_response, "429 Too Many Requests", b'{"error": "busy"}', [*_JSON, ("Retry-After", "1")]
            )
        try:
            return self._post(environ, start_response, path)
        finally:
            self._slots.release()

    def _post(self, environ: dict, start_response: Any, path: str) -> list[bytes]:
        self.counts["requests"] += 1
        length = environ.get("CONTENT_LENGTH") or ""
        if length.isdigit() and int(length) > self.max_body:
            self.counts["too_large"] += 1
            return self._answer(start_response, "413 Content Too Large", b'{"error": "body over max_body"}')
        body = environ["wsgi.input"].read(self.max_body + 1)
        if len(body) > self.max_body:
            self.counts["too_large"] += 1
            return self._answer(start_response, "413 Content Too Large", b'{"error": "body over max_body"}')
        try:
            items = self.codec.decode(body)
        except codecs.CodecError as exc:
            self.counts["bad_requests"] += 1
            self._bad.warning("Refused a body from %s: %s", environ.get("REMOTE_ADDR"), exc.reason)
            return self._answer(start_response, "400 Bad Request", codecs.json_dumps({"error": exc.reason}))
        if not items:
            return self._answer(start_response, "200 OK", b'{"accepted": 0}')
        http = {
            "method": "POST",
            "path": path,
            "query": environ.get("QUERY_STRING", ""),
            "remote_addr": environ.get("REMOTE_ADDR", ""),
            "content_type": environ.get("CONTENT_TYPE", ""),
        }
        request = _Request() if self.ack else None
        events = self._events(items, http, request)
        del items
        try:
            with gevent.Timeout(self.queue_timeout):
                self.emit_batch(events)
        except gevent.Timeout:
            self.counts["timeouts"] += 1  # what was not handed on is abandoned: the client retries
            return self._answer(
                start_response, "503 Service Unavailable", b'{"error": "pipeline full"}', [*_JSON, ("Retry-After", "1")]
            )
        count = len(events)
        del events
        if request is not None:
            if not request.done.wait(self.ack_timeout):
                self.counts["timeouts"] += 1
                return self._answer(
                    start_response,
                    "503 Service Unavailable",
                    b'{"error": "not delivered in time"}',
                    [*_JSON, ("Retry-After", "1")],
                )
            if not request.ok:  # failed, dropped, or abandoned by a forced stop
                self.counts["delivery_failures"] += 1
                return self._answer(start_response, "500 Internal Server Error", b'{"error": "delivery failed"}')
        self.counts["accepted"] += count
        return self._answer(start_response, "200 OK", b'{"accepted": %d}' % count)

    @staticmethod
    def _events(items: list, http: dict, request: _Request | None) -> list:
        """One event per item, each with its own headers; tracked by one delivery with *request*."""
        copy = http.copy
        if request is None:
            return [{"headers": {"http": copy()}, "data": item} for item in items]
        delivery = Delivery(_settle, request)  # one for the request: settles with its last event
        events: list = []
        append = events.append
        for item in items:  # the cheapest way to a filled TrackedEvent (no keyword arguments)
            event = TrackedEvent()
            event["headers"] = {"http": copy()}
            event["data"] = item
            event.delivery = delivery
            append(event)
        return events

    @staticmethod
    def _answer(start_response: Any, status: str, body: bytes, headers: list | None = None) -> list[bytes]:
        start_response(status, [*(headers or _JSON), ("Content-Length", str(len(body)))])
        return [body]
