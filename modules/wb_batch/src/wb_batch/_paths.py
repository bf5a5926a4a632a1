"""Field paths into events (``data.user.name``, ``headers.amqp.tag``, ``data.items.0``).

A stand-in until ``wishbone.paths`` is in the core: the same dotted syntax, replaced by it then.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["MISSING", "getter", "hashable", "parse"]

#: What a getter returns for a field that is not there (unless given another default).
MISSING: Any = object()


def parse(path: str) -> tuple[str | int, ...]:
    """The steps of *path*: ``"data.items.0"`` -> ``("data", "items", 0)``; ValueError if it is not one."""
    if not isinstance(path, str) or not path:
        raise ValueError(f"a field path must be a non-empty string like 'data.user.name', got {path!r}")
    steps: list[str | int] = []
    for part in path.split("."):
        if not part:
            raise ValueError(f"field path {path!r} has an empty step")
        steps.append(int(part) if part.isdigit() else part)
    if steps[0] not in ("data", "headers"):
        raise ValueError(f"field path {path!r} must start with 'data' or 'headers'")
    return tuple(steps)


def getter(path: str, default: Any = MISSING) -> Callable[[dict], Any]:
    """A function returning the value at *path* in an event, or *default* when it is not there.

    A step into a dict takes a key, a step into a list an index; any other step finds nothing.
    """
    steps = parse(path)
    if len(steps) == 1:
        top = steps[0]
        return lambda event: event[top]
    first, rest = steps[0], steps[1:]

    def get(event: dict) -> Any:
        value: Any = event[first]
        for step in rest:
            cls = type(value)
            if cls is dict:
                if step not in value:
                    return default
            elif cls is not list or type(step) is not int or not -len(value) <= step < len(value):
                return default
            value = value[step]
        return value

    return get


def hashable(value: Any) -> Any:
    """*value* as a dict key: itself when hashable, else its JSON text (keys sorted)."""
    try:
        hash(value)
    except TypeError:
        return json.dumps(value, sort_keys=True, default=repr)
    return value
