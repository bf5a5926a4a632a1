"""Conditions and selections on events, in JMESPath, compiled once at load.

An expression is evaluated against the whole event, so it names ``data`` and ``headers``::

    data.level == 'error'
    data.level == 'error' && contains(data.tags, 'db')
    headers.amqp.routing_key != 'audit' || !data.user
    length(data.items) > `3`

:func:`compile_condition` gives a :class:`Condition` (``matches(event) -> bool``),
:func:`compile_expression` an :class:`Expression` (``search(event) -> value``). The text is
parsed by the ``jmespath`` package (so the language is exactly JMESPath, with its
``jmespath.org`` specification and functions), then translated once into one Python function:
field access, indexes, comparisons, ``&&``/``||``/``!`` and function calls become plain
Python operations; what has no direct translation (projections, filters, multi-selects,
slices) is evaluated by jmespath's own interpreter for that part of the expression. Per event
there is one call to the compiled function.

Bad input: a condition whose fields are missing is false, and so is one that cannot be
evaluated on an event (``contains(data.tags, 'x')`` when ``tags`` is a number): neither is an
error. A selection of a missing field is ``None``; one that cannot be evaluated raises
:class:`ExpressionError`. A syntax error, an unknown function or a wrong number of arguments
is an :class:`ExpressionError` at compile time, with the column.
"""

from __future__ import annotations

import functools
import json
import operator
import re
import warnings
from collections.abc import Callable
from typing import Any

import jmespath
from jmespath import exceptions as jp_exceptions
from jmespath import functions as jp_functions
from jmespath import visitor as jp_visitor

__all__ = ["Condition", "Expression", "ExpressionError", "Router", "compile_condition", "compile_expression"]

_FUNCTIONS = jp_functions.Functions()
_INTERPRETER = jp_visitor.TreeInterpreter()
_TABLE = _FUNCTIONS.FUNCTION_TABLE
# Functions that always return a boolean (when they return at all).
_BOOLEAN_FUNCTIONS = frozenset({"contains", "starts_with", "ends_with"})
_NEVER = object()  # compared against to bind a value once inside one expression


class ExpressionError(ValueError):
    """An expression that does not compile (*column* is 1-based), or one that failed on a value."""

    def __init__(self, text: str, column: int | None, message: str) -> None:
        self.text = text
        self.column = column
        self.message = message
        where = f" at column {column}" if column is not None else ""
        super().__init__(f"invalid expression {text!r}{where}: {message}")


def _false(value: Any) -> bool:
    """JMESPath's falsiness: null, false, empty string, empty list, empty object."""
    return value is None or value is False or value == "" or value == [] or value == {}


def _not(value: Any) -> bool:
    # jmespath: !0 is false (0 is not a false value in JMESPath), else Python's not
    if type(value) in (int, float) and value == 0:
        return False
    return not value


def _is_number(value: Any) -> bool:
    return type(value) in (int, float)


def _comparable(value: Any) -> bool:
    return type(value) in (int, float) or isinstance(value, str)


def _order(op: str) -> Callable[[Any, Any], Any]:
    func = {"lt": operator.lt, "gt": operator.gt, "lte": operator.le, "gte": operator.ge}[op]

    def compare(left: Any, right: Any) -> Any:
        if not (_comparable(left) and _comparable(right)):
            return None
        try:
            return func(left, right)
        except TypeError:  # a string against a number: not comparable
            return None

    return compare


_ORDER = {op: _order(op) for op in ("lt", "gt", "lte", "gte")}


_call = _FUNCTIONS.call_function


def _field(value: Any, key: str) -> Any:
    """JMESPath's field of a value that is not a plain dict: a dict subclass's key, else null."""
    return value.get(key) if isinstance(value, dict) else None


# The functions conditions use most, without jmespath's per-call signature check when the
# arguments have the types the function takes; any other argument goes through jmespath,
# which raises its type error.
def _contains(subject: Any, search: Any) -> Any:
    if type(subject) is list or (type(subject) is str and type(search) is str):
        return search in subject
    return _call("contains", [subject, search])


def _starts_with(subject: Any, prefix: Any) -> Any:
    if type(subject) is str and type(prefix) is str:
        return subject.startswith(prefix)
    return _call("starts_with", [subject, prefix])


def _ends_with(subject: Any, suffix: Any) -> Any:
    if type(subject) is str and type(suffix) is str:
        return subject.endswith(suffix)
    return _call("ends_with", [subject, suffix])


