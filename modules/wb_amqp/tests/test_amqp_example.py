"""The shipped examples/amqp.json loses nothing: what amqp_in rejects lands in its dead-letter queue.

And a queue that dead-letters to an exchange nobody declared is refused: nothing is consumed
(so nothing can be rejected into the void), the error names the exchange, ``ready`` stays False.
"""

from __future__ import annotations

import json
import logging
import pathlib
import re

import pika
from wb_amqp.testing import wait_for
from wishbone import Pipeline

EXAMPLE = pathlib.Path(__file__).resolve().parents[3] / "examples" / "amqp.json"


def _example(url: str) -> dict:
    document = json.loads(EXAMPLE.read_text())
    for name in ("input", "output"):
        variables = document["bootstrap"][name]["variables"]
        assert variables["url"] == "amqp://guest:guest@127.0.0.1:5672/%2F"
        variables["url"] = url
    return document


def test_a_message_the_shipped_example_rejects_ends_up_in_its_dead_letter_queue(amqp_url, broker):
    document = _example(amqp_url)
    variables = document["bootstrap"]["input"]["variables"]
    dead, exchange = variables["dead_letter_queue"], variables["queue_arguments"]["x-dead-letter-exchange"]
    p = Pipeline.from_dict(document)
    p.start()
    try:
        wait_for(lambda: p.modules["input"].ready and p.modules["output"].ready, 10, what="both connected")
        # Declared by the example itself, nothing by hand: publish as a producer would.
        broker.channel.basic_publish("wishbone", "events.bad", b"{not json", pika.BasicProperties(message_id="bad"))
        broker.channel.basic_publish("wishbone", "events.good", b'{"ok": "\xc3\xbc"}')
        wait_for(lambda: p.snapshot()["modules"]["input"]["rejected"] == 1, 10, show=p.snapshot)
        wait_for(lambda: p.snapshot()["modules"]["input"]["acked"] == 1, 10, show=p.snapshot)
    finally:
        assert p.stop(10)
    try:
        method, props, body = broker.channel.basic_get(dead, auto_ack=True)
        assert method is not None, f"the rejected message is not in {dead!r}: lost"
        assert body == b"{not json" and props.message_id == "bad"
        assert props.headers["x-death"][0]["reason"] == "rejected"
        assert broker.take_all("wishbone.out", idle=0.3) == ['{"ok":"ü"}'.encode()]
    finally:
        for queue in ("wishbone.in", "wishbone.out", dead):
            broker.channel.queue_delete(queue)
        for name in ("wishbone", exchange):
            broker.channel.exchange_delete(name)


def test_a_dead_letter_exchange_nobody_declared_is_refused_by_name(amqp_url, broker, caplog):
    source = broker.name("in")
    missing = broker.name("nowhere")
    broker.queues.append(source)
    p = Pipeline.from_dict(
        {
            "bootstrap": {
                "input": {
                    "module": "amqp_in",
                    "variables": {
                        "url": amqp_url,
                        "queue": source,
                        "queue_arguments": {"x-dead-letter-exchange": missing},
                        "reconnect_delay": 0.1,
                    },
                },
                "sink": {"module": "null"},
            },
            "routingtable": {"input.outbox": ["sink.inbox"]},
        }
    )
    broker.channel.queue_declare(source, durable=True, arguments={"x-dead-letter-exchange": missing})
    broker.publish(source, [b"kept"])
    with caplog.at_level(logging.ERROR):
        p.start()
        try:
            wait_for(lambda: any(missing in r.getMessage() for r in caplog.records), 10, what="an error naming it")
            assert not p.modules["input"].ready
            assert p.snapshot()["modules"]["input"]["received"] == 0
        finally:
            assert p.stop(10)
    line = next(r.getMessage() for r in caplog.records if missing in r.getMessage())
    assert "does not exist" in line and "dead_letter_queue" in line
    assert broker.count(source) == 1, "the message must stay in its queue"


def test_the_readme_shows_the_shipped_example_as_it_is():
    readme = (pathlib.Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", readme, re.S) if '"bootstrap"' in b]
    assert json.loads(EXAMPLE.read_text()) in blocks
