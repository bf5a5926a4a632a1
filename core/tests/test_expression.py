"""Conditions and selections: JMESPath semantics, compiled; missing fields; errors with columns."""

from __future__ import annotations

import jmespath
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wishbone.expression import (
    Condition,
    Expression,
    ExpressionError,
    Router,
    compile_condition,
    compile_expression,
)

EVENT = {
    "headers": {"amqp": {"routing_key": "app.db"}, "n": 0},
    "data": {
        "level": "error",
        "tags": ["db", "slow"],
        "items": [{"id": 1, "ok": True}, {"id": 2, "ok": False}, {"id": 3}],
        "user": {"name": "ada", "age": 36},
        "count": 1,
        "flag": True,
        "empty": "",
        "zero": 0,
    },
}

# Expressions over the shapes above, each compared with jmespath.search on EVENT and variations.
EXPRESSIONS = [
    "data.level == 'error'",
    "data.level != 'error'",
    "data.level == 'error' && contains(data.tags, 'db')",
    "data.level == 'info' || contains(data.tags, 'slow')",
    "!data.user",
    "!data.zero",
    "!data.empty",
    "data.count == `1`",
    "data.flag == `1`",
    "data.flag == `true`",
    "data.count == `true`",
    "data.zero == `false`",
    "data.user.age > `30`",
    "data.user.age >= `36` && data.user.age < `40`",
    "data.user.name > 'a'",
    "data.level < `3`",
    "data.items[0].id",
    "data.items[-1]",
    "data.items[5]",
    "data.items[*].id",
    "data.items[?ok].id",
    "data.items[?id > `1`] | [0].id",
    "length(data.items) > `2`",
    "length(data.user)",
    "starts_with(headers.amqp.routing_key, 'app.')",
    "ends_with(data.level, 'or')",
    "headers.n || data.count",
    "data.empty || 'default'",
    "data.empty && 'x'",
    "data.user && data.user.name",
    "@.data.level",
    "data.{n: user.name, l: level}",
    "[data.level, data.count]",
    "data.tags[0:1]",
    "to_string(data.count)",
    "not_null(data.missing, data.level)",
    "sort_by(data.items, &id)[0].id",
    "type(data.items)",
    "data.user.age == `36` && !contains(data.tags, 'fast') || data.level == 'x'",
    '`{"a": 1}`.a',
    "'lit'",
    "data.user.age == data.user.age",
    "(data.level == 'error') == `true`",
]

# Values the fields may hold instead, to reach type edges (numbers against booleans, missing...).
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 40),
    st.floats(allow_nan=False, allow_infinity=False, width=16),
    st.sampled_from(["", "error", "info", "a", "app.db"]),
    st.lists(st.sampled_from(["db", "x", 1, True]), max_size=3),
    st.dictionaries(st.sampled_from(["id", "ok", "name", "age"]), st.integers(0, 3), max_size=2),
)


def _jmespath(expression: str, value):
    try:
        return ("ok", jmespath.search(expression, value))
    except (jmespath.exceptions.JMESPathError, TypeError):
        return ("error", None)


def _compiled(expression: str, value):
    try:
        return ("ok", compile_expression(expression).search(value))
    except ExpressionError:
        return ("error", None)


