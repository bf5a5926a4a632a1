"""Templates: plain strings cost nothing, field lookups skip Jinja, the rest is sandboxed Jinja."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2 import ChainableUndefined, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from wishbone.template import Template, TemplateError, compile_template

EVENT = {
    "headers": {"x-id": "7", "amqp": {"routing_key": "rk"}},
    "data": {"service": "api", "n": 3, "f": 1.5, "none": None, "items": [1, 2], "user": {"name": "ada"}},
}


def test_a_plain_string_is_returned_as_is() -> None:
    template = Template("logs-static")
    assert template.static
    assert template.render(EVENT) == "logs-static"
    assert template.render(None) == "logs-static"  # does not even look at the event


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("logs-{{ data.service }}", "logs-api"),
        ("{{ data.n }}/{{ data.f }}/{{ data.none }}", "3/1.5/None"),
        ('{{ headers["x-id"] }}.{{ headers.amqp.routing_key }}', "7.rk"),
        ("{{ data.user.name }}{{ data.user.nope }}|", "ada|"),
        ("{{ data.nope.deeper.still }}!", "!"),
        ("{{ data.service.nope }}!", "!"),  # a key of a string: missing
        ("{{ data }}", str(EVENT["data"])),
    ],
)
def test_field_lookups_render_without_jinja(text: str, rendered: str) -> None:
    template = Template(text)
    assert not template.static
    assert template._jinja is None  # the fast path
    assert template.render(EVENT) == rendered


@pytest.mark.parametrize(
    "text",
    [
        "{{ data.service | upper }}-{{ data.n + 1 }}",
        "{% if data.n > 2 %}big{% else %}small{% endif %}",
        '{{ data["items"][0] }} {{ data.items }}',  # items: the dict method, as Jinja has it
        "{{ data.user.name.upper() }}",
        "{# a comment #}{{ data.missing | default('d') }}",
        "{{ nothing }}{{ data.nope.x }}",
    ],
)
@pytest.mark.parametrize("missing", ["empty", "strict"])
def test_renders_as_sandboxed_jinja_does(text: str, missing: str) -> None:
    undefined = ChainableUndefined if missing == "empty" else StrictUndefined
    env = SandboxedEnvironment(undefined=undefined, keep_trailing_newline=True)
    try:
        want = env.from_string(text).render(EVENT)
    except Exception:
        with pytest.raises(TemplateError):
            Template(text, missing).render(EVENT)
        return
    got = Template(text, missing).render(EVENT)
    if "{{ data.items }}" in text:  # a method's repr carries its address
        got, want = got.split(" at 0x")[0], want.split(" at 0x")[0]
    assert got == want


names = st.sampled_from(["service", "n", "f", "none", "user", "nope", "name", "x-id", "amqp", "routing_key"])


@given(
    st.lists(st.tuples(st.sampled_from(["data", "headers"]), st.lists(names, max_size=3)), min_size=1, max_size=3),
    st.text(),
)
def test_fast_path_agrees_with_jinja(lookups: list, text: str) -> None:
    text = text.replace("{", "(").replace("}", ")")
    source = text + "".join("{{ " + root + "".join(f'["{n}"]' for n in keys) + " }}" + text for root, keys in lookups)
    env = SandboxedEnvironment(undefined=ChainableUndefined, keep_trailing_newline=True)
    assert Template(source).render(EVENT) == env.from_string(source).render(EVENT)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)


@given(
    st.lists(st.tuples(st.sampled_from(["data", "headers"]), st.lists(names, min_size=1, max_size=2)), max_size=3),
    st.lists(st.dictionaries(names, json_values | st.dictionaries(names, json_values, max_size=3)), max_size=5),
    st.sampled_from(["empty", "strict"]),
)
def test_render_batch_gives_what_render_gives_event_by_event(lookups: list, datas: list, missing: str) -> None:
    blocks = ("{{ " + root + "".join(f'["{n}"]' for n in keys) + " }}" for root, keys in lookups)
    source = "-".join(blocks) or "x{{ data }}"
    template = Template(source, missing)
    events = [{"headers": {"x-id": str(i), **data}, "data": data} for i, data in enumerate(datas)]
    try:
        want = [template.render(event) for event in events]
    except TemplateError:
        with pytest.raises(TemplateError):
            template.render_batch(events)
        return
    assert template.render_batch(events) == want


def test_render_batch_of_static_jinja_and_non_str_keys() -> None:
    events = [EVENT, {"headers": {}, "data": {"items": [7], "service": "b"}}]
    for text in ("static", "{{ data.service | upper }}", '{{ data["items"][0] }}', "{{ data.service }}"):
        template = Template(text)
        assert template.render_batch(events) == [template.render(e) for e in events]
    assert Template("x").render_batch([]) == []


def test_strict_missing_field_raises_naming_it() -> None:
    with pytest.raises(TemplateError, match="data.nope is undefined"):
        Template("x-{{ data.nope }}", "strict").render(EVENT)
    with pytest.raises(TemplateError, match="has no attribute 'nope'"):
        Template("x-{{ data.nope | upper }}", "strict").render(EVENT)
    assert Template("{{ data.none }}", "strict").render(EVENT) == "None"


def test_the_sandbox_holds() -> None:
    with pytest.raises(TemplateError, match="unsafe|not safely"):
        Template("{{ data.__class__.__mro__[1].__subclasses__() }}").render(EVENT)
    with pytest.raises(TemplateError):
        Template("{{ data.service.__class__.__init__.__globals__ }}", "strict").render(EVENT)


def test_a_render_error_is_a_template_error() -> None:
    with pytest.raises(TemplateError, match="TypeError|unsupported"):
        Template("{{ data.service + 1 }}").render(EVENT)


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ("a {{ data. }}", 1, 3, "expected name or number"),
        ("x {{ ok }} {{ data }", 1, 12, "unexpected '}'"),
        ("{{ data", 1, 1, "unexpected end of template"),
        ("ab\n{{ x y }}", 2, 1, "end of print statement"),
        ("q {{ a }} {% for x in data.items %}", 1, 11, "endfor"),
    ],
)
def test_syntax_errors_name_the_column(text: str, line: int, column: int, words: str) -> None:
    with pytest.raises(TemplateError) as caught:
        Template(text)
    assert (caught.value.line, caught.value.column) == (line, column)
    assert f"column {column}" in str(caught.value)
    assert words in str(caught.value)


def test_arguments_are_checked() -> None:
    with pytest.raises(TemplateError, match="expected a string"):
        Template(5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="missing"):
        Template("x", "loud")  # type: ignore[arg-type]


def test_compiled_once() -> None:
    assert compile_template("a{{ data.x }}") is compile_template("a{{ data.x }}")
    assert Template(Template("a")).text == "a"
    assert repr(Template("a")) == "Template('a')"
