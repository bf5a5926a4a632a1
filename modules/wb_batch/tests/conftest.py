"""A tracked input for pipeline tests: its settlements say whether each event was delivered."""

from __future__ import annotations

import pytest
from wishbone import new_event
from wishbone.ack import track
from wishbone.module import Input


class TrackedCounter(Input):
    """Emits tracked events numbered 0..count-1, records how each settled, then finishes.

    Parameters:
        count (int): how many events (default 10).

    Queues:
        outbox: the numbered events, each tracked.
    """

    ready = True  # connects nothing

    def __init__(self, count: int = 10) -> None:
        self.count = count
        self.settled: list = []

    def on_start(self) -> None:
        self.spawn_producer(self._run)

    def _settle(self, tag: int, ok: bool | None) -> None:
        self.settled.append((tag, ok))

    def _run(self) -> None:
        for start in range(0, self.count, 100):
            numbers = range(start, min(start + 100, self.count))
            self.emit_batch([track(new_event(i), self._settle, i) for i in numbers])
        self.finish()


@pytest.fixture
def tracked_counter() -> type:
    """The :class:`TrackedCounter` input class."""
    return TrackedCounter
