"""The ``roundrobin`` processor: each event to the next of several queues."""

from __future__ import annotations

from wishbone.module import Processor

from wb_route._queues import check_queue, extra_queues

__all__ = ["RoundRobin"]


class RoundRobin(Processor):
    """Sends each event to the next of several queues in turn (spreads load over outputs).

    Parameters:
        queues (list): the queue names, in order (at least one). Each is an emit queue of
            this instance: route it in the routing table. Queues that are not routed are
            left out of the rotation when the module starts (if none is routed, every event
            is dropped and counted there).

    Queues:
        inbox: events to spread.
        outbox: may be one of the queues; otherwise unused.
        failed: not used by roundrobin itself, present as on every module.
        (each named queue): every n-th event.
    """

    changes_events = False  # it only reads events: readers of a 1-n route share them

    def __init__(self, queues: list[str]) -> None:
        if not queues:
            raise ValueError("queues: expected at least one queue name")
        self.queues = [check_queue(q, f"queues[{i}]") for i, q in enumerate(queues)]
        if len(set(self.queues)) != len(self.queues):
            raise ValueError("queues: a queue is named twice")
        self._rotation = tuple(self.queues)
        self._next = 0

    @classmethod
    def emits_for(cls, variables: dict) -> tuple[str, ...]:
        """The queues it names (the bootstrap checks routes against them)."""
        queues = variables.get("queues")
        return extra_queues(queues) if isinstance(queues, list) else ()

    def on_start(self) -> None:
        """Rotate over the named queues that are routed (all of them if none is)."""
        routed = tuple(q for q in self.queues if self.is_routed(q))
        self._rotation = routed or tuple(self.queues)
        self._next = 0

    def consume(self, event: dict) -> None:
        """Send *event* to the next queue of the rotation."""
        rotation = self._rotation
        i = self._next
        self.emit(event, rotation[i])
        self._next = (i + 1) % len(rotation)
