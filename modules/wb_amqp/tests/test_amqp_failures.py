"""What goes wrong: a consume() that raises, a branch the broker refuses, bad logins and queues."""

from __future__ import annotations

import uuid

import gevent
import pytest
from wb_amqp import AMQPIn, AMQPOut
from wb_amqp.session import mask_url
from wb_amqp.testing import ids, wait_for
from wishbone import Pipeline
from wishbone.module import Processor
from wishbone.testing import load_bootstrap

FAST = {"reconnect_delay": 0.1, "reconnect_max_delay": 0.5}


class Explode(Processor):
    """Raises ValueError for events whose data is an odd number; passes the others on.

    Queues:
        inbox: events in.
        outbox: the even ones.
        failed: the odd ones.
    """

    def consume(self, event: dict) -> None:
        if int(event["data"]) % 2:
            # The traceback keeps this frame, and the core logs the exception object; pytest keeps
            # log records for its report, so without this del the event (and its ack) would live on.
            del event
            raise ValueError("odd message id")
        self.emit(event)


def test_a_consume_that_raises_dead_letters_the_message(amqp_url, broker):
    dlx = broker.exchange("dlx", "fanout")
    dead = broker.queue("dead")
    broker.channel.queue_bind(dead, dlx)
    source = broker.queue("in", {"x-dead-letter-exchange": dlx})
    target = broker.queue("out")
    broker.publish(source, (b"%d" % i for i in range(1000)))
    p = Pipeline(
        load_bootstrap(
            {
                "input": (
                    "amqp_in",
                    {"url": amqp_url, "queue": source, "queue_arguments": {"x-dead-letter-exchange": dlx}},
                ),
                "explode": (Explode, {}),
                "output": ("amqp_out", {"url": amqp_url, "routing_key": target}),
            },
            {"input.outbox": ["explode.inbox"], "explode.outbox": ["output.inbox"]},
        )
    )
    p.start()
    try:
        done = lambda: p.snapshot()["modules"]["input"]["acked"] + p.snapshot()["modules"]["input"]["rejected"]  # noqa: E731
        wait_for(lambda: done() == 1000, 30, what="every message settled", show=p.snapshot)
    finally:
        assert p.stop(10)
    snap = p.snapshot()["modules"]
    assert snap["explode"]["failed"] == 500
    assert snap["input"]["rejected"] == 500 and snap["input"]["acked"] == 500
    assert broker.count(source) == 0
    assert ids(broker.take_all(target, idle=0.3)) == ({i for i in range(1000) if i % 2 == 0}, 0)
    # Not into oblivion: the broker dead-lettered every rejected message.
    assert ids(broker.take_all(dead, idle=0.3)) == ({i for i in range(1000) if i % 2}, 0)


def test_one_to_many_acks_only_after_both_branches_confirmed(amqp_url, broker):
    n, room = 60, 20
    source, a = broker.queue("in"), broker.queue("a")
    # Branch b's queue refuses publishes beyond 20 messages: the broker nacks them.
    b = broker.queue("b", {"x-max-length": room, "x-overflow": "reject-publish"})
    broker.publish(source, (b"%d" % i for i in range(n)))
    p = Pipeline.from_dict(
        {
            "bootstrap": {
                "input": {"module": "amqp_in", "variables": {"url": amqp_url, "queue": source}},
                "a": {"module": "amqp_out", "variables": {"url": amqp_url, "routing_key": a}},
                "b": {"module": "amqp_out", "variables": {"url": amqp_url, "routing_key": b}},
            },
            "routingtable": {"input.outbox": ["a.inbox", "b.inbox"]},
        }
    )
    modules = lambda: p.snapshot()["modules"]  # noqa: E731
    p.start()
    got_b: list[bytes] = []
    try:
        wait_for(lambda: modules()["a"]["confirmed"] == n and modules()["b"]["nacked"] > 0, 20, show=modules)
        gevent.sleep(0.5)
        snap = modules()
        # Every message reached a, only 20 reached b: only those 20 may be acknowledged.
        assert snap["input"]["acked"] <= snap["b"]["confirmed"] == room
        assert snap["input"]["rejected"] == 0
        # Make room in b: the nacked ones are published again and then everything is acked.
        while modules()["input"]["acked"] < n:
            got_b.extend(broker.take_ready(b))
            gevent.sleep(0.1)
            assert len(got_b) <= 10 * n, "b keeps receiving: something loops"
    finally:
        assert p.stop(10)
    got_b.extend(broker.take_ready(b))
    assert ids(got_b) == (set(range(n)), 0)
    assert ids(broker.take_all(a, idle=0.3)) == (set(range(n)), 0)
    assert broker.count(source) == 0


