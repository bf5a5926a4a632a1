"""Events: plain dicts of the shape ``{"headers": {...}, "data": ...}``.

The framework checks this shape whenever it moves a batch from one queue to another
(:func:`split_valid`) and copies events for 1-n routes with :func:`clone`, a copy that is
independent of the original for the JSON-like values events carry, and much cheaper than
:func:`copy.deepcopy`, which it falls back to only for other types.
"""

from __future__ import annotations

import copy
from typing import Any

__all__ = ["Event", "clone", "error_record", "is_event", "new_event", "split_valid"]

#: An event is a plain dict; the alias documents intent in signatures.
Event = dict

_IMMUTABLE = (str, int, float, bool, bytes, type(None))
_get = dict.get


def new_event(data: Any = None, headers: dict | None = None) -> dict:
    """Return a well-formed event carrying *data* (and *headers*, default empty)."""
    return {"headers": {} if headers is None else headers, "data": data}


def error_record(module: str, exc: BaseException) -> dict:
    """The ``headers["error"]`` record of an event that *module* failed on with *exc*.

    ``{"module": name, "type": exception class name, "message": str(exc)}``: the one place
    that builds it, so that every module (and ``wishbone test`` assertions) agree on it.
    """
    return {"module": module, "type": type(exc).__name__, "message": str(exc)}


def is_event(obj: Any) -> bool:
    """True when *obj* is a dict with exactly a dict ``headers`` and a ``data`` key."""
    return isinstance(obj, dict) and len(obj) == 2 and "data" in obj and type(obj.get("headers")) is dict


def split_valid(batch: list) -> tuple[list, list]:
    """Split *batch* into (well-formed events, malformed items), keeping order.

    Called per hand-off, so it checks the whole batch in one pass and only builds new
    lists when something is wrong.
    """
    try:
        for item in batch:
            # dict.get refuses anything that is not a dict with a TypeError: no isinstance per event
            if not (len(item) == 2 and type(_get(item, "headers")) is dict and "data" in item):
                break
        else:
            return batch, []
    except TypeError:
        pass
    good, bad = [], []
    for item in batch:
        (good if is_event(item) else bad).append(item)
    return good, bad


def _copy_value(value: Any) -> Any:
    cls = type(value)
    if cls in _IMMUTABLE:
        return value
    if cls is dict:
        return {k: _copy_value(v) for k, v in value.items()}
    if cls is list:
        return [_copy_value(v) for v in value]
    if cls is tuple:
        return tuple(_copy_value(v) for v in value)
    return copy.deepcopy(value)


def clone(event: dict) -> dict:
    """Return an independent copy of a well-formed *event* (for 1-n routes).

    A tracked event (see :mod:`wishbone.ack`) stays tracked: the copy shares the original's
    delivery, so the input message is settled only when every copy is done.
    """
    new = {"headers": _copy_value(event["headers"]), "data": _copy_value(event["data"])}
    if type(event) is not dict:
        new = type(event)(new)
        new.delivery = event.delivery
    return new
