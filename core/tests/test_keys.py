"""wishbone.keys: an event's key from a field path or a JMESPath expression."""

from __future__ import annotations

import pytest
from wishbone.keys import hashable, key_function, shown


def test_a_path_and_an_expression_give_the_key_and_a_missing_field_shows_as_none():
    event = {"headers": {}, "data": {"user": {"name": "ann"}, "tags": ["a", "b"]}}
    assert key_function("data.user.name", None)(event) == "ann"
    assert key_function(None, "data.tags[1]")(event) == "b"
    assert shown(key_function("data.nope", None)(event)) is None
    assert key_function(None, None) is None


def test_both_at_once_is_refused_and_unhashable_keys_become_json():
    with pytest.raises(ValueError, match="not both"):
        key_function("data.a", "data.a")
    assert hashable({"b": 1, "a": [2]}) == '{"a": [2], "b": 1}'
    assert hashable("x") == "x"
