"""What both modules share: a psycopg connection made in gevent's threadpool, backoff, rows from events.

psycopg blocks on its own socket, so every call to it goes through
:func:`wishbone.blocking.call` (one call per batch or per poll, so the thread hand-off is paid
per batch). The connection gets a connect timeout, a server-side statement timeout and TCP
keepalives, so a stalled or vanished server gives the thread back; the wait in the calling
greenlet is bounded too (:data:`CALL_MARGIN` past the statement timeout).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.lock
import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import JsonbDumper
from wishbone.blocking import BlockingTimeout, call
from wishbone.log import RateLimitedLog
from wishbone.paths import compile_path
from wishbone.reconnect import Reconnect

__all__ = [
    "CALL_MARGIN",
    "STOP_MARGIN",
    "Session",
    "compile_rows",
    "connect",
    "is_connection_error",
    "safe_close",
]

#: Seconds a greenlet waits for a driver call beyond the statement timeout before giving up on it.
CALL_MARGIN = 2.0

#: Seconds before a stop's deadline at which a module gives up on the server.
STOP_MARGIN = 0.5


def connect(
    dsn: str, application_name: str, connect_timeout: float, statement_timeout: float, autocommit: bool
) -> psycopg.Connection:
    """Open a connection in the threadpool; dicts are sent as JSON (jsonb, or text by assignment cast)."""
    given = conninfo_to_dict(dsn).get("options") or ""  # the DSN's own options are kept
    kwargs = {
        "application_name": application_name,
        "connect_timeout": max(1, round(connect_timeout)),  # libpq takes whole seconds
        "options": f"{given} -c statement_timeout={int(statement_timeout * 1000)}".strip(),
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 3,
        "autocommit": autocommit,
    }
    conn = call(psycopg.connect, dsn, timeout=connect_timeout + CALL_MARGIN, **kwargs)
    conn.adapters.register_dumper(dict, JsonbDumper)
    return conn


def is_connection_error(exc: BaseException) -> bool:
    """True for a lost or unusable connection (retry elsewhere), False for an error about the rows."""
    # OperationalError covers a terminated backend (AdminShutdown) and a statement timeout.
    return isinstance(exc, (BlockingTimeout, psycopg.OperationalError, psycopg.InterfaceError, OSError))


def safe_close(conn: psycopg.Connection | None) -> None:
    """Close *conn* in the threadpool without waiting for it (a dead socket may take its time)."""
    if conn is not None:
        gevent.get_hub().threadpool.spawn(_close, conn)


def _close(conn: psycopg.Connection) -> None:
    try:
        conn.close()
    except Exception:  # closing a broken connection: nothing left to save
        pass


def compile_rows(paths: list[str]) -> Callable[[list], list[tuple]]:
    """A function turning a batch of events into rows: one tuple per event, one value per path.

    *paths* are field paths of :mod:`wishbone.paths` (``data.user.name``, ``data.items[0]``);
    a path that is missing in an event gives None (NULL). The function is compiled once: a
    loop over the batch with each path's lookup inline (plain subscripts in a ``try``), so a
    row costs no function call per column. ValueError (a :class:`~wishbone.paths.PathError`)
    for a path that does not parse or does not start at ``data`` or ``headers``.
    """
    compiled = [compile_path(path) for path in paths]
    lines = ["def rows_of(events):", "    rows = []", "    append = rows.append", "    for event in events:"]
    namespace: dict[str, Any] = {}
    for index, path in enumerate(compiled):
        if all(type(key) is str for key in path.keys):
            chain = "".join(f"[k{index}_{depth}]" for depth in range(len(path.keys)))
            namespace.update({f"k{index}_{depth}": key for depth, key in enumerate(path.keys)})
            lines += [
                "        try:",
                f"            v{index} = event{chain}",
                "        except (KeyError, TypeError, IndexError):",
                f"            v{index} = None",
            ]
        else:  # list indexes on the way: the path's own reader
            namespace[f"get{index}"] = path.get
            lines.append(f"        v{index} = get{index}(event, None)")
    values = ", ".join(f"v{index}" for index in range(len(compiled)))
    lines += [f"        append(({values},))", "    return rows"]
    # The source holds only generated names: the keys are bound values, never code.
    exec("\n".join(lines), namespace)
    return namespace["rows_of"]


class Session:
    """The connection of one module (mixed into :class:`PostgresOut` and :class:`PostgresIn`).

    :meth:`pg_configure` (from ``__init__``) checks and keeps the connection parameters,
    :meth:`pg_open` (from ``on_start``) starts connecting in the background, :meth:`pg_connection`
    returns the connection or makes one with backoff (``wishbone.reconnect``), :meth:`pg_lost`
    forgets one that failed, :meth:`pg_stop_trying` ends the retries (now, or at the stop
    deadline), :meth:`pg_close` (from ``on_stop``) closes it.
    """

    pg_conn: psycopg.Connection | None = None
    pg_closing = False
    pg_autocommit = True

    def pg_configure(
        self,
        dsn: str,
        application_name: str,
        connect_timeout: float,
        statement_timeout: float,
        reconnect_delay: float,
        reconnect_max_delay: float,
    ) -> None:
        """Check and keep the connection parameters (ValueError names the bad one)."""
        if connect_timeout <= 0:
            raise ValueError("connect_timeout must be > 0")
        if statement_timeout <= 0:
            raise ValueError("statement_timeout must be > 0")
        if not 0 < reconnect_delay <= reconnect_max_delay:
            raise ValueError("reconnect_delay must be > 0 and <= reconnect_max_delay")
        self.dsn = dsn
        self.application_name = application_name
        self.connect_timeout = connect_timeout
        self.statement_timeout = statement_timeout
        self.reconnect_delay = reconnect_delay
        self.reconnect_max_delay = reconnect_max_delay
        self.reconnects = 0

    def pg_open(self) -> None:
        """Start connecting in a background greenlet (``ready`` turns True once connected)."""
        if not self.application_name:
            self.application_name = f"wishbone:{self.name}:{self.context.instance}"
        self.pg_lock = gevent.lock.Semaphore()
        self.pg_trouble = RateLimitedLog(self.log)
        self.pg_reconnect = Reconnect(self.reconnect_delay, self.reconnect_max_delay)
        self.spawn(self.pg_connection)

    @property
    def ready(self) -> bool:
        """True while connected to the server."""
        conn = self.pg_conn
        return conn is not None and not conn.closed

    def pg_stop_trying(self, needed: bool) -> None:
        """Stop reconnecting: now, or (*needed*: work waits for a connection) a little before the stop deadline."""
        self.pg_reconnect.stop(deadline=self.stop_deadline - STOP_MARGIN if needed else None)

    def pg_call_timeout(self, statements: int = 1) -> float:
        """How long to wait for a call of *statements* statements, cut short by the stop deadline."""
        longest = self.statement_timeout * statements + CALL_MARGIN
        return max(0.1, min(longest, self.pg_reconnect.deadline - time.monotonic()))

    def pg_connection(self) -> psycopg.Connection | None:
        """The connection, made (with backoff) if there is none; None once reconnecting has stopped."""
        conn = self.pg_conn
        if conn is not None and not conn.closed:
            return conn
        reconnect = self.pg_reconnect
        with self.pg_lock:
            while self.pg_conn is None or self.pg_conn.closed:
                if self.pg_closing or reconnect.expired:
                    return None
                try:
                    self.pg_conn = connect(
                        self.dsn,
                        self.application_name,
                        self.connect_timeout,
                        self.statement_timeout,
                        self.pg_autocommit,
                    )
                except Exception as exc:
                    self.pg_trouble.warning("Cannot connect to PostgreSQL (%s): %s", type(exc).__name__, exc)
                    if not reconnect.pause(reconnect.backoff.next()):
                        return None
            reconnect.backoff.reset()
            return self.pg_conn

    def pg_lost(self, conn: psycopg.Connection, exc: BaseException) -> None:
        """Forget a connection that failed, then pause (backoff, cut short by a stop) before the next attempt."""
        self.pg_trouble.warning("PostgreSQL connection lost (%s): %s; reconnecting.", type(exc).__name__, exc)
        if self.pg_conn is conn:
            self.pg_conn = None
        self.reconnects += 1
        safe_close(conn)
        self.pg_reconnect.pause(self.pg_reconnect.backoff.next())

    def pg_close(self) -> None:
        """Stop connecting and close the connection."""
        self.pg_closing = True
        self.join_background(max(0.0, self.stop_deadline - time.monotonic()))
        conn, self.pg_conn = self.pg_conn, None
        if conn is not None:
            try:
                call(_close, conn, timeout=2.0)
            except BlockingTimeout:  # the thread finishes on its own
                pass
