"""postgres_out against the real server: rows committed, bad rows bisected out, reconnects, abandons."""

from __future__ import annotations

import gevent
import pytest
from wb_postgres import PostgresOut
from wishbone import new_event
from wishbone.ack import track


def make_table(pg, schema: str) -> str:
    table = f"{schema}.out"
    pg.execute(f"CREATE TABLE {table} (n integer PRIMARY KEY, name text, doc jsonb)")
    return table


def variables(pg_dsn, table, app_name, **extra) -> dict:
    columns = {"n": "data.n", "name": "data.user.name", "doc": "data"}
    return {"dsn": pg_dsn, "table": table, "columns": columns, "application_name": app_name, **extra}


def wait_written(module, count: int, timeout: float = 5.0) -> None:
    with gevent.Timeout(timeout, AssertionError(f"{module.written} of {count} rows written within {timeout}s")):
        while module.written + module.failed_rows < count:
            gevent.sleep(0.01)


@pytest.mark.parametrize("method", ["insert", "copy"])
def test_rows_round_trip_with_columns_from_field_paths(harness, pg, pg_dsn, schema, app_name, method):
    table = make_table(pg, schema)
    events = [new_event({"n": i, "user": {"name": f"u{i}"}}) for i in range(250)]
    events.append(new_event({"n": 250}))  # no user.name: NULL
    with harness(PostgresOut, variables(pg_dsn, table, app_name, method=method)) as h:
        h.feed(events)
        wait_written(h.module, 251)
        assert h.module.ready
        assert h.collected("failed") == []
    rows = pg.execute(f"SELECT n, name, doc FROM {table} ORDER BY n").fetchall()
    assert [r[0] for r in rows] == list(range(251))
    assert rows[7] == (7, "u7", {"n": 7, "user": {"name": "u7"}})
    assert rows[250][1] is None


@pytest.mark.parametrize("method", ["insert", "copy"])
def test_a_refused_batch_is_bisected_bad_rows_fail_the_rest_commit(harness, pg, pg_dsn, schema, app_name, method):
    table = make_table(pg, schema)
    pg.execute(f"INSERT INTO {table} (n) VALUES (500)")  # row 77 below collides with it
    events = [new_event({"n": i}) for i in range(100)]
    events[13] = new_event({"n": "thirteen"})  # not an integer
    events[57] = new_event({"n": "fifty-seven"})
    events[77] = new_event({"n": 500})  # duplicate key
    with harness(PostgresOut, variables(pg_dsn, table, app_name, method=method), batch_size=100) as h:
        h.feed(events)
        failed = h.collect("failed", 3)
        wait_written(h.module, 100)
    assert sorted(str(e["data"]["n"]) for e in failed) == ["500", "fifty-seven", "thirteen"]
    types = {e["headers"]["error"]["type"] for e in failed}
    assert types <= {"InvalidTextRepresentation", "UniqueViolation"} and "UniqueViolation" in types
    assert all(e["headers"]["error"]["module"] for e in failed)
    assert h.module.written == 97 and h.module.failed_rows == 3
    committed = {r[0] for r in pg.execute(f"SELECT n FROM {table}")}
    assert committed == set(range(100)) - {13, 57, 77} | {500}


def test_reconnects_when_the_server_kills_its_connection_and_loses_nothing(
    harness, pg, pg_dsn, schema, app_name, kill_backend
):
    table = make_table(pg, schema)
    with harness(PostgresOut, variables(pg_dsn, table, app_name, reconnect_delay=0.05)) as h:
        h.feed([new_event({"n": i}) for i in range(100)])
        wait_written(h.module, 100)
        assert kill_backend(app_name) == 1
        h.feed([new_event({"n": i}) for i in range(100, 200)])
        wait_written(h.module, 200)
        assert h.module.reconnects >= 1
        assert h.module.ready
    assert pg.execute(f"SELECT count(*), count(DISTINCT n) FROM {table}").fetchone() == (200, 200)


def test_events_are_released_only_after_commit(harness, pg, pg_dsn, schema, app_name):
    table = make_table(pg, schema)
    settled: list = []
    with harness(PostgresOut, variables(pg_dsn, table, app_name)) as h:
        h.feed([track(new_event({"n": i}), lambda tag, ok: settled.append((tag, ok)), i) for i in range(50)])
        with gevent.Timeout(5, AssertionError(f"settled {len(settled)} of 50")):
            while len(settled) < 50:
                gevent.sleep(0.01)
        # Every event was acknowledged only with its row in the table.
        assert pg.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 50
    assert sorted(settled) == [(i, True) for i in range(50)]


def test_without_a_server_a_stop_abandons_the_batch_for_redelivery(harness, pg_dsn, app_name):
    unreachable = "host=127.0.0.1 port=1 dbname=test user=postgres"  # nothing listens on port 1
    settled: list = []
    h = harness(PostgresOut, {**variables(unreachable, "t", app_name), "connect_timeout": 1, "reconnect_delay": 0.05})
    h.start()
    assert not h.module.ready
    h.feed([track(new_event({"n": i}), lambda tag, ok: settled.append(ok), i) for i in range(10)])
    gevent.sleep(0.3)  # retrying, holding the batch
    assert settled == []
    h.stop(timeout=2)
    gevent.sleep(0)
    assert settled == [None] * 10  # abandoned, not acknowledged, not failed
    assert h.collected("failed") == []


def test_the_dsn_keeps_its_own_options(harness, pg, pg_dsn, schema, app_name):
    table = make_table(pg, schema)
    dsn = f"{pg_dsn} options='-c search_path={schema}'"  # an unqualified table name resolves in the schema
    with harness(PostgresOut, variables(dsn, "out", app_name)) as h:
        h.feed([new_event({"n": 1})])
        wait_written(h.module, 1)
        assert h.collected("failed") == []
    assert pg.execute(f"SELECT n FROM {table}").fetchall() == [(1,)]
