"""The real command: kill -9 of the worker mid-stream, postgres_in -> postgres_out, none lost."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from wishbone.testing import write_bootstrap
from wishbone.testing.cli import read_pids, start_debug, wait_until

TOTAL = 20_000
CHUNK = 500


def test_kill_9_of_the_worker_mid_stream_loses_no_row(tmp_path, pid_path, pg, pg_dsn, schema, record_property):
    src, dst = f"{schema}.src", f"{schema}.dst"
    pg.execute(f"CREATE TABLE {src} (id bigint PRIMARY KEY, body text)")
    pg.execute(f"CREATE TABLE {dst} (id bigint, body text)")  # no key: a duplicate is a second row
    query = f"SELECT id, body FROM {src} WHERE id > %(cursor)s ORDER BY id LIMIT %(limit)s"
    config = write_bootstrap(
        tmp_path / "relay.json",
        {
            "input": (
                "postgres_in",
                {"dsn": pg_dsn, "query": query, "cursor_column": "id", "cursor_table": f"{schema}.cursors"},
            ),
            "output": (
                "postgres_out",
                {"dsn": pg_dsn, "table": dst, "columns": {"id": "data.id", "body": "data.body"}},
            ),
        },
        {"input.outbox": ["output.inbox"]},
    )
    inserted = 0

    def insert_chunk() -> None:
        nonlocal inserted
        pg.execute(
            f"INSERT INTO {src} SELECT g, 'row ' || g FROM generate_series(%s::bigint, %s::bigint) g",
            (inserted + 1, inserted + CHUNK),
        )
        inserted += CHUNK

    def copied() -> int:
        return pg.execute(f"SELECT count(*) FROM {dst}").fetchone()[0]

    log = tmp_path / "debug.log"
    proc = start_debug(config, pid_path, log)
    try:
        assert wait_until(lambda: len(read_pids(pid_path)) == 2, 20), log.read_text()
        [worker] = [p for p in read_pids(pid_path) if p != proc.pid]
        while inserted < TOTAL // 2:  # the rows arrive while the worker copies them
            insert_chunk()
            time.sleep(0.01)
        assert wait_until(lambda: copied() >= TOTAL // 4, 30), "the worker copies nothing: " + log.read_text()[-2000:]
        at_kill = copied()
        os.kill(worker, signal.SIGKILL)
        while inserted < TOTAL:  # the stream goes on while the supervisor restarts the worker
            insert_chunk()
        assert wait_until(lambda: [p for p in read_pids(pid_path) if p not in (proc.pid, worker)], 30), log.read_text()
        assert wait_until(lambda: copied() >= TOTAL, 60), f"{copied()} of {TOTAL} copied: " + log.read_text()[-3000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except Exception:
            proc.kill()
            proc.wait(5)
    rows, distinct = pg.execute(f"SELECT count(*), count(DISTINCT id) FROM {dst}").fetchone()
    missing = pg.execute(f"SELECT count(*) FROM {src} WHERE id NOT IN (SELECT id FROM {dst})").fetchone()[0]
    record_property("duplicates", rows - distinct)
    print(f"\n{rows - distinct} duplicate(s) of {TOTAL} rows after kill -9 at {at_kill} copied (at-least-once)")
    assert at_kill < TOTAL, "killed too late to test anything"
    assert missing == 0 and distinct == TOTAL, f"{TOTAL - distinct} row(s) lost"
    assert proc.returncode == 0, log.read_text()[-2000:]


def test_the_readme_example_runs(tmp_path, pid_path, pg, pg_dsn, schema):
    document = json.loads((Path(__file__).parent.parent / "example.json").read_text())
    dsn = f"{pg_dsn} options='-c search_path={schema}'"  # the example's tables, in this test's schema
    for module in document["bootstrap"].values():
        module["variables"]["dsn"] = dsn
    pg.execute(f"CREATE TABLE {schema}.events (id bigserial PRIMARY KEY, body text)")
    pg.execute(f"CREATE TABLE {schema}.events_copy (id bigint, body text, doc jsonb)")
    pg.execute(f"INSERT INTO {schema}.events (body) SELECT 'event ' || g FROM generate_series(1, 1000) g")
    config = tmp_path / "example.json"
    config.write_text(json.dumps(document))
    log = tmp_path / "debug.log"
    proc = start_debug(str(config), pid_path, log)
    try:
        copied = lambda: pg.execute(f"SELECT count(*) FROM {schema}.events_copy").fetchone()[0]  # noqa: E731
        assert wait_until(lambda: copied() == 1000, 30), log.read_text()[-2000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert proc.returncode == 0, log.read_text()[-2000:]
    row = pg.execute(f"SELECT id, body, doc FROM {schema}.events_copy WHERE id = 7").fetchone()
    assert row == (7, "event 7", {"id": 7, "body": "event 7"})
    stored = pg.execute(f"SELECT value FROM {schema}.wishbone_cursor WHERE name = 'events-to-copy'").fetchone()
    assert stored == ("1000",)
