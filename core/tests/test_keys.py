"""wishbone.keys: a batch's keys from a field path or a JMESPath expression, each one usable as a dict key."""

from __future__ import annotations

import pytest
from wishbone.expression import ExpressionError
from wishbone.keys import batch_keys, hashable
from wishbone.paths import PathError


def event(data):
    return {"headers": {}, "data": data}


def test_a_path_gives_the_keys_of_a_batch_and_a_missing_field_or_a_null_is_none():
    events = [event({"user": {"name": "ann"}}), event({"user": {"name": None}}), event({"user": {}}), event("text")]
    kept, keys, failures = batch_keys("data.user.name", None)(events)
    assert kept is events and failures == []
    assert keys == ["ann", None, None, None]
    # the C fast path (every event has the field) gives what the per-event path gives
    same = [event({"user": {"name": n}}) for n in ("a", "b", "a")]
    assert batch_keys("data.user.name", None)(same)[1] == ["a", "b", "a"]


def test_a_path_with_an_index_reads_lists_only():
    events = [event({"tags": ["a", "b"]}), event({"tags": {0: "x"}}), event({"tags": []})]
    assert batch_keys("data.tags[1]", None)(events)[1] == ["b", None, None]


def test_unhashable_keys_become_their_json_text_so_that_equal_values_share_a_key():
    events = [event({"k": {"b": 1, "a": [2]}}), event({"k": {"a": [2], "b": 1}}), event({"k": "x"})]
    keys = batch_keys("data.k", None)(events)[1]
    assert keys == ['{"a": [2], "b": 1}', '{"a": [2], "b": 1}', "x"]
    assert {k: 1 for k in keys}  # every one is a dict key
    assert hashable([1, "a"]) == '[1, "a"]' and hashable(("x", 1)) == ("x", 1)


def test_an_expression_that_cannot_be_evaluated_is_a_failure_the_others_keep_their_keys():
    events = [event({"tags": [1, 2]}), event({"tags": 5}), event({"tags": "ab"}), event({"tags": []})]
    kept, keys, failures = batch_keys(None, "length(data.tags)")(events)
    assert kept == [events[0], events[2], events[3]] and keys == [2, 2, 0]
    [(failed, error)] = failures
    assert failed is events[1] and isinstance(error, ExpressionError)
    assert batch_keys(None, "data.tags")([events[0], event({})])[1] == ["[1, 2]", None]


def test_no_key_is_none_both_at_once_is_refused_and_a_bad_path_names_its_column():
    assert batch_keys(None, None) is None
    with pytest.raises(ValueError, match="not both"):
        batch_keys("data.a", "data.a")
    with pytest.raises(PathError):
        batch_keys("data..a", None)


def test_keyed_hands_each_failure_to_fail_and_the_rest_back_with_their_keys():
    from wishbone.expression import ExpressionError
    from wishbone.keys import batch_keys, keyed

    failed = []
    text, number, items = ({"headers": {}, "data": {"n": n}} for n in ("abc", 1, [1, 2]))
    kept, keys = keyed(batch_keys(None, "length(data.n)"), [text, number, items], lambda e, x: failed.append((e, x)))
    assert kept == [text, items] and keys == [3, 2]
    assert [e for e, _ in failed] == [number] and isinstance(failed[0][1], ExpressionError)
    events = [text, number]
    plain, none_keys = keyed(None, events, lambda e, x: failed.append((e, x)))
    assert plain is events and none_keys == [None, None] and len(failed) == 1
