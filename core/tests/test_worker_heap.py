"""A worker freezes the heap it started with and collects less often (wishbone.daemon.freeze_heap)."""

from __future__ import annotations

import gc
import weakref

from wishbone.daemon import freeze_heap


class Node:
    def __init__(self) -> None:
        self.other = self


def test_the_start_heap_is_frozen_and_later_cycles_are_still_collected():
    threshold = gc.get_threshold()
    try:
        before = Node()
        freeze_heap()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == 10_000
        gone = weakref.ref(before)
        del before
        gc.collect()
        assert gone() is not None  # a frozen cycle waits for unfreeze
        later = Node()
        collected = weakref.ref(later)
        del later
        gc.collect()
        assert collected() is None  # made after the freeze: collected as always
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
    gc.collect()
    assert gone() is None  # a reload unfreezes first: the old cycles go
