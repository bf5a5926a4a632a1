"""One broker connection and one channel on pika's GeventConnection, driven from a greenlet.

pika's gevent adapter runs every callback (frames read, confirms, closes) inside the gevent
hub, where nothing may block. So callbacks here only record results and set events; the
module's own greenlets wait for them. :meth:`Session.call` turns one asynchronous AMQP method
(``queue_declare``, ``basic_qos``...) into a blocking call for a greenlet, and fails it when
the channel or the connection goes away meanwhile.

All sessions of a process share one pika I/O loop object per gevent hub: each one owns a
pipe and a watcher, and pika never closes them, so one per connection would leak two file
descriptors on every reconnect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote, urlsplit

import gevent
import gevent.event
import pika
import pika.exceptions
from pika.adapters import gevent_connection
from pika.adapters.gevent_connection import GeventConnection

__all__ = ["Session", "SessionError", "SessionLost", "mask_url", "parse_url"]

_LOOPS: dict[int, Any] = {}


def _shared_ioloop() -> Any:
    """The pika I/O loop of this process's hub (created once, never closed)."""
    hub = gevent.get_hub()
    loop = _LOOPS.get(id(hub))
    if loop is None:
        # pika documents custom_ioloop for exactly this; the class is private to pika.
        loop = _LOOPS[id(hub)] = gevent_connection._GeventSelectorIOLoop(hub)
    return loop


