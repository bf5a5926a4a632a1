"""The ``filter`` processor: drops the events that meet a condition (or those that do not)."""

from __future__ import annotations

from typing import Literal

from wishbone.expression import Condition, Router
from wishbone.module import Processor

__all__ = ["Filter"]


class Filter(Processor):
    """Drops the events that meet a condition, or keeps only those; counts what it drops.

    Parameters:
        when (str): a JMESPath condition on the event (``data.level == 'debug'``); a
            condition on a missing field is false.
        action (str): ``"drop"`` (default) drops the events that meet ``when``;
            ``"keep"`` keeps only those, dropping the rest.

    Queues:
        inbox: events to filter.
        outbox: the events that pass.
        failed: not used by filter itself (conditions do not fail), present as on every module.

    A dropped event is done, not failed: an acknowledging input acks it (it settles as
    delivered). Metrics: ``filtered``, the events dropped.
    """

    changes_events = False  # it only reads events: readers of a 1-n route share them

    def __init__(self, when: Condition, action: Literal["drop", "keep"] = "drop") -> None:
        self.condition = Condition(when)
        self.action = action
        self.filtered = 0
        self._route = Router([self.condition]).route  # one compiled loop per batch
        self._kept = 1 if action == "drop" else 0  # which of (matched, unmatched) passes

    def consume_batch(self, events: list) -> None:
        """Pass on what passes; the rest is released here, so an acknowledging input settles it as done."""
        kept = self._route(events)[self._kept]
        self.filtered += len(events) - len(kept)
        if kept:
            self.emit_batch(kept)

    def consume(self, event: dict) -> None:
        """One event (the framework calls :meth:`consume_batch`)."""
        self.consume_batch([event])

    def metrics(self) -> dict:
        """``filtered``: the events dropped."""
        return {"filtered": self.filtered}
