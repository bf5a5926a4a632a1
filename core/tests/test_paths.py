"""Field paths: the syntax, get/set/delete on events, and the errors they give."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from wishbone.paths import MISSING, FieldPath, FieldTypeError, PathError, compile_path


def event(data=None, headers=None) -> dict:
    return {"headers": headers or {}, "data": data}


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("data", ("data",)),
        ("data.user.name", ("data", "user", "name")),
        ("headers.amqp.properties.message_id", ("headers", "amqp", "properties", "message_id")),
        ("data.items[0]", ("data", "items", 0)),
        ("data.items[-1].id", ("data", "items", -1, "id")),
        ('data."odd.key".x', ("data", "odd.key", "x")),
        ('data["a key"]', ("data", "a key")),
        ("data['it\\'s']", ("data", "it's")),
        ('data["tab\\there"]', ("data", "tab\there")),
        ("headers.x-request-id", ("headers", "x-request-id")),
        ("data.0", ("data", "0")),
    ],
)
def test_syntax(text: str, keys: tuple) -> None:
    assert compile_path(text).keys == keys


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("", 1, "expected 'data' or 'headers'"),
        ("user.name", 1, "starts with 'data' or 'headers'"),
        ("data..x", 6, "expected a key name"),
        ("data.", 6, "expected a key name"),
        ("data[x]", 6, "list index"),
        ("data[1", 7, "expected ']'"),
        ('data["a', 6, "not closed"),
        ("data.a b", 7, "unexpected ' '"),
        ('data."a\\q"', 8, "bad escape"),
    ],
)
def test_syntax_errors_name_the_column(text: str, column: int, words: str) -> None:
    with pytest.raises(PathError) as caught:
        compile_path(text)
    assert caught.value.column == column
    assert words in str(caught.value)
    assert f"column {column}" in str(caught.value)


def test_not_a_string() -> None:
    with pytest.raises(PathError, match="expected a string, got int"):
        compile_path(3)  # type: ignore[arg-type]


def test_canonical_text_and_cache() -> None:
    path = compile_path('data["plain"]["odd key"][2]')
    assert path.text == 'data.plain["odd key"][2]'
    assert compile_path(path.text) == path
    assert compile_path("data.a") is compile_path("data.a")
    assert compile_path(path) is path
    assert repr(compile_path("data.a")) == "FieldPath('data.a')"


def test_get() -> None:
    e = event({"user": {"name": "ada", "tags": ["x", "y"]}, "n": 0}, {"amqp": {"id": 7}})
    assert compile_path("data.user.name").get(e) == "ada"
    assert compile_path("data.user.tags[1]").get(e) == "y"
    assert compile_path("data.user.tags[-2]").get(e) == "x"
    assert compile_path("headers.amqp.id").get(e) == 7
    assert compile_path("data.n").get(e) == 0
    assert compile_path("data").get(e) is e["data"]


@pytest.mark.parametrize(
    "text",
    [
        "data.nope",
        "data.user.nope.deeper",
        "data.user.name.first",  # a string on the way
        "data.user.tags.first",  # a list indexed by a key
        "data.user[0]",  # an object indexed by a number
        "data.user.name[0]",  # a string is not a list
        "data.user.tags[5]",
        "data.user.tags[-3]",
        "headers.nope",
    ],
)
def test_get_missing_is_the_default(text: str) -> None:
    e = event({"user": {"name": "ada", "tags": ["x", "y"]}})
    path = compile_path(text)
    assert path.get(e) is MISSING
    assert path.get(e, None) is None
    assert not path.exists(e)
    assert not MISSING


def test_get_on_data_that_is_not_an_object() -> None:
    for data in ("text", 3, None, [1, 2]):
        assert compile_path("data.x").get(event(data)) is MISSING
        assert compile_path("data.x[0]").get(event(data)) is MISSING


def test_set_creates_objects_on_the_way() -> None:
    e = event({})
    compile_path("data.a.b.c").set(e, 1)
    compile_path("headers.amqp.routing_key").set(e, "rk")
    assert e == {"headers": {"amqp": {"routing_key": "rk"}}, "data": {"a": {"b": {"c": 1}}}}
    compile_path("data.a.b").set(e, [1, 2, 3])
    compile_path("data.a.b[-1]").set(e, 9)
    assert e["data"]["a"]["b"] == [1, 2, 9]
    compile_path("data").set(e, "replaced")
    assert e["data"] == "replaced"


@pytest.mark.parametrize(
    ("data", "text", "expected", "at"),
    [
        ("a string", "data.x", "an object", "data"),
        ({"a": "text"}, "data.a.b", "an object", "data.a"),
        ({"a": [1]}, "data.a.b", "an object", "data.a"),
        ({"a": {"b": 1}}, "data.a[0]", "a list", "data.a"),
        ({"a": [1]}, "data.a[3]", "an index within the list of 1", "data.a[3]"),
        ({"a": [{"b": 1}]}, "data.a[2].b", "an index within the list of 1", "data.a[2]"),
        ({}, "data.a[0]", "a list", "data.a"),
        ({"a": "x"}, "data.a[0].b", "a list", "data.a"),
    ],
)
def test_set_wrong_type_names_path_and_expected_type(data, text: str, expected: str, at: str) -> None:
    e = event(data)
    with pytest.raises(FieldTypeError) as caught:
        compile_path(text).set(e, 1)
    err = caught.value
    assert err.path == text and err.expected == expected and err.at == at
    assert str(err).startswith(f"{text}: expected {expected}")
    assert e["data"] == data  # nothing half-written


def test_set_headers_must_stay_an_object() -> None:
    with pytest.raises(FieldTypeError, match="headers: expected an object, found a string"):
        compile_path("headers").set(event(), "x")


def test_delete() -> None:
    e = event({"a": {"b": 1, "c": 2}, "l": [1, 2, 3]}, {"h": 1})
    assert compile_path("data.a.b").delete(e) is True
    assert compile_path("data.a.b").delete(e) is False
    assert compile_path("data.nope.deeper").delete(e) is False
    assert compile_path("data.a.c.deeper").delete(e) is False
    assert compile_path("data.l[0]").delete(e) is True
    assert compile_path("data.l[5]").delete(e) is False
    assert compile_path("data.a[0]").delete(e) is False
    assert e["data"] == {"a": {"c": 2}, "l": [2, 3]}
    assert compile_path("headers").delete(e) is True and e["headers"] == {}
    assert compile_path("data").delete(e) is True and e["data"] is None


def test_pop() -> None:
    e = event({"a": 1})
    assert compile_path("data.a").pop(e) == 1
    assert compile_path("data.a").pop(e, "gone") == "gone"
    assert e["data"] == {}


def test_is_root() -> None:
    assert compile_path("data").is_root and not compile_path("data.x").is_root


def test_a_tracked_event_works_like_a_dict() -> None:
    class Tracked(dict):
        pass

    e = Tracked(headers={}, data={"a": {"b": 1}})
    assert compile_path("data.a.b").get(e) == 1
    assert compile_path("data.a[0]").get(e) is MISSING
    compile_path("data.x.y").set(e, 2)
    assert e["data"]["x"] == {"y": 2}


keys = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=8)


@given(st.lists(st.one_of(keys, st.integers(-3, 3)), min_size=0, max_size=5), st.sampled_from(["data", "headers"]))
def test_canonical_text_round_trips(parts: list, root: str) -> None:
    path = FieldPath((root, *parts))
    assert compile_path(path.text).keys == path.keys


@given(st.lists(keys, min_size=1, max_size=5), st.integers())
def test_set_then_get(parts: list, value: int) -> None:
    e = event({})
    path = FieldPath(("data", *parts))
    path.set(e, value)
    assert path.get(e) == value
    assert path.delete(e)
    assert path.get(e) is MISSING


@pytest.mark.parametrize("text", ["data.a", "data.a.b.c", "headers.x.y", "data.items[0]", "data"])
def test_compiled_setter_and_deleter_do_what_set_and_delete_do(text: str) -> None:
    path = compile_path(text)
    for data in ({}, {"a": {"b": {}}}, {"items": [1]}, {"a": "text"}, "text"):
        by_method, compiled = event(_copy(data)), event(_copy(data))
        outcome = []
        for e, op in ((by_method, lambda e: path.set(e, 5)), (compiled, path.setter(5))):
            try:
                op(e)
                outcome.append("ok")
            except FieldTypeError as exc:
                outcome.append(str(exc))
        assert outcome[0] == outcome[1] and by_method == compiled
        path.delete(by_method)
        path.deleter()(compiled)
        assert by_method == compiled


def _copy(value):
    import copy

    return copy.deepcopy(value)
