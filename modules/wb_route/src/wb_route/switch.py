"""The ``switch`` processor: ordered cases ``condition -> queue``, compiled once at load."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from wishbone.event import clone
from wishbone.expression import Condition, Router
from wishbone.module import Processor

from wb_route._queues import check_queue, extra_queues

__all__ = ["Case", "Switch"]


class Case(TypedDict):
    """One case of a switch: events that satisfy ``when`` go to ``queue``."""

    when: Condition
    queue: str


class Switch(Processor):
    """Routes each event to the queue of the first case (or every case) whose condition it meets.

    Parameters:
        cases (list): ordered cases, each ``{"when": CONDITION, "queue": NAME}``; a
            condition is JMESPath on the event (``data.level == 'error'``), a condition on
            a missing field is false. Each named queue is an emit queue of this instance:
            route it in the routing table (``"switch.errors": ["errors_out.inbox"]``).
        default (str or null): the queue of events that meet no case (default ``outbox``);
            null drops them (counted as ``unmatched``, settled as delivered).
        mode (str): ``"first"`` (default): the first case that matches decides;
            ``"every"``: the event goes to the queue of every case that matches (an
            independent copy to each queue after the first).

    Queues:
        inbox: events to route.
        outbox: the default queue, unless ``default`` names another.
        failed: not used by switch itself (conditions do not fail), present as on every module.
        (each case's queue): events that met its condition.
    """

    changes_events = False  # it only reads events: readers of a 1-n route share them

    def __init__(self, cases: list[Case], default: str | None = "outbox", mode: Literal["first", "every"] = "first"):
        if not cases:
            raise ValueError("cases: expected at least one case")
        self.cases = [
            (Condition(case["when"]), check_queue(case["queue"], f"cases[{i}].queue")) for i, case in enumerate(cases)
        ]
        self.default = None if default is None else check_queue(default, "default")
        self.mode = mode
        self.unmatched = 0
        # Each queue once, in the order the cases name them; the default last.
        self._queues = list(dict.fromkeys(queue for _, queue in self.cases))
        targets = [self._queues.index(queue) for _, queue in self.cases]
        self._route = Router([condition for condition, _ in self.cases], targets).route
        self._destinations = [*self._queues, self.default]
        self._groups = tuple((queue, tuple(c.matches for c, q in self.cases if q == queue)) for queue in self._queues)

    @classmethod
    def emits_for(cls, variables: dict) -> tuple[str, ...]:
        """Every queue the cases and the default name (the bootstrap checks routes against them)."""
        cases = variables.get("cases")
        names = [case.get("queue") for case in cases if isinstance(case, dict)] if isinstance(cases, list) else []
        return extra_queues([*names, variables.get("default", "outbox")])

    def consume_batch(self, events: list) -> None:
        """Route a batch: one compiled loop splits it by first match, each part handed on in order."""
        if self.mode == "every":
            self._every(events)
            return
        for queue, part in zip(self._destinations, self._route(events), strict=True):
            if part:
                if queue is None:
                    self.unmatched += len(part)  # released here: settled as done
                else:
                    self.emit_batch(part, queue)

    def consume(self, event: dict) -> None:
        """One event (the framework calls :meth:`consume_batch`)."""
        self.consume_batch([event])

    def _every(self, events: list) -> None:
        default = self.default
        for event in events:
            sent = False
            for queue, tests in self._groups:
                for matches in tests:
                    if matches(event):
                        # the same dict on two queues would let two modules change one event
                        self.emit(clone(event) if sent else event, queue)
                        sent = True
                        break
            if not sent:
                if default is not None:
                    self.emit(event, default)
                else:
                    self.unmatched += 1

    def metrics(self) -> dict[str, Any]:
        """``unmatched``: events that met no case and had no default queue to go to."""
        return {"unmatched": self.unmatched}
