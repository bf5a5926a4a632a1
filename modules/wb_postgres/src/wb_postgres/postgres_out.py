"""The ``postgres_out`` output: batched INSERT or COPY into a table, committed before events are let go.

Each inbox batch becomes one transaction: an ``executemany`` of one INSERT (psycopg pipelines
it), or one ``COPY ... FROM STDIN``, run in gevent's threadpool by one
:func:`wishbone.blocking.call`. The batch's events are released, which acknowledges a tracked
input upstream, only once the COMMIT returned: at least once.

A batch the database refuses is split in halves, each half its own transaction, down to the
rows it refuses: those go to ``failed`` with the database's error, the rest commit. A lost
connection (a restarted server, a terminated backend, a timeout) is reconnected to with
backoff and the same rows are written again; nothing is dropped. At a stop's deadline what is
not committed is abandoned (:func:`wishbone.ack.mark_abandoned`) so that an input upstream
delivers it again.
"""

from __future__ import annotations

from typing import Literal

import psycopg
from gevent import GreenletExit
from psycopg import sql
from wishbone import Output
from wishbone.ack import mark_abandoned
from wishbone.blocking import call

from wb_postgres.connection import Session, compile_getter, is_connection_error

__all__ = ["PostgresOut"]


class PostgresOut(Session, Output):
    """Writes events into a PostgreSQL table, one transaction per batch (INSERT or COPY).

    Parameters:
        table (str): the table to write to, ``name`` or ``schema.name`` (quoted as identifiers).
        columns (dict): column name -> field path of the value (``{"name": "data.user.name"}``);
            a path that is missing in an event writes NULL, a dict is sent as JSON.
        dsn (str): libpq connection string or URL (default ``host=127.0.0.1 port=5432 dbname=test``).
        method (str): ``insert`` (executemany in one transaction) or ``copy`` (COPY FROM STDIN)
            (default ``insert``).
        application_name (str): the session's ``application_name`` in ``pg_stat_activity``
            (default ``wishbone:<instance name>:<instance number>``).
        connect_timeout (float): seconds a connection attempt may take (default 5).
        statement_timeout (float): seconds the server lets one batch's statement run (default 30).
        reconnect_delay (float): first wait before reconnecting, doubled per failure (default 0.2).
        reconnect_max_delay (float): longest wait between reconnection attempts (default 5).

    Queues:
        inbox: events to write.
        failed: events whose row the database refused (the error is in ``headers.error``).
    """

    def __init__(
        self,
        table: str,
        columns: dict,
        dsn: str = "host=127.0.0.1 port=5432 dbname=test",
        method: Literal["insert", "copy"] = "insert",
        application_name: str = "",
        connect_timeout: float = 5.0,
        statement_timeout: float = 30.0,
        reconnect_delay: float = 0.2,
        reconnect_max_delay: float = 5.0,
    ) -> None:
        if not table or not all(table.split(".")):
            raise ValueError("table must name a table: 'name' or 'schema.name'")
        if not columns:
            raise ValueError("columns must map at least one column to a field path")
        for column, path in columns.items():
            if not isinstance(path, str):
                raise ValueError(f"columns.{column} must be a field path (a string), got {type(path).__name__}")
        self.pg_configure(
            dsn, application_name, connect_timeout, statement_timeout, reconnect_delay, reconnect_max_delay
        )
        self.table = table
        self.columns = dict(columns)
        self.method = method
        self.pg_getters = [compile_getter(path) for path in self.columns.values()]
        target = sql.Identifier(*table.split("."))
        names = sql.SQL(", ").join(sql.Identifier(c) for c in self.columns)
        if method == "copy":
            self.pg_statement = sql.SQL("COPY {} ({}) FROM STDIN").format(target, names)
        else:
            values = sql.SQL(", ").join(sql.Placeholder() for _ in self.columns)
            self.pg_statement = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(target, names, values)
        self.written = 0
        self.failed_rows = 0
        self.batches = 0

    def on_start(self) -> None:
        """Connect in the background, so that a server that is down does not hold the start."""
        self.pg_open()

    def on_stop(self) -> None:
        """Close the connection (what was not committed by now was abandoned)."""
        self.pg_close()

    def metrics(self) -> dict:
        """Rows committed, rows refused, transactions committed, reconnections, connected (0/1)."""
        return {
            "written": self.written,
            "failed_rows": self.failed_rows,
            "batches": self.batches,
            "reconnects": self.reconnects,
            "connected": int(self.ready),
        }

    # ------------------------------------------------------------------ writing
    def consume_batch(self, events: list) -> None:
        """Write *events* as rows; returns once each is committed, failed, or abandoned at the deadline."""
        getters = self.pg_getters
        rows = [tuple(get(event) for get in getters) for event in events]
        try:
            self.pg_write(events, rows)
        except GreenletExit:  # killed at the stop deadline mid-write: let the source redeliver
            mark_abandoned(events)
            raise

    def pg_write(self, events: list, rows: list) -> None:
        """Commit *rows*, bisecting a refused range down to its bad rows; reconnect and retry on loss."""
        ranges = [(0, len(rows))]
        while ranges:
            lo, hi = ranges.pop()
            while True:
                conn = self.pg_connection()
                if conn is None:  # the stop deadline: nothing of what is left is committed
                    mark_abandoned(events[lo:hi])
                    for lo2, hi2 in ranges:
                        mark_abandoned(events[lo2:hi2])
                    self.pg_trouble.warning("Stop deadline: %d uncommitted event(s) abandoned.", hi - lo)
                    return
                try:
                    call(self.pg_run, conn, rows[lo:hi], timeout=self.pg_call_timeout())
                except Exception as exc:
                    if is_connection_error(exc):
                        self.pg_lost(conn, exc)
                        continue  # the same rows again, on a new connection
                    if hi - lo == 1:
                        self.failed_rows += 1
                        self.fail(events[lo], exc)
                    else:
                        mid = (lo + hi) // 2
                        ranges.append((mid, hi))
                        ranges.append((lo, mid))  # popped first: rows keep their order
                    break
                self.written += hi - lo
                self.batches += 1
                break

    def pg_run(self, conn: psycopg.Connection, rows: list) -> None:
        """In a thread: one transaction with the rows (executemany or COPY)."""
        with conn.transaction(), conn.cursor() as cur:
            if self.method == "copy":
                with cur.copy(self.pg_statement) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cur.executemany(self.pg_statement, rows)