def _length(subject: Any) -> Any:
    if type(subject) in (str, list, dict):
        return len(subject)
    return _call("length", [subject])


_FAST = {"contains": _contains, "starts_with": _starts_with, "ends_with": _ends_with, "length": _length}


class _Compiler:
    """Turns a jmespath AST into the source of one Python expression over ``value``."""

    def __init__(self, text: str, event: str | None = None) -> None:
        self.text = text
        #: the name of the value that is an event (its data and headers are always there)
        self.event = event
        self.namespace: dict[str, Any] = {
            "_field": _field,
            "_false": _false,
            "_not": _not,
            "_eq": jp_visitor._equals,
            "_call": _call,
            "_visit": _INTERPRETER.visit,
            "_dict": dict,
            "_list": list,
            "_never": _NEVER,
        }
        for op, func in _ORDER.items():
            self.namespace[f"_{op}"] = func
        self.temps = 0

    def const(self, value: Any) -> str:
        if type(value) in (str, int, bool) or value is None:
            return repr(value)  # a literal in the code: no lookup per event (repr is exact for these)
        name = f"c{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def temp(self) -> str:
        self.temps += 1
        return f"t{self.temps}"

    def is_boolean(self, node: dict) -> bool:
        """True when *node* evaluates to True, False or None (so Python's and/or/not agree)."""
        kind = node["type"]
        if kind == "comparator" or kind == "not_expression":
            return True
        if kind == "function_expression":
            return node["value"] in _BOOLEAN_FUNCTIONS
        if kind in ("and_expression", "or_expression"):
            return all(self.is_boolean(c) for c in node["children"])
        return False

    def check_functions(self, node: dict) -> None:
        """Unknown functions and wrong argument counts are errors at compile time, not per event."""
        if node["type"] == "function_expression":
            name = node["value"]
            if name not in _TABLE:
                raise ExpressionError(self.text, self.column_of(name), f"unknown function {name}()")
            signature = _TABLE[name]["signature"]
            given = len(node["children"])
            if signature and signature[-1].get("variadic"):
                if given < len(signature):
                    raise ExpressionError(
                        self.text, self.column_of(name), f"{name}() takes at least {len(signature)} argument(s)"
                    )
            elif given != len(signature):
                raise ExpressionError(
                    self.text, self.column_of(name), f"{name}() takes {len(signature)} argument(s), {given} given"
                )
        for child in node.get("children", ()):
            if isinstance(child, dict):
                self.check_functions(child)

    def column_of(self, name: str) -> int | None:
        match = re.search(rf"\b{re.escape(name)}\s*\(", self.text)
        return match.start() + 1 if match else None

    def shared(self, src: str, build: Callable[[str], str]) -> str:
        """*build* (given the name of the value) for a node that reads its value more than once."""
        if src.isidentifier():
            return build(src)
        t = self.temp()
        return f"({build(t)} if ({t} := {src}) is not _never else None)"

    def fallback(self, node: dict, src: str) -> str:
        return f"_visit({self.const(node)}, {src})"

    def gen(self, node: dict, src: str) -> str:
        """Source of an expression evaluating *node* on the value that *src* computes."""
        kind = node["type"]
        children = node["children"]
        if kind in ("current", "identity"):
            return src
        if kind == "field":
            key = self.const(node["value"])
            if src == self.event and node["value"] in ("data", "headers"):
                return f"{src}[{key}]"  # an event always has both (the framework checks its shape)
            t = self.temp()
            # a plain dict (JSON's objects) at the cost of a type check; anything else the long way
            return f"({t}.get({key}) if type({t} := {src}) is _dict else _field({t}, {key}))"
        if kind in ("subexpression", "index_expression", "pipe"):
            code = src
            for child in children:
                code = self.gen(child, code)
            return code
        if kind == "index":
            t, n = self.temp(), node["value"]
            bound = f"len({t}) > {n}" if n >= 0 else f"len({t}) >= {-n}"
            return f"({t}[{n}] if type({t} := {src}) is _list and {bound} else None)"
        if kind == "literal":
            return self.const(node["value"])
        if kind == "comparator":
            return self.comparator(node, src)
        if kind in ("and_expression", "or_expression"):
            return self.shared(src, lambda v: self.logical(kind, children, v))
        if kind == "not_expression":
            (child,) = children
            if self.is_boolean(child):
                return f"(not {self.gen(child, src)})"
            return f"_not({self.gen(child, src)})"
        if kind == "function_expression":
            if any(c["type"] == "expref" for c in children):
                return self.fallback(node, src)
            if node["value"] in _FAST:
                func = self.const(_FAST[node["value"]])
                return self.shared(src, lambda v: f"{func}({', '.join(self.gen(c, v) for c in children)})")
            name = self.const(node["value"])
            return self.shared(src, lambda v: f"_call({name}, [{', '.join(self.gen(c, v) for c in children)}])")
        return self.fallback(node, src)

    def logical(self, kind: str, children: list, v: str) -> str:
        left, right = children
        if self.is_boolean(left):  # True, False or None: Python's and/or give JMESPath's result
            op = "and" if kind == "and_expression" else "or"
            return f"({self.gen(left, v)} {op} {self.gen(right, v)})"
        t = self.temp()
        if kind == "and_expression":
            return f"({t} if _false({t} := {self.gen(left, v)}) else {self.gen(right, v)})"
        return f"({self.gen(right, v)} if _false({t} := {self.gen(left, v)}) else {t})"

    def comparator(self, node: dict, src: str) -> str:
        op = node["value"]
        left_node, right_node = node["children"]

        def build(v: str) -> str:
            return self.comparator_of(op, left_node, right_node, self.gen(left_node, v), self.gen(right_node, v))

        return self.shared(src, build)

    def comparator_of(self, op: str, left_node: dict, right_node: dict, left: str, right: str) -> str:
        if op in ("eq", "ne"):
            literal = next((n["value"] for n in (left_node, right_node) if n["type"] == "literal"), None)
            plain = isinstance(literal, str) or (_is_number(literal) and literal not in (0, 1))
            if plain:  # Python's == is JMESPath's here (no 0/1 against true/false)
                return f"({left} {'==' if op == 'eq' else '!='} {right})"
            return f"_eq({left}, {right})" if op == "eq" else f"(not _eq({left}, {right}))"
        return f"_{op}({left}, {right})"


