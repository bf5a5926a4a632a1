"""What modify does, run in isolation with the harness of wishbone.testing."""

from __future__ import annotations

import re
import socket
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wb_modify import Modify
from wishbone import new_event
from wishbone.ack import track
from wishbone.params import ParameterError
from wishbone.testing.harness import Harness


def run(harness, operations: list, events: list, **variables) -> tuple[list, list]:
    """Feed *events* through a modify with *operations*; return (outbox, failed)."""
    with harness(Modify, {"operations": operations, **variables}) as h:
        h.feed(events)
        h.wait_consumed(len(events))
    return h.collected("outbox"), h.collected("failed")


def test_operations_apply_in_order(harness) -> None:
    operations = [
        {"set": "data.env", "value": "prod"},
        {"set": "headers.index", "value": "logs-{{ data.service }}"},
        {"copy": "data.user.id", "to": "headers.user_id"},
        {"move": "data.msg", "to": "data.message"},
        {"delete": "data.debug"},
        {"merge": "data.extra", "into": "data.user"},
        {"merge": {"source": "{{ data.service }}", "n": 1}, "into": "headers.meta"},
        {"lowercase": "data.level"},
        {"uppercase": "data.service"},
        {"strip": "data.message"},
        {"convert": "data.code", "to": "int"},
        {"set": "data.copy_of_user", "value": {"fixed": [1, 2]}},
    ]
    event = new_event(
        {
            "service": "api",
            "user": {"id": 7},
            "msg": "  hello  ",
            "debug": "noise",
            "extra": {"role": "admin"},
            "level": "ERROR",
            "code": "503",
        }
    )
    [done], failed = run(harness, operations, [event])
    assert failed == []
    assert done["headers"] == {"index": "logs-api", "user_id": 7, "meta": {"source": "api", "n": 1}}
    assert done["data"] == {
        "service": "API",
        "user": {"id": 7, "role": "admin"},
        "message": "hello",
        "extra": {"role": "admin"},
        "level": "error",
        "code": 503,
        "env": "prod",
        "copy_of_user": {"fixed": [1, 2]},
    }


def test_copies_are_independent(harness) -> None:
    operations = [{"copy": "data.a", "to": "data.b"}, {"set": "data.c", "value": {"l": []}}]
    outbox, _ = run(harness, operations, [new_event({"a": {"x": [1]}}), new_event({"a": {"x": [2]}})])
    first, second = outbox
    first["data"]["b"]["x"].append(99)
    first["data"]["c"]["l"].append(1)
    assert first["data"]["a"] == {"x": [1]}
    assert second["data"]["c"] == {"l": []}


@pytest.mark.parametrize(
    ("to", "value", "converted"),
    [
        ("int", "42", 42),
        ("int", " -3 ", -3),
        ("int", "4.0", 4),
        ("int", 3.9, 3),
        ("int", True, 1),
        ("float", "2.5", 2.5),
        ("float", 2, 2.0),
        ("bool", "yes", True),
        ("bool", "Off", False),
        ("bool", 1, True),
        ("string", 12, "12"),
        ("string", True, "true"),
        ("string", None, "null"),
        ("string", {"a": [1, "é"]}, '{"a":[1,"é"]}'),
        ("string", b"bytes", "bytes"),
    ],
)
def test_convert(harness, to: str, value, converted) -> None:
    [done], _ = run(harness, [{"convert": "data.v", "to": to}], [new_event({"v": value})])
    assert done["data"]["v"] == converted and type(done["data"]["v"]) is type(converted)


@pytest.mark.parametrize(
    ("operation", "data", "words"),
    [
        ({"convert": "data.v", "to": "int"}, {"v": "forty"}, "data.v: expected an integer"),
        ({"convert": "data.v", "to": "float"}, {"v": [1]}, "data.v: expected a number, or text"),
        ({"convert": "data.v", "to": "bool"}, {"v": "maybe"}, "data.v: expected a boolean"),
        ({"convert": "data.v", "to": "string"}, {"v": b"\xff"}, "data.v: expected UTF-8 bytes"),
        ({"uppercase": "data.v"}, {"v": 5}, "data.v: expected a string, found a number"),
        ({"set": "data.v.w", "value": 1}, {"v": "text"}, "data.v.w: expected an object at data.v, found a string"),
        ({"set": "data.x", "value": 1}, "just text", "data.x: expected an object at data, found a string"),
        ({"merge": "data.v", "into": "data"}, {"v": [1]}, "data.v: expected an object, found a list"),
        ({"merge": "data.v", "into": "data.w"}, {"v": {}, "w": 3}, "data.w: expected an object, found a number"),
        ({"copy": "data.v", "to": "data.w[3]"}, {"v": 1, "w": []}, "data.w[3]: expected an index within the list"),
    ],
)
def test_wrong_types_go_to_failed_with_path_and_expected_type(harness, operation, data, words) -> None:
    outbox, [failed] = run(harness, [operation], [new_event(data)])
    error = failed["headers"]["error"]
    assert error["type"] == "FieldTypeError"
    assert error["message"].startswith(words), error["message"]
    assert outbox == []


def test_missing_fields_skip_or_fail(harness) -> None:
    operations = [
        {"copy": "data.nope", "to": "data.b"},
        {"uppercase": "data.nope"},
        {"convert": "data.nope", "to": "int"},
    ]
    [done], [] = run(harness, operations, [new_event({"a": 1})])
    assert done["data"] == {"a": 1}
    [], [failed] = run(harness, operations, [new_event({"a": 1})], missing="fail")
    assert failed["headers"]["error"]["message"] == "data.nope: the field is missing"


