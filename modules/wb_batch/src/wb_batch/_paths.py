"""Field paths into events (``data.user.name``, ``headers.amqp.tag``, ``data.items[0]``).

A stand-in until ``wishbone.paths`` is on the core's main line, with the same call shape
(``compile_path(text).get(event, default)``): it is replaced by the core's then.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

__all__ = ["MISSING", "FieldPath", "compile_path", "hashable"]

#: What ``get`` returns for a field that is not there (unless given another default).
MISSING: Any = object()

_STEP = re.compile(r"\.([A-Za-z0-9_-]+)|\[(-?[0-9]+)\]")


class FieldPath:
    """A compiled path: ``get(event, default)`` reads it, never raising.

    ``get`` is an attribute set per path: a short path of keys gets a getter of its own.
    """

    __slots__ = ("text", "keys", "get")

    def __init__(self, text: str, keys: tuple) -> None:
        self.text = text
        self.keys = keys
        self.get = self._walk

    def _walk(self, event: dict, default: Any = MISSING) -> Any:
        """The value at this path in *event*, or *default* when it is not there."""
        keys = self.keys
        value: Any = event[keys[0]]
        for key in keys[1:]:
            cls = type(value)
            if cls is dict:
                if key not in value:
                    return default
            elif cls is not list or type(key) is not int or not -len(value) <= key < len(value):
                return default
            value = value[key]
        return value


def compile_path(text: str) -> FieldPath:
    """Parse *text* once; ValueError naming the column if it is not a path."""
    if not isinstance(text, str) or not text:
        raise ValueError(f"a field path must be a non-empty string like 'data.user.name', got {text!r}")
    root = re.match(r"[A-Za-z0-9_-]+", text)
    if root is None or root.group() not in ("data", "headers"):
        raise ValueError(f"invalid field path {text!r} at column 1: a path starts with 'data' or 'headers'")
    keys: list = [root.group()]
    pos = root.end()
    while pos < len(text):
        step = _STEP.match(text, pos)
        if step is None:
            raise ValueError(f"invalid field path {text!r} at column {pos + 1}: expected .name or [index]")
        keys.append(step.group(1) if step.group(1) is not None else int(step.group(2)))
        pos = step.end()
    path = FieldPath(text, tuple(keys))
    if all(type(key) is str for key in keys) and len(keys) <= 3:
        path.get = _fast_get(*keys)  # keys only: indexing anything but a dict raises
    return path


def _fast_get(*keys: str) -> Callable[..., Any]:
    """A getter for a path of 1 to 3 keys: a non-dict on the way raises TypeError, a missing key KeyError."""
    if len(keys) == 1:
        (a,) = keys
        return lambda event, default=MISSING: event[a]
    if len(keys) == 2:
        a, b = keys

        def get2(event: dict, default: Any = MISSING) -> Any:
            try:
                return event[a][b]
            except (KeyError, IndexError, TypeError):
                return default

        return get2
    a, b, c = keys

    def get3(event: dict, default: Any = MISSING) -> Any:
        try:
            return event[a][b][c]
        except (KeyError, IndexError, TypeError):
            return default

    return get3


def hashable(value: Any) -> Any:
    """*value* as a dict key: itself when hashable, else its JSON text (keys sorted)."""
    try:
        hash(value)
    except TypeError:
        return json.dumps(value, sort_keys=True, default=repr)
    return value
