"""Module parameters: the keyword arguments of a module's ``__init__``, checked against
its signature and type annotations before the module is built.

A module declares ``def __init__(self, port: int, host: str = "127.0.0.1")``; the
bootstrap file's ``variables`` must name only those parameters, give every one without a
default, and give values of the annotated types (JSON types: ``int``, ``float`` (an int is
accepted), ``bool``, ``str``, ``list``, ``dict``, ``X | None``, ``Literal[...]``,
``list[X]``, ``dict[str, X]``, and a ``TypedDict`` for an object of known keys).

Compiled parameters: an annotation that is a class with a ``check_parameter`` classmethod
(:class:`wishbone.template.Template`, :class:`wishbone.expression.Condition` and
:class:`~wishbone.expression.Expression`, :class:`wishbone.paths.FieldPath`) takes a string
that must compile: ``check_parameter(text)`` compiles it (compilations are cached, so the
module's own ``Template(text)`` in ``__init__`` costs nothing more) and its error, with the
column, is the parameter's error. The module receives the string and builds the compiled
object from it.

A :class:`ParameterError` names the parameter; for a value inside one (an item of a list,
a key of an object) ``keys`` says where, and the message starts with that place
(``cases[0].when: ...``).
"""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any, Literal, Union

__all__ = ["Parameter", "ParameterError", "check_parameters", "describe_type", "parameters_of"]


class ParameterError(ValueError):
    """A bad parameter: *parameter* names it (None for the whole set).

    *keys* is the place inside the parameter's value (list indexes and object keys, empty for
    the value itself); *detail* is the message without the place, *message* with it.
    """

    def __init__(self, parameter: str | None, message: str, keys: tuple = ()) -> None:
        self.parameter = parameter
        self.keys = tuple(keys)
        self.detail = message
        self.message = f"{_place(parameter, self.keys)}: {message}" if self.keys else message
        super().__init__(self.message)


def _place(parameter: str | None, keys: tuple) -> str:
    out = parameter or ""
    for key in keys:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if key.isidentifier() else f"[{key!r}]")
    return out


class _Mismatch(Exception):
    """Raised inside the checks: *keys* where, *message* what."""

    def __init__(self, keys: tuple, message: str) -> None:
        self.keys = keys
        self.message = message


class Parameter(typing.NamedTuple):
    """One declared parameter: its name, annotation (or Any) and default (or ``REQUIRED``)."""

    name: str
    annotation: Any
    default: Any

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty


def parameters_of(cls: type) -> list[Parameter]:
    """The parameters *cls* takes, from its ``__init__`` signature."""
    init = cls.__init__
    if init is object.__init__:
        return []
    try:
        hints = typing.get_type_hints(init)
    except Exception:  # an annotation that does not resolve is left unchecked
        hints = {}
    found = []
    for name, p in inspect.signature(init).parameters.items():
        if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        found.append(Parameter(name, hints.get(name, Any), p.default))
    return found


def _compiled(hint: Any) -> bool:
    return isinstance(hint, type) and callable(getattr(hint, "check_parameter", None))


def describe_type(hint: Any) -> str:
    """A short human name for a type annotation (``int``, ``str or None``)."""
    origin = typing.get_origin(hint)
    if hint is Any:
        return "any value"
    if origin in (Union, types.UnionType):
        return " or ".join(describe_type(a) for a in typing.get_args(hint))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if _compiled(hint):
        return getattr(hint, "parameter_description", f"a {hint.__name__} (a string)")
    if typing.is_typeddict(hint):
        return "an object {" + ", ".join(typing.get_type_hints(hint)) + "}"
    args = typing.get_args(hint)
    if origin is list and args and (_compiled(args[0]) or typing.is_typeddict(args[0])):
        return f"a list of {describe_type(args[0])}"
    if origin is dict and len(args) == 2 and (_compiled(args[1]) or typing.is_typeddict(args[1])):
        return f"an object of {describe_type(args[1])}"
    if origin is not None:
        return str(hint).replace("typing.", "")
    return getattr(hint, "__name__", str(hint))


