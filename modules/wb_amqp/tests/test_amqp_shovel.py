"""amqp_in -> passthrough -> amqp_out is a shovel: every property kept, the body byte for byte.

And what the codecs (``wishbone.codec``) change is only what the README says: ``decode: json``
gives JSON out again (UTF-8, no ``\\u`` escapes; a JSON string stays a JSON string; integers
beyond 64 bits exact); a body with NaN is refused, and NaN in data is written as ``null``: what
leaves is valid JSON.
"""

from __future__ import annotations

import json

import pika
import pytest
from wb_amqp import AMQPOut
from wb_amqp.testing import shovel, wait_for
from wishbone.event import new_event

PROPERTIES = {
    "content_type": "application/octet-stream",
    "content_encoding": "identity",
    "headers": {"trace": "abc-123", "hops": 3, "nested": {"a": [1, "two"]}, "flag": True},
    "delivery_mode": 1,  # transient: a shovel must not make it persistent behind the sender's back
    "priority": 7,
    "correlation_id": "corr-42",
    "reply_to": "replies",
    "expiration": "600000",
    "message_id": "msg-0001",
    "timestamp": 1764547200,
    "type": "order.created",
    "user_id": "guest",  # the broker checks it against the publisher's login: guest here
    "app_id": "billing",
}


def _properties(props: pika.BasicProperties) -> dict:
    return {k: v for k, v in props.__dict__.items() if v is not None}


def _get(broker, queue: str, n: int) -> list[tuple[dict, bytes]]:
    got = []
    for _ in range(n):
        method, props, body = broker.channel.basic_get(queue, auto_ack=True)
        assert method is not None, f"only {len(got)} of {n} messages arrived in {queue}"
        got.append((_properties(props), body))
    return got


def _shovel(amqp_url, broker, bodies, properties, **kwargs):
    source, target = broker.queue("in"), broker.queue("out")
    for body in bodies:
        broker.channel.basic_publish("", source, body, pika.BasicProperties(**properties))
    p = shovel(amqp_url, source, target, **kwargs)
    p.start()
    try:
        wait_for(lambda: p.snapshot()["modules"]["input"]["acked"] == len(bodies), 20, show=p.snapshot)
    finally:
        assert p.stop(10)
    snap = p.snapshot()["modules"]
    assert snap["input"]["rejected"] == 0 and snap["output"]["failed"] == 0
    return _get(broker, target, snap["output"]["confirmed"])


def test_every_property_and_every_byte_of_the_body_arrive_unchanged(amqp_url, broker):
    bodies = [b"\xff\x00 not text, not JSON \x80", b"", b'{"a": 1}']
    got = _shovel(amqp_url, broker, bodies, PROPERTIES)
    assert [body for _, body in got] == bodies
    for properties, _ in got:
        assert properties == PROPERTIES


def test_a_message_without_properties_leaves_persistent(amqp_url, broker):
    [(properties, body)] = _shovel(amqp_url, broker, [b"x"], {})
    assert properties == {"delivery_mode": 2} and body == b"x"


def test_parameters_override_the_messages_own_properties(amqp_url, broker):
    out_vars = {"persistent": True, "content_type": "text/plain", "properties": {"app_id": "wishbone"}}
    [(properties, body)] = _shovel(amqp_url, broker, [b"x"], PROPERTIES, out_vars=out_vars)
    assert properties == {**PROPERTIES, "delivery_mode": 2, "content_type": "text/plain", "app_id": "wishbone"}
    assert body == b"x"


def test_properties_header_none_publishes_only_the_parameters(amqp_url, broker):
    [(properties, _)] = _shovel(amqp_url, broker, [b"x"], PROPERTIES, out_vars={"properties_header": None})
    assert properties == {"delivery_mode": 2}


JSON_BODIES = [
    '{"ü": "✓"}'.encode(),
    b'"just a string"',
    b"[1, 2.5, null, true]",
    b"12345678901234567890123",  # beyond 64 bits: kept exact
    b'"\\u00fc escaped in, plain UTF-8 out"',
]


@pytest.mark.parametrize("out_vars", [{}, {"encode": "json"}], ids=["encode auto", "encode json"])
def test_decode_json_gives_the_same_json_back_as_utf8(amqp_url, broker, out_vars):
    got = _shovel(amqp_url, broker, JSON_BODIES, {}, in_vars={"decode": "json"}, out_vars=out_vars)
    for sent, (_, body) in zip(JSON_BODIES, got, strict=True):
        assert json.loads(body) == json.loads(sent)
        assert b"\\u" not in body, body
    assert got[0][1] == '{"ü":"✓"}'.encode()
    assert got[1][1] == b'"just a string"'


