"""postgres_in against the real server: rows in order, the cursor stored after delivery, reconnects."""

from __future__ import annotations

import gc

import gevent
from wb_postgres import PostgresIn


def make_source(pg, schema: str, rows: int) -> str:
    table = f"{schema}.src"
    pg.execute(f"CREATE TABLE {table} (id bigserial PRIMARY KEY, body text)")
    add_rows(pg, table, rows)
    return table


def add_rows(pg, table: str, rows: int) -> None:
    pg.execute(f"INSERT INTO {table} (body) SELECT 'row ' || g FROM generate_series(1, %s) g", (rows,))


def variables(pg_dsn, schema, table, app_name, **extra) -> dict:
    return {
        "dsn": pg_dsn,
        "query": f"SELECT id, body FROM {table} WHERE id > %(cursor)s ORDER BY id LIMIT %(limit)s",
        "cursor_column": "id",
        "cursor_table": f"{schema}.cursors",
        "cursor_name": "test",
        "application_name": app_name,
        "interval": 0.05,
        "reconnect_delay": 0.05,
        **extra,
    }


def stored_cursor(pg, schema: str) -> str | None:
    row = pg.execute(f"SELECT value FROM {schema}.cursors WHERE name = 'test'").fetchone()
    return None if row is None else row[0]


def wait_stored(pg, schema: str, value: str, timeout: float = 5.0) -> None:
    with gevent.Timeout(timeout, AssertionError(f"cursor {stored_cursor(pg, schema)!r}, expected {value!r}")):
        while stored_cursor(pg, schema) != value:
            gevent.sleep(0.05)


def test_rows_arrive_in_order_and_the_cursor_is_stored_after_delivery(harness, pg, pg_dsn, schema, app_name):
    table = make_source(pg, schema, 250)
    with harness(PostgresIn, variables(pg_dsn, schema, table, app_name), batch_size=100) as h:
        events = h.collect("outbox", 250)
        assert [e["data"]["id"] for e in events] == list(range(1, 251))
        assert events[0]["data"]["body"] == "row 1"
        gevent.sleep(0.3)  # several polls later: the events are still held here, undelivered
        assert stored_cursor(pg, schema) is None
        del events
        gc.collect()
        wait_stored(pg, schema, "250")  # released: delivered, so the cursor moves past them
        assert h.module.ready and h.module.rows == 250


def test_a_restart_resumes_after_the_stored_cursor(harness, pg, pg_dsn, schema, app_name):
    table = make_source(pg, schema, 30)
    with harness(PostgresIn, variables(pg_dsn, schema, table, app_name)) as h:
        assert len(h.collect("outbox", 30)) == 30
    assert stored_cursor(pg, schema) == "30"  # stored at stop at the latest
    add_rows(pg, table, 20)
    with harness(PostgresIn, variables(pg_dsn, schema, table, app_name)) as h:
        ids = [e["data"]["id"] for e in h.collect("outbox", 20)]
        gevent.sleep(0.2)
        assert h.collected("outbox") == []
    assert ids == list(range(31, 51))


def test_an_undelivered_event_holds_the_cursor_back(harness, pg, pg_dsn, schema, app_name):
    table = make_source(pg, schema, 10)
    with harness(PostgresIn, variables(pg_dsn, schema, table, app_name), batch_size=5) as h:
        first = h.collect("outbox", 5)
        rest = h.collect("outbox", 5)
        del rest  # the second poll is delivered, the first is not
        gc.collect()
        gevent.sleep(0.3)
        assert stored_cursor(pg, schema) is None
        del first
        gc.collect()
        wait_stored(pg, schema, "10")


def test_reconnects_when_the_server_kills_its_connection(harness, pg, pg_dsn, schema, app_name, kill_backend):
    table = make_source(pg, schema, 10)
    with harness(PostgresIn, variables(pg_dsn, schema, table, app_name)) as h:
        assert len(h.collect("outbox", 10)) == 10
        assert kill_backend(app_name) == 1
        add_rows(pg, table, 10)
        ids = [e["data"]["id"] for e in h.collect("outbox", 10)]
        assert h.module.reconnects >= 1 and h.module.ready
    assert ids == list(range(11, 21))


def test_a_query_error_is_counted_and_polling_goes_on(harness, pg, pg_dsn, schema, app_name):
    table = f"{schema}.later"
    with harness(PostgresIn, variables(pg_dsn, schema, table, app_name)) as h:
        with gevent.Timeout(5, AssertionError("no query error counted")):
            while h.module.query_errors == 0:
                gevent.sleep(0.02)
        make_source(pg, schema, 0)  # wrong name: create the table the query names
        pg.execute(f"ALTER TABLE {schema}.src RENAME TO later")
        add_rows(pg, table, 3)
        assert [e["data"]["id"] for e in h.collect("outbox", 3)] == [1, 2, 3]
