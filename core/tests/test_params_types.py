"""Compiled parameter types: Template, Condition, Expression and FieldPath annotations take a
string that must compile; nested values (TypedDict, list, dict) are checked with their place."""

from __future__ import annotations

from typing import Literal, TypedDict

import pytest
from wishbone.expression import Condition, Expression
from wishbone.module import Module
from wishbone.params import ParameterError, check_parameters, describe_type
from wishbone.paths import FieldPath
from wishbone.template import Template


class _Case(TypedDict):
    when: Condition
    queue: str


class Case(_Case, total=False):
    note: str


class Compiled(Module):
    """A module with compiled parameters (for these tests)."""

    def __init__(
        self,
        when: Condition,
        key: Template = "static",
        select: Expression | None = None,
        field: FieldPath = "data",
        cases: list[Case] | None = None,
        names: dict[str, Template] | None = None,
        mode: Literal["first", "every"] = "first",
    ) -> None:
        self.when = Condition(when)
        self.key = Template(key)


def check(**variables):
    return check_parameters(Compiled, variables)


def refused(**variables) -> ParameterError:
    with pytest.raises(ParameterError) as caught:
        check(**variables)
    return caught.value


def test_good_strings_pass() -> None:
    variables = {
        "when": "data.level == 'error'",
        "key": "logs-{{ data.service }}",
        "select": "data.user.name",
        "field": "data.items[0]",
        "cases": [{"when": "data.a", "queue": "a"}, {"when": "!data.a", "queue": "b", "note": "n"}],
        "names": {"x": "{{ data.x }}"},
        "mode": "every",
    }
    assert check(**variables) == variables
    assert check(when="data.x", select=None)["select"] is None


def test_a_bad_condition_names_parameter_and_column() -> None:
    err = refused(when="data.level ==")
    assert err.parameter == "when" and err.keys == ()
    assert "at column 14" in err.message and "ends too soon" in err.message


def test_a_bad_template_names_parameter_and_column() -> None:
    err = refused(when="data.a", key="logs-{{ data. }}")
    assert err.parameter == "key"
    assert "invalid template" in err.message and "at column 6" in err.message


def test_a_bad_path_names_parameter_and_column() -> None:
    err = refused(when="data.a", field="data..x")
    assert err.parameter == "field" and "at column 6" in err.message


def test_a_bad_optional_expression_says_why_it_does_not_compile() -> None:
    err = refused(when="data.a", select="data.[")
    assert err.parameter == "select" and "invalid expression" in err.message


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("when", 3, "expected a JMESPath condition (a string), got int 3"),
        ("key", ["x"], "expected a template (a string), got list"),
        ("field", None, "expected a field path"),
        ("select", 1, "expected a JMESPath expression (a string) or null, got int"),
    ],
)
def test_wrong_types_say_what_was_expected(name: str, value, expected: str) -> None:
    err = refused(**{"when": "data.a", name: value})
    assert err.parameter == name
    assert expected in err.message


def test_a_bad_value_inside_a_list_names_its_place() -> None:
    err = refused(when="data.a", cases=[{"when": "data.a", "queue": "a"}, {"when": "data.a ==", "queue": "b"}])
    assert err.parameter == "cases" and err.keys == (1, "when")
    assert err.message.startswith("cases[1].when: invalid expression")
    assert err.detail.startswith("invalid expression")


@pytest.mark.parametrize(
    ("cases", "keys", "words"),
    [
        ([{"when": "data.a"}], (0, "queue"), "missing required key 'queue' (str)"),
        ([{"when": "data.a", "queue": "q", "qeueu": 1}], (0, "qeueu"), "unknown key 'qeueu' (keys: when, queue, note)"),
        ([{"when": "data.a", "queue": 5}], (0, "queue"), "expected str, got int 5"),
        (["data.a"], (0,), "expected an object {when, queue, note}, got str"),
        ({"when": "x"}, (), "expected a list of an object {when, queue, note} or null, got dict"),
    ],
)
def test_typed_objects_are_checked(cases, keys: tuple, words: str) -> None:
    err = refused(when="data.a", cases=cases)
    assert err.parameter == "cases" and err.keys == keys
    assert words in err.message


def test_a_bad_value_inside_a_dict_names_its_key() -> None:
    err = refused(when="data.a", names={"ok": "x", "odd key": "{{ data. }}"})
    assert err.keys == ("odd key",)
    assert err.message.startswith("names['odd key']: invalid template")


def test_literal_is_strict_about_types() -> None:
    assert refused(when="data.a", mode="all").parameter == "mode"
    assert "one of 'first', 'every'" in refused(when="data.a", mode=True).message


def test_describe_type() -> None:
    assert describe_type(Template) == "a template (a string)"
    assert describe_type(Condition | None) == "a JMESPath condition (a string) or null"
    assert describe_type(Case) == "an object {when, queue, note}"
    assert describe_type(list[Case]) == "a list of an object {when, queue, note}"
    assert describe_type(dict[str, Template]) == "an object of a template (a string)"
    assert describe_type(list[str]) == "list[str]"


def test_the_module_builds_from_what_passed() -> None:
    module = Compiled(**check(when="data.a == `1`", key="k-{{ data.a }}"))
    assert module.when.matches({"headers": {}, "data": {"a": 1}})
    assert module.key.render({"headers": {}, "data": {"a": 1}}) == "k-1"
