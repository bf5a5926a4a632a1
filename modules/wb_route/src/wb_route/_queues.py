"""Checks shared by the routing modules: the queue names their parameters give."""

from __future__ import annotations

import re
from typing import Any

QUEUE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
RESERVED = ("inbox", "failed")


def check_queue(name: Any, where: str) -> str:
    """*name* if it can be a queue this module emits to; else ValueError saying why."""
    if not isinstance(name, str) or not QUEUE_NAME.fullmatch(name):
        raise ValueError(f"{where}: expected a queue name (letters, digits, '_' and '-'), got {name!r:.40}")
    if name in RESERVED:
        raise ValueError(f"{where}: {name!r} is not a queue to route to ({' and '.join(RESERVED)} are reserved)")
    return name


def extra_queues(names: Any) -> tuple[str, ...]:
    """The names besides outbox and failed, in order, once each (robust to unchecked input)."""
    out: list[str] = []
    for name in names:
        if isinstance(name, str) and name not in ("outbox", "failed") and name not in out:
            out.append(name)
    return tuple(out)
