"""Event keys for modules that group, count or limit by key (tippingbucket, throttle, dedupe, count):
a field path (``wishbone.paths``) or a JMESPath expression (``wishbone.expression``).

Both are compiled once, when the module is built; per event there is one call. A missing field
is :data:`wishbone.paths.MISSING` for a path and None for an expression: :func:`shown` turns
either into None where a key is shown (headers, counts).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from wishbone.expression import compile_expression
from wishbone.paths import MISSING, compile_path

__all__ = ["hashable", "key_function", "shown"]


def key_function(key: str | None, key_expression: str | None) -> Callable[[dict], Any] | None:
    """The function that gives an event's key, or None when neither *key* nor *key_expression* is set.

    An expression that cannot be evaluated on an event raises
    :class:`wishbone.expression.ExpressionError` (the module sends that event to ``failed``).
    """
    if key is not None and key_expression is not None:
        raise ValueError("give key (a field path) or key_expression (JMESPath), not both")
    if key is not None:
        return compile_path(key).get
    if key_expression is not None:
        return compile_expression(key_expression).search
    return None


def shown(key: Any) -> Any:
    """*key* as it is shown in an event: None for a missing field."""
    return None if key is MISSING else key


def hashable(value: Any) -> Any:
    """*value* as a dict key: itself when hashable, else its JSON text (keys sorted)."""
    try:
        hash(value)
    except TypeError:
        return json.dumps(value, sort_keys=True, default=repr)
    return value
