"""The shape check of every hand-off: what split_valid keeps and what it refuses, in order."""

from __future__ import annotations

from wishbone.ack import track
from wishbone.event import is_event, split_valid


class Subclass(dict):
    pass


GOOD = [{"headers": {}, "data": 1}, {"headers": {"a": 1}, "data": None}, Subclass(headers={}, data=3)]
BAD = [
    "ab",  # len 2, not a dict
    ["headers", "data"],
    b"xy",
    None,
    5,
    {"headers": 1, "data": 2},  # headers not a dict
    {"headers": Subclass(), "data": 2},  # headers must be exactly a dict
    {"headers": {}, "x": 1},  # no data
    {"headers": {}, "data": 1, "z": 2},  # a third key
    {1: 2, 3: 4},
    {},
]


def test_a_well_formed_batch_comes_back_as_the_same_list():
    batch = [{"headers": {}, "data": i} for i in range(100)] + [track({"headers": {}, "data": 1}, lambda *a: None, 0)]
    good, bad = split_valid(batch)
    assert good is batch and bad == []


def test_every_malformed_item_is_refused_wherever_it_is_in_the_batch_and_order_is_kept():
    for bad_item in BAD:
        for position in range(len(GOOD) + 1):
            batch = GOOD[:position] + [bad_item] + GOOD[position:]
            good, bad = split_valid(batch)
            assert good == GOOD and bad == [bad_item], (bad_item, position)
    good, bad = split_valid(BAD + GOOD)
    assert good == GOOD and bad == BAD
    assert all(is_event(item) for item in GOOD) and not any(is_event(item) for item in BAD)