def _parse(text: str) -> dict:
    if not isinstance(text, str):
        raise ExpressionError(repr(text), None, f"expected a string, got {type(text).__name__}")
    if not text.strip():
        raise ExpressionError(text, 1, "the expression is empty")
    try:
        with warnings.catch_warnings():
            # jmespath takes `text` (not JSON) as a string, with a deprecation warning: refuse it
            warnings.simplefilter("error", PendingDeprecationWarning)
            parsed = jmespath.compile(text).parsed
    except PendingDeprecationWarning:
        column = None
        for match in re.finditer(r"`((?:\\`|[^`])*)`", text):
            try:
                json.loads(match.group(1).replace("\\`", "`"))
            except ValueError:
                column = match.start() + 1
                break
        raise ExpressionError(text, column, "a literal in backticks must be JSON (write a string as 'text')") from None
    except jp_exceptions.JMESPathError as exc:
        position = getattr(exc, "lex_position", None)
        column = position + 1 if isinstance(position, int) else None
        message = getattr(exc, "message", None) or getattr(exc, "msg", None) or str(exc)
        token = getattr(exc, "token_value", None)
        if token is not None and message.lower().startswith("invalid"):
            message = f"unexpected {token!r}"
        elif position is not None and position >= len(text):
            message = "the expression ends too soon"
        raise ExpressionError(text, column, message) from None
    return parsed


class Expression:
    """A compiled JMESPath selection: :meth:`search` returns the value it selects from an event.

    Build one with :func:`compile_expression`. ``text`` is its source.
    """

    kind = "expression"
    #: How :mod:`wishbone.params` names a parameter annotated ``Expression``.
    parameter_description = "a JMESPath expression (a string)"

    @classmethod
    def check_parameter(cls, text: str) -> None:
        """Compile *text* (cached) for :mod:`wishbone.params`; raises :class:`ExpressionError`."""
        compile_expression(text)

    def __init__(self, text: str) -> None:
        self.text = text
        parsed = _parse(text)
        compiler = _Compiler(text)
        compiler.check_functions(parsed)
        self.parsed = parsed
        self._build(compiler, parsed)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.text!r})"

    def _build(self, compiler: _Compiler, parsed: dict) -> None:
        body = compiler.gen(parsed, "value")
        source = (
            "def search(value):\n"
            "    try:\n"
            f"        return {body}\n"
            "    except _JMESPathError as exc:\n"
            "        raise _failed(exc) from None\n"
        )
        text = self.text

        def failed(exc: Exception) -> ExpressionError:
            return ExpressionError(text, None, str(exc))

        compiler.namespace.update(_JMESPathError=(jp_exceptions.JMESPathError, TypeError), _failed=failed)
        self.search = _define(source, compiler.namespace, "search")
        self.search.__doc__ = f"The value {text!r} selects from *value* (None when it is missing)."