def mask_url(url: str) -> str:
    """*url* with its password replaced by ``***`` (for logs, errors and metrics).

    The user information ends at the *last* ``@`` (as urllib and pika read it, so a raw
    ``@`` in a password is masked too); a raw ``/`` in a password is covered as well, at
    the price of masking too much in the rare URL whose vhost holds a raw ``@``.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    userinfo, at, hostpart = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    return f"{scheme}://{userinfo.split(':', 1)[0]}:***@{hostpart}"


def parse_url(url: str, heartbeat: int) -> pika.URLParameters:
    """pika parameters for *url*, checked; errors never show the password, nor parts of it."""
    shown = mask_url(url)
    scheme = url.partition("://")[0]
    if scheme not in ("amqp", "amqps") or "://" not in url:
        raise ValueError(f"bad AMQP URL {shown!r}: expected amqp://user:password@host:port/vhost (or amqps://)")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is not a number
        after_authority = url.split("://", 1)[1][len(parts.netloc) :]
        if not parts.hostname or "@" in after_authority:  # a raw '/' in the password cut the authority short
            raise ValueError(url)
        params = pika.URLParameters(url)
    except Exception:
        # urllib's and pika's messages quote pieces of the URL, which may be pieces of the password.
        raise ValueError(
            f"bad AMQP URL {shown!r}: expected amqp://user:password@host:port/vhost with a host, a numeric "
            "port, and any '@', '/', ':' or '%' in the user or password percent-encoded (%40, %2F, %3A, %25)"
        ) from None
    params.heartbeat = heartbeat
    params.connection_attempts = 1
    params.socket_timeout = 10
    params.blocked_connection_timeout = None
    return params


class SessionError(Exception):
    """Opening a session failed; the message says why in plain words (password masked)."""


class SessionLost(Exception):
    """The channel or the connection closed while a call waited for the broker."""


def explain(exc: BaseException, params: pika.URLParameters) -> str:
    """A plain sentence for a pika error (never containing the password)."""
    vhost = params.virtual_host
    user = params.credentials.username
    text = str(exc) or type(exc).__name__
    if isinstance(exc, (pika.exceptions.ProbableAuthenticationError, pika.exceptions.AuthenticationError)):
        return f"login refused for user {user!r} (check the user and password in the URL): {text}"
    if isinstance(exc, pika.exceptions.ProbableAccessDeniedError) or "vhost" in text and "not found" in text:
        return f"virtual host {vhost!r} does not exist or user {user!r} may not use it: {text}"
    if isinstance(exc, pika.exceptions.ChannelClosedByBroker):
        if exc.reply_code == 406:
            return (
                f"PRECONDITION_FAILED: {exc.reply_text} (a queue or exchange of that name exists with "
                "other arguments: delete it or declare it with the same ones)"
            )
        if exc.reply_code == 404:
            return f"NOT_FOUND: {exc.reply_text}"
        if exc.reply_code == 403:
            return f"ACCESS_REFUSED: {exc.reply_text}"
    if isinstance(exc, pika.exceptions.ConnectionClosedByBroker):
        return f"the broker closed the connection ({exc.reply_code}): {exc.reply_text}"
    if isinstance(exc, (OSError, pika.exceptions.AMQPConnectionError)):
        return f"cannot reach {params.host}:{params.port}: {type(exc).__name__}: {text}"
    return f"{type(exc).__name__}: {text}"


class Session:
    """A connection with one channel. Open it from a greenlet; it may be lost at any time.

    :param params: pika connection parameters (from :func:`parse_url`).
    :param timeout: seconds to wait for the broker on open and on each :meth:`call`.
    """

    def __init__(self, params: pika.URLParameters, timeout: float = 15.0) -> None:
        self.params = params
        self.timeout = timeout
        self.connection: GeventConnection | None = None
        self.channel: Any = None
        #: Set once the connection or the channel has closed (or failed to open).
        self.lost = gevent.event.Event()
        #: Set once the connection itself has closed.
        self.closed = gevent.event.Event()
        #: Why it was lost (None while open or after a clean close we asked for).
        self.reason: BaseException | None = None
        self._waiting: set[gevent.event.AsyncResult] = set()
        self._closing = False

    @property
    def is_open(self) -> bool:
        """True while the channel is usable."""
        return not self.lost.is_set() and self.channel is not None and self.channel.is_open

    # ------------------------------------------------------------------ open / close
    def open(self) -> None:
        """Connect and open a channel; raise :class:`SessionError` with a clear message."""
        opened = gevent.event.AsyncResult()
        try:
            self.connection = GeventConnection(
                self.params,
                on_open_callback=lambda conn: opened.set(None),
                on_open_error_callback=lambda conn, exc: opened.set(exc),
                on_close_callback=self._on_connection_closed,
                custom_ioloop=_shared_ioloop(),
            )
            error = opened.get(timeout=self.timeout)
            if error is not None:
                raise SessionError(explain(_unwrap(error), self.params))
            channel_opened = gevent.event.AsyncResult()
            self.connection.channel(on_open_callback=channel_opened.set)
            self.channel = self._wait(channel_opened)
            self.channel.add_on_close_callback(self._on_channel_closed)
        except gevent.Timeout as exc:
            self.abort()
            raise SessionError(f"the broker did not answer within {self.timeout:g} s") from exc
        except SessionLost as exc:
            self.abort()
            raise SessionError(str(exc)) from None
        except BaseException:  # SessionError, or the greenlet killed at a stop deadline
            self.abort()
            raise

    def close(self, timeout: float = 5.0) -> None:
        """Close the connection and wait (up to *timeout*) until the broker confirmed it."""
        self._closing = True
        conn = self.connection
        if conn is not None and not (conn.is_closed or conn.is_closing):
            try:
                conn.close()
            except Exception:  # already closing on its own
                pass
        if conn is not None and not self.closed.wait(timeout):
            self.abort()

    def abort(self) -> None:
        """Drop the connection now, without the closing handshake."""
        self._closing = True
        conn = self.connection
        if conn is None or conn.is_closed:
            self._mark_lost(None)
            self.closed.set()
            return
        try:
            conn.close()
        except Exception:
            pass
        transport = getattr(conn, "_transport", None)
        if transport is not None:
            try:
                transport.abort()
            except Exception:
                pass
        self._mark_lost(None)

    # ------------------------------------------------------------------ calls
    def call(self, method: Callable, *args: Any, **kwargs: Any) -> Any:
        """Run an asynchronous channel method and wait for its reply (raises SessionLost)."""
        if self.lost.is_set():
            raise SessionLost(self.why())
        result = gevent.event.AsyncResult()
        method(*args, callback=result.set, **kwargs)
        return self._wait(result)

    def _wait(self, result: gevent.event.AsyncResult) -> Any:
        self._waiting.add(result)
        try:
            return result.get(timeout=self.timeout)
        except gevent.Timeout:
            raise SessionLost(f"the broker did not answer within {self.timeout:g} s") from None
        finally:
            self._waiting.discard(result)

    # ------------------------------------------------------------------ callbacks (in the hub)
    def _on_connection_closed(self, connection: Any, reason: BaseException) -> None:
        self._mark_lost(None if self._closing else reason)
        self.closed.set()

    def _on_channel_closed(self, channel: Any, reason: BaseException) -> None:
        self._mark_lost(None if self._closing else reason)
        conn = self.connection
        if conn is not None and not (conn.is_closed or conn.is_closing):
            conn.close()  # one channel per session: a closed channel ends the session

    def _mark_lost(self, reason: BaseException | None) -> None:
        if self.reason is None:
            self.reason = reason
        self.lost.set()
        waiting, self._waiting = self._waiting, set()
        for result in waiting:
            result.set_exception(SessionLost(self.why()))

    def why(self) -> str:
        """Why the session was lost, in plain words (the password is not in it)."""
        if self.reason is None:
            return "the connection was closed"
        return explain(self.reason, self.params)


def _unwrap(exc: BaseException) -> BaseException:
    """The real cause inside pika's connection-workflow wrappers."""
    for _ in range(8):
        inner: Any = getattr(exc, "exceptions", None)
        if inner:
            exc = inner[-1]
            continue
        inner = getattr(exc, "exception", None)
        if isinstance(inner, BaseException):
            exc = inner
            continue
        if exc.args and isinstance(exc.args[0], BaseException):
            exc = exc.args[0]
            continue
        break
    return exc


def safe_text(text: str, url: str) -> str:
    """*text* with any occurrence of *url* or its password masked."""
    password = unquote(urlsplit(url).password or "")
    masked = text.replace(url, mask_url(url))
    if password:
        masked = masked.replace(password, "***")
    return masked


if logging.getLogger("pika").level == logging.NOTSET:
    # pika logs every failed attempt several times over; the modules log it once, password masked.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
