"""PostgreSQL: testevent -> postgres_out and postgres_in -> null, next to bare psycopg loops, same run.

    python bench/bench_postgres.py [--events 100000] [--repeat 3] [--no-sync]
                                   [--dsn "host=127.0.0.1 dbname=test user=postgres"]

Output: the bare loop builds the same events (``{"headers": {}, "data": {"n": .., "name": ..}}``),
maps each to a row and writes each batch of 100 (the pipeline's batch size) as one transaction:
``executemany`` of one INSERT between BEGIN and COMMIT, or one COPY (autocommit: the statement
is its transaction), on one connection in this thread.
Wishbone runs ``testevent`` (count N, interval 0) into ``postgres_out`` (columns from field
paths, the same batch size and commit per batch, driver calls in gevent's threadpool), timed
until the pipeline drained (every row committed).

Input: a table of N rows. The bare loop polls ``WHERE id > cursor ORDER BY id LIMIT 100``
into dict rows, up to 10 polls in a row while they come back full, storing the cursor read so
far (an upsert, a COMMIT) before each such run of polls, until an empty poll: the same store
policy as postgres_in's. Wishbone runs ``postgres_in`` (the same query and store policy, but the
stored cursor is the one every event was *delivered* for, so it lags a little) into ``null``,
timed until the stored cursor reached the last row.

Each figure is the median of --repeat runs, bare and Wishbone in turns: rows per second, and
CPU microseconds per row of this process (``time.process_time``: the hub and gevent's threadpool
threads alike; the server's own CPU is the same work on both sides and not counted). The ratios
are what to quote (target >= 70%); on a shared machine the CPU ratio is the steadier, and with
``synchronous_commit=on`` the rate of a batch per transaction is bound by the disk's flush.
"""

from __future__ import annotations

import argparse
import statistics
import uuid

import gevent
import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from report import WINDOW, measured, result
from wishbone import Pipeline

BATCH = 100
POLLS_PER_STORE = 10  # postgres_in's POLLS_PER_CALL: the cursor is stored once per (up to) 10 full polls
PAYLOAD = {"n": 42, "name": "a user name of some length"}


def fresh_table(dsn: str, columns: str) -> str:
    name = f"bench_pg_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {name} ({columns})")
    return name


