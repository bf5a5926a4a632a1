"""The ``postgres_in`` input: a polled query with a cursor column, the cursor stored after delivery.

Why a polled query and not LISTEN/NOTIFY: a notification sent while the listener is
disconnected (a restart, a network cut, kill -9) is gone for good, so LISTEN/NOTIFY is at most
once. Rows in a table stay there: a query ``WHERE id > %(cursor)s ORDER BY id`` read again
from the last cursor that was *delivered* gets every row again after any failure. That is
at least once, restartable.

Every poll is one :func:`wishbone.blocking.call` in gevent's threadpool that first stores the
cursor that is settled (if it moved) and then runs the query. Each row becomes a tracked event
(:func:`wishbone.ack.track`, one delivery per poll that its events share, as
:func:`wishbone.ack.split` makes them); a poll's cursor (the ``cursor_column`` of its last row) becomes the
stored cursor only once every event of that poll, and of every poll before it, was delivered
(or failed: its copy reached a ``failed`` queue). An event abandoned at a forced stop holds the
stored cursor back, so the next start reads its row again.
"""

from __future__ import annotations

import collections
import time
from typing import Any

import gevent
import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from wishbone import Input
from wishbone.ack import split, track
from wishbone.blocking import call

from wb_postgres.connection import Session, is_connection_error

__all__ = ["POLLS_PER_CALL", "PostgresIn"]

#: Polls one thread call makes at most while each comes back full.
POLLS_PER_CALL = 10


