"""The ``postgres_out`` output: batched INSERT or COPY into a table, committed before events are let go.

Each inbox batch becomes one transaction: an ``executemany`` of one INSERT (psycopg pipelines
it) between BEGIN and COMMIT, or one ``COPY ... FROM STDIN`` (a statement of an autocommit
session: a transaction of its own, two round trips fewer), run in gevent's threadpool by one
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

import collections
import time
from typing import Literal

import gevent.event
import psycopg
from gevent import GreenletExit
from psycopg import sql
from wishbone import Output
from wishbone.ack import mark_abandoned
from wishbone.blocking import call

from wb_postgres.connection import Session, compile_rows, is_connection_error

__all__ = ["MAX_PENDING", "MAX_PER_CALL", "PostgresOut"]

#: Batches that may wait for the writer before ``consume_batch`` waits (backpressure).
MAX_PENDING = 32
#: Batches the writer commits in one thread call (each its own transaction).
MAX_PER_CALL = 16


class PostgresOut(Session, Output):
    """Writes events into a PostgreSQL table, one transaction per batch (INSERT or COPY).

    Parameters:
        table (str): the table to write to, ``name`` or ``schema.name`` (quoted as identifiers).
        columns (dict): column name -> field path of the value (``{"name": "data.user.name"}``,
            ``"data.tags[0]"``: :mod:`wishbone.paths`); a path that is missing in an event
            writes NULL, a dict is sent as JSON.
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
        self.pg_rows = compile_rows(list(self.columns.values()))
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
        """Connect in the background (a server that is down does not hold the start); start the writer."""
        self.pg_pending: collections.deque[tuple[list, list]] = collections.deque()
        self.pg_wake = gevent.event.Event()
        self.pg_room = gevent.event.Event()
        self.pg_room.set()
        self.pg_stopping = False
        self.pg_in_flight = False
        self.pg_open()
        self.spawn(self.pg_writer)

    def on_stop(self) -> None:
        """Let the writer commit what waits (until the stop deadline: the rest is abandoned), then close."""
        self.pg_stopping = True
        # Batches still to commit: keep trying until just before the deadline; none: stop trying now.
        self.pg_stop_trying(needed=bool(self.pg_pending) or self.pg_in_flight)
        self.pg_wake.set()
        self.join_background(max(0.0, self.stop_deadline - time.monotonic()))
        self.pg_close()

    def metrics(self) -> dict:
        """Rows committed, rows refused, transactions committed, reconnections, batches waiting, connected."""
        return {
            "written": self.written,
            "failed_rows": self.failed_rows,
            "batches": self.batches,
            "reconnects": self.reconnects,
            "pending": len(getattr(self, "pg_pending", ())),
            "connected": int(self.ready),
        }

    # ------------------------------------------------------------------ writing
    def consume_batch(self, events: list) -> None:
        """Map *events* to rows and queue them for the writer (waits while MAX_PENDING batches wait).

        The batch is kept until its COMMIT returned, so a tracked input upstream is acknowledged only then.
        """
        rows = self.pg_rows(events)
        try:
            while len(self.pg_pending) >= MAX_PENDING:
                self.pg_room.clear()
                self.pg_room.wait(0.1)
        except GreenletExit:  # killed at the drain deadline while the writer is stuck: redeliver
            mark_abandoned(events)
            raise
        self.pg_pending.append((events, rows))
        self.pg_wake.set()

    def pg_writer(self) -> None:
        """Commit waiting batches, each its own transaction, as many as wait in one thread call.

        One hand-off to the threadpool per call, not per batch: while the hub is busy a thread
        waits for the GIL (up to ``sys.getswitchinterval()``), so fewer calls matter.
        """
        pending = self.pg_pending
        work: list[tuple[list, list]] = []
        try:
            while True:
                while pending and len(work) < MAX_PER_CALL:
                    work.append(pending.popleft())
                self.pg_room.set()
                self.pg_in_flight = bool(work)
                if not work:
                    if self.pg_stopping:
                        return
                    self.pg_wake.clear()
                    self.pg_wake.wait(0.5)
                    continue
                conn = self.pg_connection()
                if conn is None:  # the stop deadline: nothing of what is left is committed
                    self.pg_abandon(work)
                    return
                batches = [rows for _, rows in work]
                try:
                    outcomes = call(self.pg_run_batches, conn, batches, timeout=self.pg_call_timeout(len(batches)))
                except Exception as exc:  # the call itself timed out: retry all (at least once)
                    outcomes = [exc]
                retry = []
                for index, (events, rows) in enumerate(work):
                    outcome = outcomes[index] if index < len(outcomes) else outcomes[-1]
                    if outcome is None:
                        self.written += len(rows)
                        self.batches += 1
                    elif is_connection_error(outcome):
                        retry.append((events, rows))
                    else:
                        self.pg_write(events, rows, refused=outcome)
                lost = outcomes[-1] if retry else None
                del events, rows, outcomes  # an error's traceback must not keep these batches alive
                if lost is not None:
                    self.pg_lost(conn, lost)
                    del lost
                work = retry
                self.flush()  # what went to failed
        except GreenletExit:  # killed at the stop deadline: let the source redeliver
            self.pg_abandon(work)
            raise

    def pg_abandon(self, work: list) -> None:
        """Mark every batch of *work* and every waiting batch abandoned (never committed)."""
        count = 0
        for events, _ in [*work, *self.pg_pending]:
            mark_abandoned(events)
            count += len(events)
        self.pg_pending.clear()
        work.clear()
        if count:
            self.pg_trouble.warning("Stop deadline: %d uncommitted event(s) abandoned.", count)

    def pg_run_batches(self, conn: psycopg.Connection, batches: list) -> list:
        """In a thread: each batch its own transaction; its outcome (None or the exception) each.

        Stops at a lost connection: the batches after it are not attempted (the last outcome stands).
        """
        outcomes: list = []
        for rows in batches:
            try:
                self.pg_run(conn, rows)
                outcomes.append(None)
            except Exception as exc:
                outcomes.append(exc)
                if is_connection_error(exc):
                    break
        return outcomes

    def pg_write(self, events: list, rows: list, refused: BaseException | None = None) -> None:
        """Commit *rows*, bisecting a refused range down to its bad rows; reconnect and retry on loss.

        *refused*: the error the database refused the whole batch with: start with its halves.
        """
        if refused is not None and len(rows) == 1:
            self.failed_rows += 1
            self.fail(events[0], refused)
            return
        if refused is not None:
            mid = len(rows) // 2
            ranges = [(mid, len(rows)), (0, mid)]
        else:
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
        """In a thread: one transaction with the rows (executemany or COPY).

        The connection is in autocommit mode, so one COPY statement is a transaction by itself
        (all rows or none, durable when it returns): no BEGIN and COMMIT round trips around it.
        """
        if self.method == "copy":
            with conn.cursor() as cur, cur.copy(self.pg_statement) as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(self.pg_statement, rows)