def test_template_missing_empty_or_strict(harness) -> None:
    operations = [{"set": "data.t", "value": "<{{ data.nope }}>"}]
    [done], [] = run(harness, operations, [new_event({})])
    assert done["data"]["t"] == "<>"
    [], [failed] = run(harness, operations, [new_event({})], template_missing="strict")
    assert "data.nope is undefined" in failed["headers"]["error"]["message"]


def test_timestamp_and_host(harness) -> None:
    operations = [
        {"timestamp": "data.iso"},
        {"timestamp": "data.epoch", "format": "epoch"},
        {"timestamp": "data.ms", "format": "epoch_ms"},
        {"host": "headers.host"},
    ]
    before = time.time()
    [done], _ = run(harness, operations, [new_event({})])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", done["data"]["iso"])
    assert before <= done["data"]["epoch"] <= time.time()
    assert abs(done["data"]["ms"] / 1000 - done["data"]["epoch"]) < 1
    assert done["headers"]["host"] == socket.gethostname()


def test_delete_of_what_is_not_there_is_fine(harness) -> None:
    [done], [] = run(harness, [{"delete": "data.a.b.c"}, {"delete": "headers.x"}], [new_event("text")])
    assert done["data"] == "text"


def test_a_tracked_event_stays_tracked_and_settles_once_delivered(harness) -> None:
    settled = []
    event = track(new_event({"a": 1}), lambda tag, ok: settled.append((tag, ok)), "tag-1")
    with harness(Modify, {"operations": [{"set": "data.b", "value": 2}]}) as h:
        h.feed([event])
        del event
        [done] = h.collect("outbox", 1)
        assert settled == []
        assert done.delivery is not None
        del done
    assert settled == [("tag-1", True)]


@pytest.mark.parametrize(
    ("operations", "words"),
    [
        ([{"set": "data.a"}], "operations[0]: set needs 'value'"),
        ([{"sett": "data.a", "value": 1}], "operations[0]: expected exactly one operation"),
        ([{"set": "data.a", "delete": "data.b", "value": 1}], "expected exactly one operation"),
        (
            [{"delete": "data.a"}, {"delete": "data..b"}],
            "operations[1].delete: invalid field path 'data..b' at column 6",
        ),
        ([{"delete": "data.a", "to": "x"}], "operations[0]: delete takes no option 'to'"),
        ([{"copy": "data.a", "to": "nowhere"}], "operations[0].copy: to: invalid field path 'nowhere' at column 1"),
        ([{"convert": "data.a", "to": "integer"}], "to: expected one of int, float, bool, string"),
        ([{"set": "data.a", "value": "{{ data. }}"}], "operations[0].set: invalid template"),
        ([{"timestamp": "data.t", "format": "unix"}], "format: expected one of iso, epoch, epoch_ms"),
        ([{"move": "data", "to": "data.x"}], "cannot move data or headers"),
        (["delete data.a"], "operations[0]: expected an object"),
    ],
)
def test_bad_operations_are_refused_at_load(operations: list, words: str) -> None:
    with pytest.raises(ParameterError) as caught:  # a ValueError: the bootstrap reports it at variables
        Modify(operations)
    assert words in str(caught.value)
    assert caught.value.parameter == "operations" and caught.value.keys[0] == len(operations) - 1


def test_parameters_are_typed(harness) -> None:
    with pytest.raises(ParameterError, match="expected one of 'skip', 'fail'") as caught:
        harness(Modify, {"operations": [], "missing": "ignore"})
    assert caught.value.parameter == "missing"


def test_fused_runs_keep_order_and_errors(harness) -> None:
    operations = [
        {"set": "data.a", "value": 1},
        {"delete": "data.a"},
        {"delete": "data.b"},
        {"set": "data.b", "value": "{{ data.c }}!"},
        {"set": "headers.x", "value": None},
        {"set": "headers.y", "value": 2.5},
    ]
    outbox, failed = run(harness, operations, [new_event({"b": 0, "c": "see"}), new_event([1])])
    assert [e["data"] for e in outbox] == [{"b": "see!", "c": "see"}]
    assert outbox[0]["headers"] == {"x": None, "y": 2.5}
    assert failed[0]["headers"]["error"]["message"] == "data.a: expected an object at data, found a list"
    assert Modify(operations).operations[0].__name__ == "fused"  # one function for data, one for headers
    assert len(Modify(operations).operations) == 2


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["a", "b", "n", "s"]), inner, max_size=3)
    ),
    max_leaves=8,
)
EVERY_KIND = [
    {"set": "data.a.b", "value": "{{ data.s }}-{{ data.n }}"},
    {"copy": "data.n", "to": "data.copied"},
    {"move": "data.s", "to": "headers.s"},
    {"merge": "data.b", "into": "data"},
    {"lowercase": "headers.s"},
    {"strip": "data.a.b"},
    {"convert": "data.n", "to": "int"},
    {"convert": "data.copied", "to": "bool"},
    {"delete": "data.b"},
    {"timestamp": "data.at"},
]


@settings(max_examples=50, deadline=None)
@given(st.lists(JSON, min_size=1, max_size=20))
def test_nothing_a_user_sends_stops_the_module(values: list) -> None:
    with Harness(Modify, {"operations": EVERY_KIND}) as h:
        h.feed([new_event(v) for v in values])
        h.wait_consumed(len(values))
        assert h.module.alive
    done, failed = h.collected("outbox"), h.collected("failed")
    assert len(done) + len(failed) == len(values)
    assert all(f["headers"]["error"]["type"] in ("FieldTypeError", "TemplateError") for f in failed)