def run_and_capture(variables: dict, module: str, caplog, wanted: str) -> list[str]:
    """Run one amqp module with *variables* until *wanted* was logged twice; return the log lines."""
    p = Pipeline.from_dict({"bootstrap": {"m": {"module": module, "variables": {**FAST, **variables}}}})
    caplog.set_level("INFO", logger="wishbone")
    p.start()
    try:
        wait_for(lambda: sum(wanted in r.getMessage() for r in caplog.records) >= 2, 15, what=f"{wanted!r} logged")
        assert not p.snapshot()["modules"]["m"]["connected"]
        assert "S3cret" not in repr(p.snapshot())
    finally:
        p.stop(5)
    assert not [g for m in p.modules.values() for g in m.greenlets() if not g.dead]
    return [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize("module", ["amqp_in", "amqp_out"])
def test_refused_login_is_logged_once_per_attempt_with_the_password_masked(vhost, caplog, module):
    url = f"amqp://guest:S3cret@127.0.0.1:5672/{vhost}"
    lines = run_and_capture({"url": url}, module, caplog, "login refused for user 'guest'")
    errors = [line for line in lines if "Cannot" in line]
    assert errors and all("login refused" in line and "retrying in" in line for line in errors)
    assert all("S3cret" not in line for line in lines)
    assert any("guest:***@" in line for line in errors)


def test_missing_vhost_is_named(vhost, caplog):
    missing = f"no_such_vhost_{uuid.uuid4().hex[:6]}"
    lines = run_and_capture(
        {"url": f"amqp://guest:guest@127.0.0.1:5672/{missing}"}, "amqp_in", caplog, f"virtual host {missing!r}"
    )
    assert any("does not exist" in line for line in lines)


def test_queue_redeclared_with_other_arguments_says_precondition_failed(amqp_url, broker, caplog):
    queue = broker.queue("pre")
    lines = run_and_capture(
        {"url": amqp_url, "queue": queue, "queue_arguments": {"x-max-length": 5}}, "amqp_in", caplog, "PRECONDITION"
    )
    assert any("inequivalent arg 'x-max-length'" in line for line in lines)


def test_the_password_never_shows_in_errors_or_docs():
    assert mask_url("amqp://user:p%40ss@host:5672/v") == "amqp://user:***@host:5672/v"
    assert mask_url("amqp://host/v") == "amqp://host/v"
    with pytest.raises(ValueError) as info:
        AMQPIn(url="amqp://user:S3cret@host:notaport/v")
    assert "S3cret" not in str(info.value) and "***" in str(info.value)
    with pytest.raises(ValueError) as info:
        AMQPOut(url="http://user:S3cret@host/")
    assert "S3cret" not in str(info.value)
    assert AMQPIn(url="amqp://user:S3cret@host/v").url == "amqp://user:***@host/v"
    # A raw '@' in a password (urllib and pika split at the last '@') is masked whole.
    assert mask_url("amqp://user:pre@S3cret@host/v") == "amqp://user:***@host/v"
    # A raw '/' in a password cuts the authority short: refused, without a piece of it in the error.
    for url in ("amqp://user:S3c/ret@host/v", "amqp://user:123/S3cret@host/v"):
        with pytest.raises(ValueError) as info:
            AMQPIn(url=url)
        assert "S3c" not in str(info.value) and "123" not in str(info.value)
    # The default URL carries no password (pika then logs in as guest/guest): `show` prints none.
    assert ":guest@" not in (AMQPIn.__doc__ or "") + (AMQPOut.__doc__ or "")
    assert AMQPIn().url == AMQPOut().url == "amqp://127.0.0.1:5672/%2F"


@pytest.mark.parametrize("cls", [AMQPIn, AMQPOut])
@pytest.mark.parametrize(
    ("delays", "words"),
    [((0, 1), "more than 0"), ((2, 1), "shorter than the first")],
)
def test_nonsense_reconnect_delays_are_refused_naming_the_parameters(cls, delays, words):
    with pytest.raises(ValueError, match=words) as info:
        cls(reconnect_delay=delays[0], reconnect_max_delay=delays[1])
    assert "reconnect_delay" in str(info.value) and "reconnect_max_delay" in str(info.value)


def test_an_event_carries_the_delivery_in_its_headers(amqp_url, broker, harness):
    import pika

    source = broker.queue("in")
    props = pika.BasicProperties(content_type="application/json", headers={"k": "v"}, message_id="m1")
    broker.channel.basic_publish("", source, b'{"n": 1}', props)
    h = harness(AMQPIn, {"url": amqp_url, "queue": source, "decode": "json"}, timeout=10).start()
    [event] = h.collect("outbox", 1)
    amqp = event["headers"]["amqp"]
    assert event["data"] == {"n": 1}
    assert amqp["routing_key"] == source and amqp["exchange"] == "" and amqp["redelivered"] is False
    assert amqp["delivery_tag"] == 1
    assert amqp["properties"] == {"content_type": "application/json", "headers": {"k": "v"}, "message_id": "m1"}
    del event, amqp
    h.collected("outbox").clear()
    wait_for(lambda: h.module.acked == 1, 5, what="acked once released")
    h.stop()
    assert broker.count(source) == 0


def test_a_body_that_does_not_decode_goes_to_failed_and_is_rejected(amqp_url, broker, harness):
    dlx = broker.exchange("dlx", "fanout")
    dead = broker.queue("dead")
    broker.channel.queue_bind(dead, dlx)
    source = broker.queue("in", {"x-dead-letter-exchange": dlx})
    broker.publish(source, [b"{not json", b"[1]"])
    h = harness(AMQPIn, {"url": amqp_url, "queue": source, "decode": "json", "declare": False}, timeout=10).start()
    [bad] = h.collect("failed", 1)
    [good] = h.collect("outbox", 1)
    assert bad["data"] == b"{not json" and bad["headers"]["error"]["type"] == "CodecError"
    assert good["data"] == [1]
    del bad, good
    h.collected("failed").clear()
    h.collected("outbox").clear()
    wait_for(lambda: h.module.acked == 1 and h.module.rejected == 1, 5, what="settled")
    h.stop()
    assert broker.take_all(dead, idle=0.3) == [b"{not json"]


def test_routing_key_per_event_from_a_header(amqp_url, broker):
    import pika

    source, left, right = broker.queue("in"), broker.queue("left"), broker.queue("right")
    for i in range(30):
        dest = (left, right)[i % 2]
        broker.channel.basic_publish("", source, b"%d" % i, pika.BasicProperties(headers={"dest": dest}))
    broker.channel.basic_publish("", source, b"30")  # no header: cannot be routed, goes to failed
    p = Pipeline.from_dict(
        {
            "bootstrap": {
                "input": {"module": "amqp_in", "variables": {"url": amqp_url, "queue": source}},
                "output": {
                    "module": "amqp_out",
                    "variables": {"url": amqp_url, "routing_key_header": "amqp.properties.headers.dest"},
                },
            },
            "routingtable": {"input.outbox": ["output.inbox"]},
        }
    )
    p.start()
    try:
        modules = lambda: p.snapshot()["modules"]  # noqa: E731
        wait_for(lambda: modules()["input"]["acked"] + modules()["input"]["rejected"] == 31, 20, show=modules)
    finally:
        assert p.stop(10)
    snap = p.snapshot()["modules"]
    assert snap["output"]["failed"] == 1 and snap["input"]["rejected"] == 1
    assert ids(broker.take_all(left, idle=0.3)) == (set(range(0, 30, 2)), 0)
    assert ids(broker.take_all(right, idle=0.3)) == (set(range(1, 30, 2)), 0)