def drop(dsn: str, *tables: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in tables:
            conn.execute(f"DROP TABLE IF EXISTS {table}")


def count(dsn: str, table: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


# ---------------------------------------------------------------------------- output
def bare_out(dsn: str, table: str, n: int, method: str) -> float:
    """Bare psycopg: build events, map to rows, one transaction per batch of BATCH."""
    insert = f"INSERT INTO {table} (n, name) VALUES (%s, %s)"
    copy_sql = f"COPY {table} (n, name) FROM STDIN"
    WINDOW.start()  # connecting counts, as it does for the pipeline
    with psycopg.connect(dsn, autocommit=True) as conn:
        left = n
        while left > 0:
            size = min(BATCH, left)
            events = [{"headers": {}, "data": dict(PAYLOAD)} for _ in range(size)]
            rows = [(e["data"].get("n"), e["data"].get("name")) for e in events]
            if method == "copy":  # one statement in autocommit: a transaction of its own, as postgres_out does
                with conn.cursor() as cur, cur.copy(copy_sql) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany(insert, rows)
            left -= size
        elapsed = WINDOW.stop()
    return n / elapsed


def wishbone_out(dsn: str, table: str, n: int, method: str) -> float:
    """testevent -> postgres_out, timed until drained (every batch committed)."""
    pipeline = Pipeline.from_dict(
        {
            "bootstrap": {
                "input": {"module": "testevent", "variables": {"payload": PAYLOAD, "interval": 0, "count": n}},
                "output": {
                    "module": "postgres_out",
                    "variables": {
                        "dsn": dsn,
                        "table": table,
                        "method": method,
                        "columns": {"n": "data.n", "name": "data.name"},
                    },
                },
            },
            "routingtable": {"input.outbox": ["output.inbox"]},
        }
    )
    output = pipeline.modules["output"]
    WINDOW.start()
    pipeline.start()
    pipeline.join_inputs()
    pipeline.stop(120)
    elapsed = WINDOW.stop()
    assert output.written == n, (output.written, n)
    return n / elapsed


# ---------------------------------------------------------------------------- input
def filled_source(dsn: str, n: int) -> str:
    table = fresh_table(dsn, "id bigint PRIMARY KEY, body text")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"INSERT INTO {table} SELECT g, 'row number ' || g FROM generate_series(1, %s) g", (n,))
        conn.execute(f"VACUUM ANALYZE {table}")
    return table


def cursor_sql(cursors: str) -> tuple[sql.Composed, sql.Composed]:
    ident = sql.Identifier(cursors)
    create = sql.SQL(
        "CREATE TABLE IF NOT EXISTS {} (name text PRIMARY KEY, value text NOT NULL, "
        "updated timestamptz NOT NULL DEFAULT now())"
    ).format(ident)
    store = sql.SQL(
        "INSERT INTO {} (name, value) VALUES (%s, %s) "
        "ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value, updated = now()"
    ).format(ident)
    return create, store


def bare_in(dsn: str, source: str, cursors: str, n: int) -> float:
    """Bare psycopg: poll after the cursor, store the previous cursor before each poll, until empty."""
    create, store = cursor_sql(cursors)
    query = f"SELECT id, body FROM {source} WHERE id > %(cursor)s ORDER BY id LIMIT %(limit)s"
    WINDOW.start()  # connecting and loading the cursor count, as they do for the pipeline
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(create)
        conn.execute(sql.SQL("SELECT value FROM {} WHERE name = %s").format(sql.Identifier(cursors)), ("bare",))
        cursor, stored, seen = "0", None, 0
        while True:
            if cursor != stored:
                conn.execute(store, ("bare", cursor))
                stored = cursor
            rows = []
            with conn.cursor(row_factory=dict_row) as cur:
                for _ in range(POLLS_PER_STORE):  # as postgres_in: polls again at once while full
                    cur.execute(query, {"cursor": cursor, "limit": BATCH})
                    got = cur.fetchall()
                    rows.extend(got)
                    if got:
                        cursor = str(got[-1]["id"])
                    if len(got) < BATCH:
                        break
            if not rows:
                break
            events = [{"headers": {}, "data": row} for row in rows]
            seen += len(events)
        elapsed = WINDOW.stop()
    assert seen == n and stored == str(n), (seen, stored)
    return n / elapsed


def wishbone_in(dsn: str, source: str, cursors: str, n: int) -> float:
    """postgres_in -> null, timed until the stored cursor is the last row's."""
    query = f"SELECT id, body FROM {source} WHERE id > %(cursor)s ORDER BY id LIMIT %(limit)s"
    pipeline = Pipeline.from_dict(
        {
            "bootstrap": {
                "input": {
                    "module": "postgres_in",
                    "variables": {
                        "dsn": dsn,
                        "query": query,
                        "cursor_column": "id",
                        "cursor_table": cursors,
                        "interval": 0.001,
                    },
                },
                "output": {"module": "null", "variables": {}},
            },
            "routingtable": {"input.outbox": ["output.inbox"]},
        }
    )
    source_module = pipeline.modules["input"]
    last = str(n)
    WINDOW.start()
    pipeline.start()
    while source_module.pg_stored != last:
        gevent.sleep(0.002)  # polling costs CPU in this window only: ~4% at 0.5 ms, ~2% at 2 ms (<= 0.5% wall)
    elapsed = WINDOW.stop()
    pipeline.stop(30)
    assert source_module.rows == n, (source_module.rows, n)
    return n / elapsed


def report(label: str, rates: dict, cpus: dict) -> tuple[float, float, float]:
    """Print the medians of *label*; (bare rows/s, ours rows/s, CPU ratio bare/ours)."""
    bare, ours = statistics.median(rates["bare psycopg"]), statistics.median(rates["wishbone"])
    bare_cpu, our_cpu = statistics.median(cpus["bare psycopg"]), statistics.median(cpus["wishbone"])
    print(
        f"median {label}  bare {bare:,.0f}  wishbone {ours:,.0f} rows/s: {ours / bare:.0%};  "
        f"CPU bare {bare_cpu:.1f}  wishbone {our_cpu:.1f} us/row: {bare_cpu / our_cpu:.0%} (target >= 70%)"
    )
    return bare, ours, bare_cpu / our_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dsn", default="host=127.0.0.1 port=5432 dbname=test user=postgres")
    parser.add_argument(
        "--no-sync",
        action="store_true",
        help="synchronous_commit=off on both sides: the client's cost, not the disk's fsync per COMMIT",
    )
    args = parser.parse_args()
    n, dsn = args.events, args.dsn
    if args.no_sync:
        dsn += " options='-c synchronous_commit=off'"
    sync = "off" if args.no_sync else "on"
    print(f"{n} events per run, batches of {BATCH}, one transaction (COMMIT) per batch, synchronous_commit={sync}")
    for method in ("insert", "copy"):
        rates: dict[str, list[float]] = {"bare psycopg": [], "wishbone": []}
        cpus: dict[str, list[float]] = {"bare psycopg": [], "wishbone": []}
        for round_ in range(1, args.repeat + 1):
            for name, run in (("bare psycopg", bare_out), ("wishbone", wishbone_out)):
                table = fresh_table(dsn, "n integer, name text")
                rate, cpu = measured(run, dsn, table, n, method)
                assert count(dsn, table) == n
                drop(dsn, table)
                rates[name].append(rate)
                cpus[name].append(cpu / n * 1e6)
                print(f"  out/{method} run {round_}  {name:12s} {rate:10,.0f} rows/s  {cpus[name][-1]:5.1f} us CPU/row")
        bare, ours, _ = report(f"out/{method}", rates, cpus)
        result(
            f"testevent -> postgres_out ({method}, commit per batch of {BATCH}, synchronous_commit={sync})",
            ours,
            "rows/s",
            ">= 70% of baseline",
            ours >= 0.7 * bare,
            bare,
        )
    rates = {"bare psycopg": [], "wishbone": []}
    cpus = {"bare psycopg": [], "wishbone": []}
    for round_ in range(1, args.repeat + 1):
        for name, run in (("bare psycopg", bare_in), ("wishbone", wishbone_in)):
            source = filled_source(dsn, n)
            cursors = f"bench_pg_cursor_{uuid.uuid4().hex[:8]}"
            rate, cpu = measured(run, dsn, source, cursors, n)
            drop(dsn, source, cursors)
            rates[name].append(rate)
            cpus[name].append(cpu / n * 1e6)
            print(f"  in run {round_}  {name:12s} {rate:10,.0f} rows/s  {cpus[name][-1]:5.1f} us CPU/row")
    bare, ours, _ = report("in", rates, cpus)
    result(
        f"postgres_in -> null (polled, LIMIT {BATCH}, cursor stored per 10 polls, synchronous_commit={sync})",
        ours,
        "rows/s",
        ">= 70% of baseline",
        ours >= 0.7 * bare,
        bare,
    )


if __name__ == "__main__":
    main()
