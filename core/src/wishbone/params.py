"""Module parameters: the keyword arguments of a module's ``__init__``, checked against
its signature and type annotations before the module is built.

A module declares ``def __init__(self, port: int, host: str = "127.0.0.1")``; the
bootstrap file's ``variables`` must name only those parameters, give every one without a
default, and give values of the annotated types (JSON types: ``int``, ``float`` (an int is
accepted), ``bool``, ``str``, ``list``, ``dict``, ``X | None``, ``Literal[...]``,
``list[X]``, ``dict[str, X]``).
"""

from __future__ import annotations

import inspect
import types
import typing
from typing import Any, Literal, Union

__all__ = ["Parameter", "ParameterError", "check_parameters", "describe_type", "parameters_of"]


class ParameterError(ValueError):
    """A bad parameter: *parameter* names it (None for the whole set)."""

    def __init__(self, parameter: str | None, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter
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
    if origin is not None:
        return str(hint).replace("typing.", "")
    return getattr(hint, "__name__", str(hint))


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
    if origin in (Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is Literal:
        return value in args
    if origin in (list, tuple, set, frozenset) or hint in (list, tuple):
        if not isinstance(value, list):
            return False
        return not args or all(_matches(v, args[0]) for v in value)
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            return False
        return not args or all(_matches(v, args[1]) for v in value.values())
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
        value = variables[p.name]
        if not _matches(value, p.annotation):
            raise ParameterError(
                p.name,
                f"expected {describe_type(p.annotation)}, got {type(value).__name__} {value!r:.60}",
            )
    return variables
