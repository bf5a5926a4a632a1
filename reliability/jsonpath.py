"""The JSON paths of bootstrap errors (``bootstrap.output.variables.port``,
``routingtable["input.outbox"][0]``): parse one, and find out how much of it a document holds."""

from __future__ import annotations

import json
import re

__all__ = ["parse", "resolved_depth"]

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_TOKEN = re.compile(rf"\.({_IDENT})|\[(\d+)\]|\[(\"(?:[^\"\\]|\\.)*\")\]")
_FIRST = re.compile(_IDENT)


def parse(path: str) -> list[str | int] | None:
    """The keys of *path* (``[]`` for the top level), or None if it is not a well-formed path."""
    keys: list[str | int] = []
    pos = 0
    first = _FIRST.match(path)
    if first:
        keys.append(first.group(0))
        pos = first.end()
    while pos < len(path):
        m = _TOKEN.match(path, pos)
        if not m:
            return None
        if m.group(1) is not None:
            keys.append(m.group(1))
        elif m.group(2) is not None:
            keys.append(int(m.group(2)))
        else:
            keys.append(json.loads(m.group(3)))
        pos = m.end()
    return keys


def resolved_depth(document: object, keys: list[str | int]) -> int:
    """How many leading *keys* exist in *document* (object keys into dicts, indexes into lists)."""
    node = document
    for depth, key in enumerate(keys):
        if isinstance(key, int) and isinstance(node, list) and 0 <= key < len(node):
            node = node[key]
        elif isinstance(key, str) and isinstance(node, dict) and key in node:
            node = node[key]
        else:
            return depth
    return len(keys)