def _truthy(value) -> bool:
    return not (value is None or value is False or value == "" or value == [] or value == {})


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_selection_is_jmespath(expression: str) -> None:
    want = _jmespath(expression, EVENT)
    if want[0] == "error" and expression == "data.level < `3`":
        # jmespath lets Python raise on a string ordered against a number; here it is null
        want = ("ok", None)
    assert _compiled(expression, EVENT) == want


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_condition_is_jmespath_truthiness(expression: str) -> None:
    status, value = _jmespath(expression, EVENT)
    assert compile_condition(expression).matches(EVENT) is (status == "ok" and _truthy(value))


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(EXPRESSIONS),
    st.sampled_from(["level", "tags", "items", "user", "count", "flag", "empty", "zero"]),
    ODD_VALUES,
)
def test_any_field_value_gives_jmespath_result(expression: str, field: str, value) -> None:
    event = {"headers": dict(EVENT["headers"]), "data": {**EVENT["data"], field: value}}
    want_status, want = _jmespath(expression, event)
    got_status, got = _compiled(expression, event)
    if want_status == "ok":
        assert (got_status, got) == (want_status, want)
        assert compile_condition(expression).matches(event) is _truthy(want)
    else:  # jmespath raises: the condition is false; a selection raises (or, for an ordering
        # between a string and a number, which jmespath lets Python raise on, gives null)
        assert compile_condition(expression).matches(event) is False
        assert got_status == "error" or got is None


@pytest.mark.parametrize("data", [None, "text", 3, [1, 2], {}, {"level": None}, {"tags": 5}])
def test_condition_on_missing_or_odd_fields_is_false(data) -> None:
    condition = compile_condition("data.level == 'error' && contains(data.tags, 'db')")
    assert condition.matches({"headers": {}, "data": data}) is False


def test_a_selection_that_cannot_be_evaluated_raises() -> None:
    with pytest.raises(ExpressionError, match="contains"):
        compile_expression("contains(data.tags, 'db')").search({"headers": {}, "data": {"tags": 5}})
    assert compile_expression("data.nope.deeper").search({"headers": {}, "data": {}}) is None


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("data.level ==", 14, "ends too soon"),
        ("data.level = 'x'", 12, "Unknown token '='"),
        ("data.level == 'error' && && x", 26, "unexpected"),
        ("data.[", 7, "ends too soon"),
        ("  ", 1, "empty"),
        ("data.x == `{bad json`", 11, "must be JSON"),
        ("contians(data.tags, 'db')", 1, "unknown function contians()"),
        ("data.a && contains(data.tags)", 11, "contains() takes 2 argument(s), 1 given"),
        ("not_null()", 1, "at least 1"),
    ],
)
def test_errors_name_the_column(text: str, column: int, words: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_condition(text)
    assert caught.value.column == column, caught.value
    assert f"at column {column}" in str(caught.value)
    assert words in str(caught.value)


def test_not_a_string() -> None:
    with pytest.raises(ExpressionError, match="expected a string"):
        Condition(3)  # type: ignore[arg-type]


def test_compiled_once() -> None:
    assert compile_condition("data.a == 'x'") is compile_condition("data.a == 'x'")
    assert isinstance(compile_expression("data.a"), Expression)
    assert repr(compile_condition("data.a")) == "Condition('data.a')"
    assert compile_condition("data.a").search({"data": {"a": 4}}) == 4


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(EXPRESSIONS), min_size=1, max_size=4), st.lists(ODD_VALUES, max_size=20))
def test_router_splits_by_first_match_as_matches_does(texts: list, values: list) -> None:
    events = [{"headers": {}, "data": {**EVENT["data"], "level": v}} for v in values]
    conditions = [compile_condition(t) for t in texts]
    parts = Router(conditions).route(events)
    want: list[list] = [[] for _ in range(len(conditions) + 1)]
    for event in events:
        index = next((i for i, c in enumerate(conditions) if c.matches(event)), len(conditions))
        want[index].append(event)
    assert [[id(e) for e in part] for part in parts] == [[id(e) for e in part] for part in want]


def test_router_targets_keep_order() -> None:
    events = [{"headers": {}, "data": {"n": n}} for n in range(6)]
    router = Router(["data.n == `0` || data.n == `3`", "data.n == `1`", "data.n > `3`"], targets=[0, 1, 0])
    a, b, rest = router.route(events)
    assert [e["data"]["n"] for e in a] == [0, 3, 4, 5]
    assert [e["data"]["n"] for e in b] == [1] and [e["data"]["n"] for e in rest] == [2]
    with pytest.raises(ValueError, match="one index"):
        Router(["data"], targets=[0, 1])
