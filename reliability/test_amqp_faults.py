"""Faults with the real broker: an amqp_in -> amqp_out pipeline (``wishbone debug``) killed with
SIGKILL in the middle of 100,000 messages and started again; the vhost's connections force-closed
five times during a stream. Every message arrives at least once; duplicates are counted."""

from __future__ import annotations

import datetime
import re
import signal
import subprocess
import time
from pathlib import Path

from wb_amqp.testing import close_all_connections, connections, ids, queue_states
from wishbone.testing.cli import kill_quietly, read_pids, start_debug, wait_until, write_bootstrap

TOTAL = 100_000
LOG_LINE = re.compile(r"^(\S+ \S+) [A-Z]+ (.+?): (.*)$")


def _config(tmp_path: Path, url: str, source: str, target: str, **in_vars) -> str:
    return write_bootstrap(
        tmp_path / "amqp.json",
        {
            "input": ("amqp_in", {"url": url, "queue": source, "prefetch": 1000, **in_vars}),
            "output": ("amqp_out", {"url": url, "routing_key": target, "reconnect_delay": 0.2}),
        },
        {"input.outbox": ["output.inbox"]},
    )


def _debug(config: str, pid_path: Path, log: Path) -> subprocess.Popen:
    return start_debug(config, pid_path, log, "--drain-deadline", "10", append=True)


def _reconnect_times(text: str) -> list[float]:
    """Seconds from each ``Connection ... lost`` line to that module's next ``Connected to`` line."""
    lost: dict[str, datetime.datetime] = {}
    times = []
    for line in text.splitlines():
        m = LOG_LINE.match(line)
        if not m:
            continue
        when = datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
        source, message = m.group(2), m.group(3)
        if " lost (" in message:
            lost[source] = when
        elif message.startswith("Connected to") and source in lost:
            times.append(round((when - lost.pop(source)).total_seconds(), 3))
    return times


def _sigterm(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    finally:
        proc.kill()


def test_kill_9_in_the_middle_of_100000_messages_then_restart(tmp_path, pid_path, broker, vhost, record):
    source, target = broker.queue("rel-kill-in"), broker.queue("rel-kill-out")
    broker.publish(source, (b"%d" % i for i in range(TOTAL)), wait=True)
    config = _config(tmp_path, broker.url, source, target, reconnect_delay=0.2)
    log = tmp_path / "debug.log"
    first = _debug(config, pid_path, log)
    try:
        assert wait_until(lambda: broker.count(target) >= TOTAL // 4, 60, 0.2), log.read_text()
        pids = read_pids(pid_path)
        for pid in pids:  # the parent first, so nothing is restarted: the whole server dies at once
            kill_quietly(pid, signal.SIGKILL)
        first.wait(timeout=10)
        before = broker.count(target)
        restarted = time.monotonic()
        second = _debug(config, pid_path, log)
        try:
            assert wait_until(lambda: broker.count(target) > before, 60, 0.05), log.read_text()
            recovered = time.monotonic() - restarted
            assert wait_until(lambda: broker.count(source) == 0, 120, 0.2), log.read_text()
            assert wait_until(lambda: queue_states(vhost).get(source, (1, 1)) == (0, 0), 60, 0.5)
            code = _sigterm(second)
        finally:
            second.kill()
    finally:
        first.kill()
    bodies = broker.take_all(target)
    distinct, duplicates = ids(bodies)
    record(
        sent=TOTAL,
        delivered_before_kill=before,
        received=len(bodies),
        distinct=len(distinct),
        duplicates=duplicates,
        lost=TOTAL - len(distinct & set(range(TOTAL))),
        seconds_to_first_delivery_after_restart=round(recovered, 3),
        exit_status_after_restart=code,
    )
    assert distinct == set(range(TOTAL))
    assert code == 0, log.read_text()[-3000:]


def test_connections_force_closed_five_times_during_a_stream(tmp_path, pid_path, broker, vhost, record):
    source, target = broker.queue("rel-close-in"), broker.queue("rel-close-out")
    config = _config(tmp_path, broker.url, source, target, reconnect_delay=0.2)
    log = tmp_path / "debug.log"
    proc = _debug(config, pid_path, log)
    burst, sent, at_close = 15000, 0, []
    try:
        assert wait_until(lambda: connections(vhost) >= 3, 30, 0.5), log.read_text()  # ours + in + out
        for round_ in range(5):
            broker.publish(source, (b"%d" % i for i in range(sent, sent + burst)))
            sent += burst
            before = broker.count(target)
            at_close.append(before)
            close_all_connections(vhost)  # while the burst is in flight: ours goes too, count() reconnects
            moved = wait_until(lambda floor=before: broker.count(target) > floor, 60, 0.05)
            assert moved, f"round {round_}: no progress after the close\n{log.read_text()[-3000:]}"
        assert wait_until(lambda: broker.count(target) >= sent and broker.count(source) == 0, 120, 0.2)
        assert wait_until(lambda: queue_states(vhost).get(source, (1, 1)) == (0, 0), 60, 0.5)
        recoveries = _reconnect_times(log.read_text())
        code = _sigterm(proc)
    finally:
        proc.kill()
    bodies = broker.take_all(target)
    distinct, duplicates = ids(bodies)
    text = log.read_text()
    record(
        sent=sent,
        forced_closes=5,
        delivered_when_each_close_was_asked=at_close,
        received=len(bodies),
        distinct=len(distinct),
        duplicates=duplicates,
        lost=sent - len(distinct & set(range(sent))),
        seconds_from_lost_to_reconnected=recoveries,
        exit_status=code,
    )
    assert distinct == set(range(sent))
    assert len(recoveries) == 10, text[-3000:]  # amqp_in and amqp_out, each of the five times
    assert code == 0, text[-3000:]
