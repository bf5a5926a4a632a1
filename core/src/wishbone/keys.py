"""Event keys for modules that group, count or limit by key (tippingbucket, throttle, dedupe, count):
a field path (``wishbone.paths``) or a JMESPath expression (``wishbone.expression``).

Both are compiled once, when the module is built. The modules work per batch, so the key
function works per batch too (:func:`batch_keys`): one call gives the keys of a whole batch,
each one usable as a dict key as it is, so that a module's loop is a plain ``dict.get``:

* a missing field and a null value are the same key, None (documented as "key null");
* a list or dict value (unhashable) is keyed by its JSON text (keys sorted), see :func:`hashable`;
* an expression that cannot be evaluated on an event puts that event in the failures (the
  module sends it to ``failed``).

A path of only names (``data.host``) is read for the whole batch with :func:`operator.itemgetter`
in C; the first event on which that fails (a missing field, a value that is not a dict) sends
the batch to the per-event reading, which gives the same keys.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from operator import itemgetter
from typing import Any

from wishbone.expression import ExpressionError, compile_expression
from wishbone.paths import compile_path

__all__ = ["BatchKeys", "batch_keys", "hashable", "keyed"]

#: ``keys_of(events) -> (events, keys, failures)``; see :func:`batch_keys`.
BatchKeys = Callable[[list], tuple[list, list, list]]


def batch_keys(key: str | None, key_expression: str | None) -> BatchKeys | None:
    """The function that gives a batch's keys, or None when neither *key* nor *key_expression* is set.

    ``keys_of(events)`` returns ``(kept, keys, failures)``: *kept* the events that have a key
    (*events* itself when every one has), *keys* their keys in the same order (None for a
    missing field or a null, the JSON text for a list or dict), *failures* ``(event, error)``
    pairs for the events a *key_expression* cannot be evaluated on
    (:class:`wishbone.expression.ExpressionError`). A path has no failures: a missing field is None.

    A bad *key* raises :class:`wishbone.paths.PathError`, a bad *key_expression*
    :class:`wishbone.expression.ExpressionError`, both with the column; both at once a ValueError.
    """
    if key is not None and key_expression is not None:
        raise ValueError("give key (a field path) or key_expression (JMESPath), not both")
    if key is not None:
        return _path_keys(key)
    if key_expression is not None:
        return _expression_keys(key_expression)
    return None


def keyed(keys_of: BatchKeys | None, events: list, fail: Callable[[dict, BaseException], None]) -> tuple[list, list]:
    """``(events, keys)`` of a batch by *keys_of* (from :func:`batch_keys`), each failure handed to *fail*.

    What a module's ``consume_batch`` does first: the events a key cannot be had for go to
    ``fail(event, error)`` (a module's :meth:`~wishbone.module.Module.fail`), the others come back
    with their keys in order. Without *keys_of* (no key configured) every key is None.
    """
    if keys_of is None:
        return events, [None] * len(events)
    events, keys, failures = keys_of(events)
    for event, exc in failures:
        fail(event, exc)
    return events, keys


def _path_keys(key: str) -> BatchKeys:
    path = compile_path(key)
    get = path.get
    if not all(type(k) is str for k in path.keys):  # a list index: the path's own reading, per event

        def keys_of(events: list) -> tuple[list, list, list]:
            return events, _hashable_all([get(event, None) for event in events]), []

        return keys_of

    # Only names: path.get is ``event[k0][k1]...`` in a try, which chained itemgetters are in C.
    getters = [itemgetter(k) for k in path.keys]

    def keys_of(events: list) -> tuple[list, list, list]:
        try:
            values: Any = events
            for getter in getters:
                values = map(getter, values)
            keys = list(values)
        except (KeyError, TypeError, IndexError):  # one event lacks the field: read each one
            keys = [get(event, None) for event in events]
        return events, _hashable_all(keys), []

    return keys_of


def _expression_keys(key_expression: str) -> BatchKeys:
    search = compile_expression(key_expression).search

    def keys_of(events: list) -> tuple[list, list, list]:
        keys: list = []
        failures: list = []
        for event in events:
            try:
                keys.append(search(event))
            except ExpressionError as exc:
                failures.append((event, exc))
        if failures:
            failed = {id(event) for event, _ in failures}
            events = [event for event in events if id(event) not in failed]
        return events, _hashable_all(keys), failures

    return keys_of


def _hashable_all(keys: list) -> list:
    """*keys* with every unhashable one replaced by its JSON text (one C pass when all are hashable)."""
    try:
        hash(tuple(keys))
    except TypeError:
        return [hashable(k) for k in keys]
    return keys


def hashable(value: Any) -> Any:
    """*value* as a dict key: itself when hashable, else its JSON text (keys sorted)."""
    try:
        hash(value)
    except TypeError:
        return json.dumps(value, sort_keys=True, default=repr)
    return value
