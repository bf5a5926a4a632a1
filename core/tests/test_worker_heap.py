"""A worker freezes the heap it started with (wishbone.daemon.freeze_heap): what comes later is collected."""

from __future__ import annotations

import gc
import weakref

from wishbone.daemon import freeze_heap


class Node:
    def __init__(self) -> None:
        self.other = self


def test_the_start_heap_is_frozen_and_later_cycles_are_still_collected():
    try:
        before = Node()
        freeze_heap()
        assert gc.get_freeze_count() > 0
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
    gc.collect()
    assert gone() is None  # a reload unfreezes first: the old cycles go