class Condition(Expression):
    """A compiled JMESPath condition: :meth:`matches` says whether an event satisfies it.

    The result is JMESPath's truthiness of the expression (false, null, ``''``, ``[]`` and
    ``{}`` are false); a condition on a missing field, or one that cannot be evaluated on the
    event, is false.
    """

    kind = "condition"

    def test_source(self, compiler: _Compiler, name: str, truth: bool = False) -> str:
        """Source of a Python expression that is True when the event in *name* satisfies it.

        With *truth*, the expression only needs to be true or false in an ``if`` (not a bool).
        """
        body = compiler.gen(self.parsed, name)
        if compiler.is_boolean(self.parsed):  # True, False or None
            return f"({body})" if truth else f"({body}) is True"
        return f"not _false({body})"

    #: How :mod:`wishbone.params` names a parameter annotated ``Condition``.
    parameter_description = "a JMESPath condition (a string)"

    @classmethod
    def check_parameter(cls, text: str) -> None:
        """Compile *text* (cached) for :mod:`wishbone.params`; raises :class:`ExpressionError`."""
        compile_condition(text)

    def _build(self, compiler: _Compiler, parsed: dict) -> None:
        on_events = _Compiler(self.text, event="value")
        test = self.test_source(on_events, "value")
        source = (
            "def matches(value):\n"
            "    try:\n"
            f"        return {test}\n"
            "    except Exception:\n"  # cannot be evaluated on this event: false, by contract
            "        return False\n"
        )
        self.matches = _define(source, on_events.namespace, "matches")
        self.matches.__doc__ = f"True when the event *value* satisfies {self.text!r}."
        super()._build(compiler, parsed)


class Router:
    """Ordered conditions compiled into one loop over a batch: ``route(events) -> lists``.

    ``route(events)`` returns one list per target and a last one for the events that met no
    condition; each event is in the list of the target of the first condition it meets, in
    the order of *events*. *targets* gives each condition's target (default: its own index;
    two conditions may share one). The conditions are inlined into the loop (no call per
    event and condition); as with :meth:`Condition.matches`, a condition that cannot be
    evaluated on an event is false for it.
    """

    def __init__(self, conditions: list[Condition | str], targets: list[int] | None = None) -> None:
        self.conditions = [c if isinstance(c, Condition) else compile_condition(c) for c in conditions]
        targets = list(range(len(self.conditions))) if targets is None else list(targets)
        if len(targets) != len(self.conditions) or any(not isinstance(t, int) or t < 0 for t in targets):
            raise ValueError("targets: one index (0 or more) per condition")
        compiler = _Compiler(" / ".join(c.text for c in self.conditions), event="value")
        n = max(targets, default=-1) + 1
        lines = ["def route(events):"]
        lines += [f"    out{i} = []" for i in range(n + 1)]
        lines += [f"    add{i} = out{i}.append" for i in range(n + 1)]
        lines.append("    for value in events:")
        for condition, target in zip(self.conditions, targets, strict=True):
            lines += [
                "        try:",
                f"            if {condition.test_source(compiler, 'value', truth=True)}:",
                f"                add{target}(value)",
                "                continue",
                "        except Exception:",  # cannot be evaluated on this event: false
                "            pass",
            ]
        lines.append(f"        add{n}(value)")
        lines.append(f"    return [{', '.join(f'out{i}' for i in range(n + 1))}]")
        self.route = _define("\n".join(lines), compiler.namespace, "route")
        self.route.__doc__ = "Split *events* by the first condition each meets (the last list: none)."


def _define(source: str, namespace: dict, name: str) -> Any:
    # The source is built from node kinds and generated names only; every value from the
    # expression (field names, literals, nodes) is bound in the namespace, never in the code.
    exec(compile(source, f"<expression {name}>", "exec"), namespace)
    return namespace[name]


@functools.lru_cache(maxsize=4096)
def compile_expression(text: str) -> Expression:
    """Compile *text* (JMESPath) into an :class:`Expression` (cached); raises :class:`ExpressionError`."""
    return Expression(text)


@functools.lru_cache(maxsize=4096)
def compile_condition(text: str) -> Condition:
    """Compile *text* (JMESPath) into a :class:`Condition` (cached); raises :class:`ExpressionError`."""
    return Condition(text)
