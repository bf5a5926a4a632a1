"""The ``split`` processor: one event per item of a list field.

The parts are made with :func:`wishbone.ack.split`: they share the original's delivery, so
an input that acknowledges its source acks the original once the last part is delivered,
and rejects it if any part failed.
"""

from __future__ import annotations

from wishbone.ack import split
from wishbone.module import Processor
from wishbone.paths import MISSING, FieldTypeError, compile_path

__all__ = ["Split"]


class Split(Processor):
    """Emits one event per item of a list field; the original settles when its last part does.

    Each part's ``data`` is one item; its headers are a copy of the original's. An empty
    list emits nothing and the original settles as done (counted as ``empty``).

    Parameters:
        field (str): field path of the list to split (default "data"; e.g. ``data.records``).

    Queues:
        inbox: events carrying a list at ``field``.
        outbox: one event per item, in order.
        failed: events without the field, or whose field is not a list; ``headers.error``
            names the path and the type found.
    """

    # ``str``, compiled here: a bad path is a ValueError naming the column, reported by the
    # bootstrap with this instance's variables (see the report: FieldPath's root error).
    def __init__(self, field: str = "data") -> None:
        self.field = field
        self._path = compile_path(field)
        self._get = self._path.get
        self.parts = 0
        self.empty = 0

    def consume_batch(self, events: list) -> None:
        """Emit one part per item of each event's list; an event without a list goes to ``failed``."""
        get = self._get
        parts: list = []
        for event in events:
            items = get(event)
            if type(items) is not list:
                self.fail(event, self._not_a_list(items))
            elif items:
                parts.extend(split(event, items))
            else:
                self.empty += 1
        self.parts += len(parts)
        self.emit_batch(parts)

    def consume(self, event: dict) -> None:
        """Split one event (the framework hands whole batches to consume_batch)."""
        self.consume_batch([event])

    def _not_a_list(self, found: object) -> Exception:
        if found is MISSING:
            return LookupError(f"{self._path.text}: no such field (expected a list)")
        return FieldTypeError(self._path.text, self._path.text, "a list", found)

    def metrics(self) -> dict:
        """Parts emitted, and events whose list was empty."""
        return {"parts": self.parts, "empty": self.empty}
