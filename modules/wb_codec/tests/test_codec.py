"""decode, encode and jsonvalidate, in isolation with the harness."""

from __future__ import annotations

import json

import msgpack
import pytest
from wb_codec import Decode, Encode, JSONValidate
from wishbone import new_event
from wishbone.ack import track


def run(harness, cls, variables: dict, events: list) -> tuple[list, list]:
    with harness(cls, variables) as h:
        h.feed(events)
        h.wait_consumed(len(events))
    return h.collected("outbox"), h.collected("failed")


def test_decode_json_text_and_bytes(harness) -> None:
    outbox, failed = run(harness, Decode, {}, [new_event('{"a": [1, "é"]}'), new_event(b'"text"'), new_event("5")])
    assert [e["data"] for e in outbox] == [{"a": [1, "é"]}, "text", 5]
    assert failed == []


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ("{not json", "data: not JSON"),
        (b"\xff", "data: "),
        ("NaN", "data: not JSON"),
        ({"already": "decoded"}, "data: expected text or bytes to decode, found an object"),
    ],
)
def test_decode_failures_say_why(harness, data, words: str) -> None:
    [], [failed] = run(harness, Decode, {}, [new_event(data)])
    assert failed["headers"]["error"]["message"].startswith(words), failed["headers"]["error"]
    assert failed["data"] == data


def test_decode_a_field_into_another(harness) -> None:
    variables = {"field": "data.body", "target": "headers.parsed"}
    [done], [] = run(harness, Decode, variables, [new_event({"body": '{"k": 1}'})])
    assert done["headers"]["parsed"] == {"k": 1} and done["data"] == {"body": '{"k": 1}'}
    [], [failed] = run(harness, Decode, variables, [new_event({})])
    assert "data.body: expected text or bytes to decode" in failed["headers"]["error"]["message"]


def test_decode_lines_as_a_list_or_split(harness) -> None:
    [done], _ = run(harness, Decode, {"codec": "lines"}, [new_event("a\nb\r\nc\n")])
    assert done["data"] == ["a", "b", "c"]
    settled = []
    event = track(new_event('{"n": 1}\n{"n": 2}\n', {"h": 1}), lambda tag, ok: settled.append(ok), 1)
    with harness(Decode, {"codec": "json_lines", "split": True}) as h:
        h.feed([event])
        del event
        parts = h.collect("outbox", 2)
        assert [p["data"] for p in parts] == [{"n": 1}, {"n": 2}] and parts[0]["headers"] == {"h": 1}
        assert settled == []
        del parts
    assert settled == [True]


def test_decode_msgpack(harness) -> None:
    [done], [] = run(harness, Decode, {"codec": "msgpack"}, [new_event(msgpack.packb({"a": 1}))])
    assert done["data"] == {"a": 1}


def test_encode_json_text_by_default_and_msgpack_bytes(harness) -> None:
    [done], [] = run(harness, Encode, {}, [new_event({"a": [1, "é"], "f": 1.5})])
    assert done["data"] == '{"a":[1,"é"],"f":1.5}'
    [done], [] = run(harness, Encode, {"codec": "msgpack"}, [new_event({"a": 1})])
    assert msgpack.unpackb(done["data"]) == {"a": 1}
    [done], [] = run(harness, Encode, {"field": "data.inner", "target": "headers.body"}, [new_event({"inner": [1]})])
    assert done["headers"]["body"] == "[1]" and done["data"] == {"inner": [1]}


def test_encode_failures_say_why(harness) -> None:
    [], [failed] = run(harness, Encode, {"codec": "lines"}, [new_event("two\nlines")])
    assert failed["headers"]["error"]["message"].startswith("data: ")
    [], [failed] = run(harness, Encode, {"field": "data.nope"}, [new_event({})])
    assert failed["headers"]["error"]["message"] == "data.nope: expected a value to encode, found null"


def test_decode_then_encode_round_trips(harness) -> None:
    text = json.dumps({"k": [1, 2, {"x": None}]}, separators=(",", ":"))
    [decoded], _ = run(harness, Decode, {}, [new_event(text)])
    [encoded], _ = run(harness, Encode, {}, [decoded])
    assert encoded["data"] == text


@pytest.mark.parametrize(
    ("cls", "variables", "words"),
    [
        (Decode, {"codec": "yaml"}, "codec: expected one of"),
        (Decode, {"codec": "lines", "split": True, "target": "data.x"}, "target must be data"),
        (Decode, {"field": "data..x"}, "invalid field path"),
        (JSONValidate, {}, "exactly one of schema and schema_file"),
        (JSONValidate, {"schema": {"type": 5}}, "schema: invalid at #/type"),
        (JSONValidate, {"schema_file": "/nonexistent/schema.json"}, "cannot read"),
    ],
)
def test_bad_parameters_are_refused(cls, variables: dict, words: str) -> None:
    with pytest.raises(ValueError) as caught:
        cls(**variables)
    assert words in str(caught.value)


SCHEMA = {
    "type": "object",
    "required": ["level"],
    "properties": {"level": {"enum": ["info", "error"]}, "items": {"type": "array", "items": {"type": "integer"}}},
}


def test_jsonvalidate_sends_what_does_not_fit_to_failed_with_the_schema_path(harness) -> None:
    events = [new_event({"level": "info", "items": [1]}), new_event({"level": "x"}), new_event({"items": [1, "b"]})]
    with harness(JSONValidate, {"schema": SCHEMA}) as h:
        h.feed(events)
        h.wait_consumed(3)
        [ok] = h.collect("outbox", 1)
        bad = h.collect("failed", 2)
        assert h.module.metrics() == {"invalid": 2}
    assert ok["data"]["level"] == "info"
    messages = [b["headers"]["error"]["message"] for b in bad]
    assert messages[0] == "data.level: 'x' is not one of ['info', 'error'] (schema #/properties/level/enum)"
    assert messages[1].startswith("data")
    assert "(schema #/" in messages[1]


def test_jsonvalidate_reads_a_schema_file(harness, tmp_path) -> None:
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(SCHEMA))
    outbox, failed = run(harness, JSONValidate, {"schema_file": str(path), "field": "data"}, [new_event({"level": 1})])
    assert outbox == [] and "schema #/properties/level/enum" in failed[0]["headers"]["error"]["message"]
    path.write_text("{nope")
    with pytest.raises(ValueError, match="is not JSON"):
        JSONValidate(schema_file=str(path))