class PostgresIn(Session, Input):
    """Polls a query for rows after a cursor; each row becomes an event, the cursor is stored after delivery.

    Parameters:
        query (str): the query, with a ``%(cursor)s`` placeholder (the last delivered cursor) and
            optionally ``%(limit)s`` (the batch size), ordered by the cursor column ascending:
            ``SELECT * FROM events WHERE id > %(cursor)s ORDER BY id LIMIT %(limit)s``.
        cursor_column (str): the result column whose value in the last row is the next cursor.
        cursor_start (str): the cursor before the first row, as text the server casts (default "0").
        cursor_table (str): the table the cursor is stored in, created when missing, ``name`` or
            ``schema.name`` (default ``wishbone_cursor``).
        cursor_name (str): this input's key in that table (default: the instance name).
        interval (float): seconds between polls while the query returns nothing (default 1).
        dsn (str): libpq connection string or URL (default ``host=127.0.0.1 port=5432 dbname=test``).
        application_name (str): the session's ``application_name`` in ``pg_stat_activity``
            (default ``wishbone:<instance name>:<instance number>``).
        connect_timeout (float): seconds a connection attempt may take (default 5).
        statement_timeout (float): seconds the server lets one poll run (default 30).
        reconnect_delay (float): first wait before reconnecting, doubled per failure (default 0.2).
        reconnect_max_delay (float): longest wait between reconnection attempts (default 5).

    Queues:
        outbox: one event per row, ``data`` the row as a dict (column -> value).
    """

    def __init__(
        self,
        query: str,
        cursor_column: str,
        cursor_start: str = "0",
        cursor_table: str = "wishbone_cursor",
        cursor_name: str = "",
        interval: float = 1.0,
        dsn: str = "host=127.0.0.1 port=5432 dbname=test",
        application_name: str = "",
        connect_timeout: float = 5.0,
        statement_timeout: float = 30.0,
        reconnect_delay: float = 0.2,
        reconnect_max_delay: float = 5.0,
    ) -> None:
        if "%(cursor)s" not in query:
            raise ValueError("query must contain the placeholder %(cursor)s")
        if not cursor_column:
            raise ValueError("cursor_column must name a column of the query's result")
        if not cursor_table or not all(cursor_table.split(".")):
            raise ValueError("cursor_table must name a table: 'name' or 'schema.name'")
        if interval <= 0:
            raise ValueError("interval must be > 0")
        self.pg_configure(
            dsn, application_name, connect_timeout, statement_timeout, reconnect_delay, reconnect_max_delay
        )
        self.query = query
        self.cursor_column = cursor_column
        self.cursor_start = cursor_start
        self.cursor_table = cursor_table
        self.cursor_name = cursor_name
        self.interval = interval
        table = sql.Identifier(*cursor_table.split("."))
        self.pg_create = sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, value text NOT NULL, "
            "updated timestamptz NOT NULL DEFAULT now())"
        ).format(table)
        self.pg_load = sql.SQL("SELECT value FROM {} WHERE name = %s").format(table)
        self.pg_store = sql.SQL(
            "INSERT INTO {} (name, value) VALUES (%s, %s) "
            "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated = now()"
        ).format(table)
        self.rows = 0
        self.polls = 0
        self.failed_deliveries = 0
        self.query_errors = 0
        self.pg_cursor: str | None = None  # the cursor of the last row read (None: not loaded yet)
        self.pg_settled: str | None = None  # the cursor up to which every event settled
        self.pg_stored: str | None = None  # the cursor in the cursor table
        # One mark per poll that emitted rows: [1 until its events settled, its cursor, abandoned?].
        self.pg_marks: collections.deque[list] = collections.deque()

    def on_start(self) -> None:
        """Connect in the background and start polling."""
        if not self.cursor_name:
            self.cursor_name = self.name
        self.pg_open()
        self.spawn_producer(self.pg_poll_loop)

    def on_stop_intake(self) -> None:
        """Stop polling: no more reconnection attempts (a pause under way ends now)."""
        self.pg_stop_trying(needed=False)

    def on_stop(self) -> None:
        """Store the cursor every delivered event reached (if still connected), then close the connection."""
        self.pg_advance()
        if self.pg_settled is not None and self.pg_settled != self.pg_stored:
            conn = self.pg_connection()
            if conn is not None:
                try:
                    call(self.pg_run_store, conn, self.pg_settled, timeout=self.pg_call_timeout())
                    self.pg_stored = self.pg_settled
                except Exception as exc:
                    self.log.warning("Cannot store cursor %r (%s): %s", self.pg_settled, type(exc).__name__, exc)
        self.pg_close()

    def metrics(self) -> dict:
        """Rows read, polls, polls with an event that failed downstream, query errors, reconnections, connected."""
        return {
            "rows": self.rows,
            "polls": self.polls,
            "failed_deliveries": self.failed_deliveries,
            "query_errors": self.query_errors,
            "reconnects": self.reconnects,
            "connected": int(self.ready),
        }

    # ------------------------------------------------------------------ polling
    def pg_poll_loop(self) -> None:
        """Poll while running: store the settled cursor and read the next rows, one thread call each."""
        while self.running:
            conn = self.pg_connection()
            if conn is None:
                return
            try:
                if self.pg_cursor is None:
                    stored = call(self.pg_run_load, conn, timeout=self.pg_call_timeout())
                    self.pg_cursor = self.pg_settled = self.pg_stored = stored
                self.pg_advance()
                store = self.pg_settled if self.pg_settled != self.pg_stored else None
                rows = call(self.pg_run_poll, conn, store, self.pg_cursor, timeout=self.pg_call_timeout())
                if store is not None:
                    self.pg_stored = store
            except Exception as exc:
                if is_connection_error(exc):
                    self.pg_lost(conn, exc)
                    continue
                self.query_errors += 1
                self.pg_trouble.warning("Query failed (%s): %s", type(exc).__name__, exc)
                self.pg_pause(self.interval)
                continue
            self.polls += 1
            if not rows:
                self.pg_pause(self.interval)
                continue
            try:
                cursor = str(rows[-1][self.cursor_column])
            except KeyError:
                self.query_errors += 1
                self.pg_trouble.warning("The query's result has no column %r.", self.cursor_column)
                self.pg_pause(self.interval)
                continue
            mark = [1, cursor, False]
            self.pg_marks.append(mark)
            # One delivery for the whole poll, shared by its events (wishbone.ack.split): it settles
            # when the last of them is released, failed if any failed, abandoned if any was.
            poll = track({"headers": {}, "data": None}, self.pg_settle, mark)
            events = split(poll, rows)
            del poll
            self.rows += len(rows)
            self.pg_cursor = cursor
            self.emit_batch(events)
            del events  # held here, the last poll's events would never settle while the table is idle

    def pg_pause(self, seconds: float) -> None:
        """Sleep *seconds*, waking early when intake stops."""
        until = time.monotonic() + seconds
        while self.running and (left := until - time.monotonic()) > 0:
            gevent.sleep(min(0.1, left))

    def pg_settle(self, mark: list, ok: bool | None) -> None:
        """Every event of the poll of *mark* settled (runs in whichever greenlet let go of the last)."""
        if ok is None:
            mark[2] = True  # an event was abandoned at a forced stop: its row must be read again
        elif not ok:
            self.failed_deliveries += 1
        mark[0] = 0

    def pg_advance(self) -> None:
        """Move the settled cursor past every poll whose events (and all before) have settled."""
        marks = self.pg_marks
        while marks and marks[0][0] <= 0 and not marks[0][2]:
            self.pg_settled = marks.popleft()[1]

    # ------------------------------------------------------------------ in the threadpool
    def pg_run_load(self, conn: psycopg.Connection) -> str:
        """The stored cursor (creating the cursor table when missing), else ``cursor_start``."""
        conn.execute(self.pg_create)
        row = conn.execute(self.pg_load, (self.cursor_name,)).fetchone()
        return self.cursor_start if row is None else row[0]

    def pg_run_store(self, conn: psycopg.Connection, cursor: str) -> None:
        """Store *cursor* under this input's name."""
        conn.execute(self.pg_store, (self.cursor_name, cursor))

    def pg_run_poll(self, conn: psycopg.Connection, store: str | None, cursor: str) -> list[dict[str, Any]]:
        """Store the settled cursor (if it moved), then read the rows after *cursor*.

        While a poll comes back full (``batch_size`` rows or more), poll again from its last row,
        up to POLLS_PER_CALL times: one hand-off to the threadpool for several polls when there
        is a backlog (a thread waits for the GIL while the hub is busy).
        """
        if store is not None:
            conn.execute(self.pg_store, (self.cursor_name, store))
        rows: list[dict[str, Any]] = []
        limit = self.batch_size
        with conn.cursor(row_factory=dict_row) as cur:
            for _ in range(POLLS_PER_CALL):
                cur.execute(self.query, {"cursor": cursor, "limit": limit})
                got = cur.fetchall()
                rows.extend(got)
                if len(got) < limit or self.cursor_column not in got[-1]:
                    break
                cursor = str(got[-1][self.cursor_column])
        return rows
