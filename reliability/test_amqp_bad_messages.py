"""AMQP messages with odd properties, huge bodies and invalid encodings, with decoding on: the good
ones pass, the bad ones are dead-lettered (a DLX configured) or rejected (none), and no message is
ever left unacknowledged (``rabbitmqctl list_queues ... messages_unacknowledged``)."""

from __future__ import annotations

import datetime
import decimal
import json
import os
import signal

import pika
import pytest
from wb_amqp.testing import queue_states
from wishbone.testing.cli import start_debug, wait_until, write_bootstrap

HUGE = 8 * 1024 * 1024

ODD = [
    pika.BasicProperties(
        headers={
            "nested": {"a": [1, "x", None, {"b": b"\x00\xff"}]},
            "big": 2**40,
            "neg": -1,
            "flag": True,
            "dec": decimal.Decimal("1.5"),
            "when": datetime.datetime(2001, 2, 3, 4, 5, 6),
            "ünï": "çødé",
            "": "empty key",
        },
        content_type="application/x-weird; charset=latin-1",
        content_encoding="gzip",  # a lie: the body is not compressed
        priority=9,
        correlation_id="ünï",
        message_id="",
        expiration="600000",
        timestamp=0,
        type="t" * 200,
        app_id="a" * 255,
        reply_to="nowhere",
        delivery_mode=2,
    ),
    pika.BasicProperties(),  # no properties at all
    pika.BasicProperties(headers={}, delivery_mode=1),
]
GOOD = [b'{"ok": 1}', b"[]", b'"text"', b"0", b'"' + b"a" * HUGE + b'"']
BAD = [b"", b"\xff\xfe", b"{", b"nul", b'{"a": "\xff"}', b"[" * 100_000, os.urandom(HUGE)]


def _republished(body: bytes) -> bytes:
    """What amqp_out publishes for the event amqp_in made of *body* (decode json, encode auto):
    the same JSON value, compact, UTF-8 (a JSON string stays a JSON string)."""
    return json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False).encode()


def _run(tmp_path, pid_path, broker, vhost, dead_letter: bool) -> dict:
    arguments = {}
    dlq = None
    if dead_letter:
        dlx = broker.exchange("rel-dlx", "fanout")
        dlq = broker.queue("rel-dlq")
        broker.channel.queue_bind(dlq, dlx)
        arguments = {"x-dead-letter-exchange": dlx}
    source = broker.queue("rel-odd-in", arguments=arguments)
    target = broker.queue("rel-odd-out")
    messages = [(body, props) for body in GOOD + BAD for props in ODD]
    for body, props in messages:
        broker.channel.basic_publish("", source, body, props)
    assert wait_until(lambda: broker.count(source) == len(messages), 30)
    config = write_bootstrap(
        tmp_path / "odd.json",
        {
            "input": (
                "amqp_in",
                {"url": broker.url, "queue": source, "queue_arguments": arguments, "decode": "json", "prefetch": 10},
            ),
            "output": ("amqp_out", {"url": broker.url, "routing_key": target}),
        },
        {"input.outbox": ["output.inbox"]},
    )
    log = tmp_path / "debug.log"
    proc = start_debug(config, pid_path, log)
    try:
        good = len(GOOD) * len(ODD)
        assert wait_until(lambda: broker.count(target) == good, 60, 0.2), log.read_text()[-3000:]
        assert wait_until(lambda: queue_states(vhost).get(source) == (0, 0), 60, 0.5), queue_states(vhost)
        states_running = queue_states(vhost)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    finally:
        proc.kill()
    states = queue_states(vhost)
    return {
        "code": code,
        "log": log.read_text(),
        "sent": len(messages),
        "good": broker.count(target),
        "dead_lettered": broker.count(dlq) if dlq else None,
        "source_running": states_running[source],
        "source_after": states[source],
        "received_bodies": broker.take_all(target, idle=0.5),
    }


@pytest.mark.parametrize("dead_letter", [True, False], ids=["dead-lettered", "rejected"])
def test_odd_huge_and_undecodable_messages_are_settled(tmp_path, pid_path, broker, vhost, dead_letter, record):
    found = _run(tmp_path, pid_path, broker, vhost, dead_letter)
    bad = len(BAD) * len(ODD)
    record(
        configured="x-dead-letter-exchange" if dead_letter else "no dead-letter exchange",
        sent=found["sent"],
        received=found["good"],
        dead_lettered=found["dead_lettered"],
        rejected_and_discarded=None if dead_letter else bad,
        source_ready_unacked_while_running=found["source_running"],
        source_ready_unacked_after_stop=found["source_after"],
        exit_status=found["code"],
    )
    assert found["code"] == 0, found["log"][-3000:]
    assert found["source_running"] == (0, 0) and found["source_after"] == (0, 0)
    assert found["good"] == len(GOOD) * len(ODD)
    assert sorted(found["received_bodies"]) == sorted(_republished(b) for b in GOOD for _ in ODD)
    if dead_letter:
        assert found["dead_lettered"] == bad
    assert "Traceback" not in found["log"]
