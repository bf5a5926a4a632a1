"""The real PostgreSQL for wb-postgres's tests: a schema of their own per test, dropped afterwards.

Every test talks to the PostgreSQL on 127.0.0.1:5432 (trust authentication, database ``test``;
``$WISHBONE_TEST_POSTGRES_DSN`` points elsewhere). Without one the tests skip, saying how to
start it, except under ``CI=true``, where they fail: CI must test the real thing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

#: The server the tests expect: the local cluster, trust authentication, database ``test``.
DSN = os.environ.get("WISHBONE_TEST_POSTGRES_DSN", "host=127.0.0.1 port=5432 dbname=test user=postgres")
START = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """The DSN of a reachable PostgreSQL; skips without one (fails under ``CI=true``)."""
    try:
        psycopg.connect(DSN, connect_timeout=3).close()
    except psycopg.Error as exc:
        message = f"no PostgreSQL at {DSN!r} ({str(exc).strip()}); start it with: {START}"
        if _in_ci():
            pytest.fail(f"{message} (CI=true: a missing server fails the build)", pytrace=False)
        pytest.skip(message)
    return DSN


@pytest.fixture
def pg(pg_dsn: str) -> Iterator[psycopg.Connection]:
    """A plain autocommit connection for the test's own setup and checks (blocking: short calls only)."""
    with psycopg.connect(pg_dsn, autocommit=True, connect_timeout=3) as conn:
        yield conn


@pytest.fixture
def schema(pg: psycopg.Connection) -> Iterator[str]:
    """A schema of this test's own (``wbtest_<hex>``), dropped with everything in it afterwards."""
    name = f"wbtest_{uuid.uuid4().hex[:10]}"
    pg.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
    yield name
    pg.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def app_name() -> str:
    """A unique ``application_name`` for a module under test, to find (and terminate) its backend."""
    return f"wbtest-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def conformance_out(pg_dsn: str, schema: str, pg: psycopg.Connection) -> dict:
    """Variables for postgres_out's conformance checks: an integer column ``n`` from ``data.n``."""
    pg.execute(f"CREATE TABLE {schema}.conf (n integer)")
    return {"dsn": pg_dsn, "table": f"{schema}.conf", "columns": {"n": "data.n"}}


@pytest.fixture
def conformance_in(pg_dsn: str, schema: str, pg: psycopg.Connection) -> dict:
    """Variables for postgres_in's conformance checks: a query on an empty table."""
    pg.execute(f"CREATE TABLE {schema}.src (id integer)")
    return {
        "dsn": pg_dsn,
        "query": f"SELECT id FROM {schema}.src WHERE id > %(cursor)s ORDER BY id",
        "cursor_column": "id",
        "cursor_table": f"{schema}.cursor",
        "interval": 0.1,
    }


def terminate(pg: psycopg.Connection, application_name: str) -> int:
    """Terminate every backend of *application_name* (as an operator would); how many there were."""
    rows = pg.execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s", (application_name,)
    ).fetchall()
    return len(rows)


@pytest.fixture
def kill_backend(pg: psycopg.Connection):
    """``kill_backend(application_name)``: terminate its backends on the server; returns how many."""
    return lambda application_name: terminate(pg, application_name)


@pytest.fixture
def pid_path(tmp_path):
    """A pidfile path in the test's temp dir; whatever it names is killed after the test."""
    from wishbone.testing.cli import kill_pidfile

    path = tmp_path / "wishbone.pid"
    yield path
    kill_pidfile(path)
