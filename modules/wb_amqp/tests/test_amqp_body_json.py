"""amqp_out writes JSON bodies with the core codec: always valid JSON, UTF-8 without \\u escapes."""

import json

import pytest
from wb_amqp.amqp_out import _body


def test_a_json_body_is_valid_json_nan_included_and_keeps_utf8():
    body = _body({"ü": "✓", "n": float("nan"), "i": float("inf")})
    assert body == '{"ü":"✓","n":null,"i":null}'.encode()
    assert json.loads(body, parse_constant=lambda c: pytest.fail(f"{c} is not JSON")) == {
        "ü": "✓",
        "n": None,
        "i": None,
    }