def test_decode_lines_makes_one_event_per_line_and_acks_the_message_once(amqp_url, broker):
    got = _shovel(amqp_url, broker, [b"one\ntwo\r\nthree\n"], {}, in_vars={"decode": "lines"})
    assert [body for _, body in got] == [b"one\n", b"two\n", b"three\n"]  # encode: auto, as lines


def test_decode_msgpack_gives_the_same_bytes_back(amqp_url, broker):
    import msgpack

    bodies = [msgpack.packb({"a": [1, "ü", b"\x00"]}, use_bin_type=True), msgpack.packb(2**63)]
    got = _shovel(amqp_url, broker, bodies, {}, in_vars={"decode": "msgpack"})
    assert [body for _, body in got] == bodies


def test_decode_text_leaves_the_body_as_it_came(amqp_url, broker):
    bodies = [b"line one\n", "ü ✓".encode()]
    got = _shovel(amqp_url, broker, bodies, {}, in_vars={"decode": "text"})
    assert [body for _, body in got] == bodies


def test_decode_json_refuses_nan_and_garbage_so_nothing_invalid_is_sent_on(amqp_url, broker):
    source, target = broker.queue("in"), broker.queue("out")
    broker.publish(source, [b'{"a": NaN}', b"Infinity", b"[" * 100_000, b'{"a": 1}'])
    p = shovel(amqp_url, source, target, in_vars={"decode": "json"})
    p.start()
    try:
        wait_for(lambda: p.snapshot()["modules"]["input"]["acked"] == 1, 20, show=p.snapshot)
        wait_for(lambda: p.snapshot()["modules"]["input"]["rejected"] == 3, 20, show=p.snapshot)
    finally:
        assert p.stop(10)
    assert p.snapshot()["modules"]["input"]["decode_errors"] == 3
    assert broker.take_all(target, idle=0.3) == [b'{"a":1}']


# ---------------------------------------------------------------------------- amqp_out alone
def _publish_one(harness, amqp_url, broker, event, **variables):
    target = broker.queue("out")
    with harness(AMQPOut, {"url": amqp_url, "routing_key": target, **variables}) as h:
        wait_for(lambda: h.module.ready, 10, what="amqp_out connected")
        h.feed([event])
        wait_for(lambda: h.module.metrics()["confirmed"] + h.module.failed == 1, 10, what="published or failed")
        failed = h.collect("failed", 1) if h.module.failed else []
    return target, failed


def test_a_user_id_the_broker_would_refuse_is_left_out_instead_of_looping(harness, amqp_url, broker):
    event = new_event(b"x")
    event["headers"]["amqp"] = {"properties": {"user_id": "alice", "message_id": "m1"}}
    target, failed = _publish_one(harness, amqp_url, broker, event)
    assert failed == []
    [(properties, body)] = _get(broker, target, 1)
    assert properties == {"delivery_mode": 2, "message_id": "m1"} and body == b"x"


@pytest.mark.parametrize(
    ("properties", "words"),
    [
        ({"priority": "high"}, "cannot be sent"),
        ({"message_id": "x" * 300}, "cannot be sent"),
        ({"colour": "red"}, "unknown message properties 'colour'"),
        ("not a dict", "not a dict"),
    ],
)
def test_properties_the_protocol_cannot_carry_send_the_event_to_failed(harness, amqp_url, broker, properties, words):
    event = new_event(b"x")
    event["headers"]["amqp"] = {"properties": properties}
    target, [bad] = _publish_one(harness, amqp_url, broker, event)
    assert words in bad["headers"]["error"]["message"]
    assert broker.count(target) == 0


def test_encode_json_writes_nan_as_null_so_what_leaves_is_json(harness, amqp_url, broker):
    target, failed = _publish_one(harness, amqp_url, broker, new_event({"a": float("nan")}), encode="json")
    assert failed == []
    [(_, body)] = _get(broker, target, 1)
    assert body == b'{"a":null}'


def test_data_that_does_not_encode_goes_to_failed_with_the_reason(harness, amqp_url, broker):
    target, [bad] = _publish_one(harness, amqp_url, broker, new_event({"a": 1}), encode="text")
    assert bad["headers"]["error"]["type"] == "CodecError"
    assert "text encodes str, not dict" in bad["headers"]["error"]["message"]
    assert broker.count(target) == 0


@pytest.mark.parametrize(
    ("variables", "words"),
    [
        ({"properties": {"colour": "red"}}, "unknown message properties"),
        ({"properties": {"priority": "high"}}, "cannot be sent"),
        ({"encode": "yaml"}, "encode: unknown codec 'yaml'; choose one of raw, text, lines, json"),
    ],
)
def test_bad_property_parameters_are_refused_at_load(variables, words):
    from wishbone.params import ParameterError, check_parameters

    with pytest.raises((ValueError, ParameterError), match=words):
        check_parameters(AMQPOut, variables)
        AMQPOut(**variables)