def _got(value: Any) -> str:
    return f"got {type(value).__name__} {value!r:.60}"


def _check(value: Any, hint: Any, keys: tuple) -> None:
    """Raise :class:`_Mismatch` unless *value* fits *hint*."""
    if hint is Any:
        return
    if _compiled(hint):
        if not isinstance(value, str):
            raise _Mismatch(keys, f"expected {describe_type(hint)}, {_got(value)}")
        try:
            hint.check_parameter(value)
        except ValueError as exc:
            raise _Mismatch(keys, str(exc)) from None
        return
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType):
        meant = []
        for arg in args:
            try:
                _check(value, arg, keys)
                return
            except _Mismatch as exc:
                if _shaped_for(value, arg):
                    meant.append(exc)
        if len(meant) == 1:  # the value has the shape of one choice: say what is wrong inside it
            raise meant[0]
        raise _Mismatch(keys, f"expected {describe_type(hint)}, {_got(value)}")
    if typing.is_typeddict(hint):
        _check_typeddict(value, hint, keys)
        return
    if origin in (list, tuple, set, frozenset) or hint in (list, tuple):
        if not isinstance(value, list):
            raise _Mismatch(keys, f"expected {describe_type(hint)}, {_got(value)}")
        if args:
            for i, item in enumerate(value):
                _check(item, args[0], (*keys, i))
        return
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise _Mismatch(keys, f"expected {describe_type(hint)}, {_got(value)}")
        if len(args) == 2:
            for key, item in value.items():
                _check(item, args[1], (*keys, key))
        return
    if not _matches(value, hint):
        raise _Mismatch(keys, f"expected {describe_type(hint)}, {_got(value)}")


def _shaped_for(value: Any, hint: Any) -> bool:
    """True when *value* has the outer type *hint* asks for (so its error is the one to report)."""
    origin = typing.get_origin(hint)
    if _compiled(hint):
        return isinstance(value, str)
    if origin in (list, tuple, set, frozenset) or hint in (list, tuple):
        return isinstance(value, list)
    if origin is dict or hint is dict or typing.is_typeddict(hint):
        return isinstance(value, dict)
    return False


def _check_typeddict(value: Any, hint: Any, keys: tuple) -> None:
    if not isinstance(value, dict):
        raise _Mismatch(keys, f"expected {describe_type(hint)}, {_got(value)}")
    fields = typing.get_type_hints(hint)
    for key in value:
        if key not in fields:
            raise _Mismatch((*keys, key), f"unknown key {key!r} (keys: {', '.join(fields)})")
    for key in sorted(hint.__required_keys__, key=list(fields).index):
        if key not in value:
            raise _Mismatch((*keys, key), f"missing required key {key!r} ({describe_type(fields[key])})")
    for key, item in value.items():
        _check(item, fields[key], (*keys, key))


def _matches(value: Any, hint: Any) -> bool:
    if hint is Any:
        return True
    if hint is type(None) or hint is None:
        return value is None
    if hint is bool:
        return type(value) is bool
    if hint is int:
        return isinstance(value, int) and type(value) is not bool
    if hint is float:
        return isinstance(value, (int, float)) and type(value) is not bool
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is Literal:
        return any(type(value) is type(a) and value == a for a in args)
    if origin is not None or _compiled(hint) or typing.is_typeddict(hint):
        try:
            _check(value, hint, ())
        except _Mismatch:
            return False
        return True
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True  # an annotation we do not understand is not checked


def check_parameters(cls: type, variables: dict) -> dict:
    """Return *variables* if they fit ``cls.__init__``; raise :class:`ParameterError`."""
    declared = {p.name: p for p in parameters_of(cls)}
    for name in variables:
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise ParameterError(name, f"unknown parameter {name!r} (parameters: {known})")
    for p in declared.values():
        if p.name not in variables:
            if p.required:
                raise ParameterError(p.name, f"missing required parameter {p.name!r} ({describe_type(p.annotation)})")
            continue
        try:
            _check(variables[p.name], p.annotation, ())
        except _Mismatch as exc:
            raise ParameterError(p.name, exc.message, exc.keys) from None
    return variables
