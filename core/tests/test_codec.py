"""wishbone.codec: every codec's contract, its bad input, and round trips (hypothesis)."""

from __future__ import annotations

import datetime
import json
import math
import uuid

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wishbone import codec
from wishbone.codec import CodecError

# JSON values as events carry them (the ones that round-trip exactly through JSON)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=("Cs",))),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.text(st.characters(exclude_categories=("Cs",)), max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)
line_text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\r\n"))


# ------------------------------------------------------------------------------ the registry
def test_every_name_and_alias_resolves():
    assert codec.names() == ("raw", "text", "lines", "json", "json_lines", "msgpack")
    for name in codec.names():
        assert codec.get(name).name == name
        assert codec.get(name).summary
    assert codec.get("ndjson") is codec.get("json_lines") is codec.get("jsonl")
    assert codec.get("bytes") is codec.get("raw")


@pytest.mark.parametrize("name", ["xml", "JSON", "", None, 3])
def test_an_unknown_name_is_a_value_error_naming_the_choices(name):
    with pytest.raises(ValueError, match="unknown codec .*choose one of raw, text, lines, json, json_lines, msgpack"):
        codec.get(name)


def test_codec_error_is_a_value_error_carrying_its_reason():
    with pytest.raises(ValueError) as info:
        codec.get("json").decode(b"{")
    assert isinstance(info.value, CodecError)
    assert info.value.reason == str(info.value)
    assert info.value.reason.startswith("not JSON: ")


# ------------------------------------------------------------------------------ raw and text
def test_raw_keeps_bytes_and_encodes_what_it_is_given():
    raw = codec.get("raw")
    garbage = bytes(range(256))
    assert raw.decode(garbage) == [garbage]
    assert raw.decode(bytearray(b"ab")) == [b"ab"] and type(raw.decode(bytearray(b"ab"))[0]) is bytes
    assert raw.encode(garbage) == garbage
    assert raw.encode(memoryview(b"mv")) == b"mv"
    assert raw.encode("héllo") == "héllo".encode()
    assert raw.encode({"a": [1, None]}) == b'{"a":[1,null]}'
    assert raw.encode(42) == b"42"


def test_text_keeps_the_text_whole_trailing_newline_included():
    text = codec.get("text")
    assert text.decode("héllo\n".encode()) == ["héllo\n"]
    assert text.decode(b"") == [""]
    assert text.encode("✓") == "✓".encode()
    assert text.encode(b"as is") == b"as is"


def test_invalid_utf8_is_a_codec_error_with_the_position():
    for name in ("text", "lines", "json", "json_lines"):
        with pytest.raises(CodecError, match="invalid UTF-8 at byte 3"):
            codec.get(name).decode(b'"ab\xff"')


@pytest.mark.parametrize("name", ["text", "lines"])
def test_text_codecs_refuse_to_encode_non_text(name):
    with pytest.raises(CodecError, match=f"{name} encodes str, not dict"):
        codec.get(name).encode({"a": 1})


def test_a_lone_surrogate_cannot_be_encoded():
    for name in ("raw", "text", "lines", "json"):
        with pytest.raises(CodecError):
            codec.get(name).encode("\ud800")


# ------------------------------------------------------------------------------ lines
@pytest.mark.parametrize(
    ("raw", "lines"),
    [
        (b"hello\n", ["hello"]),  # what `echo hello | nc -u` sends
        (b"hello", ["hello"]),
        (b"a\nb\n", ["a", "b"]),
        (b"a\r\nb\r\n", ["a", "b"]),
        (b"a\n\nb", ["a", "", "b"]),
        (b"", []),
        (b"\n", [""]),
        (b"\r\n", [""]),
        (b"a\rb\n", ["a\rb"]),  # only a \r before the \n ends a line
        ("é\n".encode(), ["é"]),
    ],
)
def test_lines_split_on_newline_and_drop_the_trailing_empty_line(raw, lines):
    lines_codec = codec.get("lines")
    assert lines_codec.decode(raw) == lines
    assert [lines_codec.decode_frame(f) for f in lines_codec.split(raw)] == lines
    assert lines_codec.framed


def test_lines_encode_one_line_and_refuse_a_newline_inside():
    lines = codec.get("lines")
    assert lines.encode("a") == b"a\n"
    assert lines.encode(b"b") == b"b\n"
    for bad in ("a\nb", "a\r", b"x\n"):
        with pytest.raises(CodecError, match="newline"):
            lines.encode(bad)


@given(st.lists(line_text, max_size=10))
def test_lines_round_trip(items):
    lines = codec.get("lines")
    assert lines.decode(b"".join(lines.encode(i) for i in items)) == items


# ------------------------------------------------------------------------------ json
def test_json_is_compact_utf8_without_escapes():
    assert codec.get("json").encode({"ü": "✓", "n": [1, 2.5, None, True]}) == '{"ü":"✓","n":[1,2.5,null,true]}'.encode()


def test_a_json_string_round_trips_as_json():
    js = codec.get("json")
    assert js.decode(b'"just a string"') == ["just a string"]
    assert js.encode("just a string") == b'"just a string"'
    assert js.decode(js.encode("just a string")) == ["just a string"]


def test_json_encode_writes_nan_and_infinity_as_null_always_valid_json():
    out = codec.get("json").encode({"a": math.nan, "b": [math.inf, -math.inf], "c": 1.5})
    assert out == b'{"a":null,"b":[null,null],"c":1.5}'
    json.loads(out, parse_constant=lambda name: pytest.fail(f"{name} in output"))


def test_json_encode_of_what_json_has_no_type_for():
    js = codec.get("json")
    assert js.encode(b"caf\xc3\xa9") == '"café"'.encode()
    assert js.encode(b"\xff") == b'"\\\\xff"'  # not UTF-8: a \xNN escape, as text
    assert js.encode({1: "a", None: "b"}) == b'{"1":"a","null":"b"}'
    assert js.encode((1, 2)) == b"[1,2]"
    assert js.encode({"s": {3}}) == b'{"s":[3]}'
    with pytest.raises(CodecError, match="object has no JSON form"):
        js.encode({"x": object()})


def test_json_writes_datetimes_and_uuids_as_strings():
    when = datetime.datetime(2026, 12, 1, 8, 0, tzinfo=datetime.timezone.utc)
    assert codec.get("json").encode({"t": when, "u": uuid.UUID(int=1)}) == (
        b'{"t":"2026-12-01T08:00:00+00:00","u":"00000000-0000-0000-0000-000000000001"}'
    )


def test_json_keeps_integers_beyond_64_bits_exact_both_ways():
    js = codec.get("json")
    big = 2**64 + 1
    assert js.decode(b'{"id": %d}' % big) == [{"id": big}]
    assert js.decode(str(-(10**30)).encode()) == [-(10**30)]
    assert js.encode({"id": big, "nan": math.nan}) == b'{"id":18446744073709551617,"nan":null}'
    assert js.decode(b'"12345678901234567890123"') == ["12345678901234567890123"]  # digits in a string


@pytest.mark.parametrize(
    "raw", [b"NaN", b"[Infinity]", b"-Infinity", b"1e400", b"{", b"[1]x", b"", b"{'a': 1}", b"[" * 5000]
)
def test_what_is_not_json_is_a_codec_error(raw):
    with pytest.raises(CodecError, match="not JSON"):
        codec.get("json").decode(raw)


def test_json_decode_takes_text_bytearray_and_memoryview_but_not_other_types():
    js = codec.get("json")
    assert js.decode_frame('{"a": "é"}') == {"a": "é"}
    assert js.decode(bytearray(b"[1]")) == [[1]]
    assert js.decode(memoryview(b"[2]")) == [[2]]
    with pytest.raises(CodecError, match="int is not bytes or str"):
        js.decode(5)


def test_json_deep_nesting_encodes_through_the_fallback():
    deep: list = []
    for _ in range(300):  # past orjson's own limit
        deep = [deep]
    assert codec.get("json").decode(codec.get("json").encode(deep)) == [deep]


@given(json_values)
@settings(max_examples=300)
def test_json_round_trip(value):
    js = codec.get("json")
    raw = js.encode(value)
    assert js.decode(raw) == [value]
    assert json.loads(raw.decode("utf-8")) == value  # the standard library reads it the same


@given(st.floats())
def test_json_encode_of_any_float_is_valid_json(value):
    raw = codec.get("json").encode([value])
    parsed = json.loads(raw, parse_constant=lambda name: pytest.fail(f"{name} in output"))
    assert parsed == [value if math.isfinite(value) else None]


# ------------------------------------------------------------------------------ json_lines
def test_json_lines_decode_each_line_and_skip_blank_ones():
    nd = codec.get("json_lines")
    assert nd.decode(b'{"a":1}\r\n\n  \n"two"\n[3]') == [{"a": 1}, "two", [3]]
    assert nd.split(b'{"a":1}\n\n2\n') == [b'{"a":1}', b"2"]
    assert nd.encode({"a": "é"}) == '{"a":"é"}\n'.encode()


def test_json_lines_a_bad_line_fails_the_whole_input_naming_the_line():
    with pytest.raises(CodecError, match="line 2: not JSON"):
        codec.get("ndjson").decode(b"1\n{oops\n3\n")


@given(st.lists(json_values, max_size=8))
def test_json_lines_round_trip(values):
    nd = codec.get("json_lines")
    assert nd.decode(b"".join(nd.encode(v) for v in values)) == values


ndjson_line = st.one_of(
    json_values.map(lambda v: codec.json_dumps(v)),
    st.sampled_from([b"", b" ", b"\t", b"\r", b"\x0c", b"{oops", b"[1", b"2]", b"1,2", b"NaN", b"\xff"]),
    st.integers(-(10**30), 10**30).map(lambda n: b"%d" % n),
    st.binary(max_size=12),
)


@settings(max_examples=500)
@given(st.lists(st.tuples(ndjson_line, st.sampled_from([b"\n", b"\r\n"])), max_size=8), st.booleans())
def test_json_lines_decode_is_split_then_decode_frame(lines, last_newline):
    """The one-pass decode of a body gives what its lines give one by one, or fails as they do."""
    nd = codec.get("json_lines")
    body = b"".join(line + end for line, end in lines)
    if not last_newline:
        body = body.removesuffix(b"\n")
    try:
        expected = [nd.decode_frame(frame) for frame in nd.split(body)]
    except CodecError:
        with pytest.raises(CodecError):
            nd.decode(body)
        return
    assert nd.decode(body) == expected
    assert nd.decode(bytearray(body)) == expected


def test_json_lines_keeps_integers_beyond_64_bits_among_other_lines():
    big = -(2**63) - 1
    assert codec.get("json_lines").decode(b'{"a": 1}\n{"id": %d}\n[2]\n' % big) == [{"a": 1}, {"id": big}, [2]]


# ------------------------------------------------------------------------------ msgpack
def test_msgpack_keeps_bytes_and_text_apart():
    mp = codec.get("msgpack")
    value = {"b": b"\xff\x00", "s": "é", "n": [1, 2.5, None, True], 7: "int key"}
    assert mp.decode(mp.encode(value)) == [value]
    assert mp.encode({"s": {1}}) == msgpack.packb({"s": [1]})


@pytest.mark.parametrize("raw", [b"\xc1", b"\x92\x01", b"\x81\xa1a\x01\x02", b"\xa2\xff\xfe", b""])
def test_what_is_not_msgpack_is_a_codec_error(raw):
    with pytest.raises(CodecError, match="not MessagePack: "):
        codec.get("msgpack").decode(raw)


def test_msgpack_refuses_what_it_cannot_write():
    with pytest.raises(CodecError, match="not MessagePack-encodable"):
        codec.get("msgpack").encode(object())
    with pytest.raises(CodecError, match="not MessagePack-encodable"):
        codec.get("msgpack").encode(2**70)


def _msgpack_children(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)


msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()
    | st.binary()
    | st.text(st.characters(exclude_categories=("Cs",))),
    _msgpack_children,
    max_leaves=20,
)


@given(msgpack_values)
def test_msgpack_round_trip(value):
    mp = codec.get("msgpack")
    raw = mp.encode(value)
    [back] = mp.decode(raw)
    assert mp.encode(back) == raw  # compared as bytes: a NaN is not equal to itself


# ------------------------------------------------------------------------------ any input
@given(st.binary(max_size=200))
@settings(max_examples=300)
def test_garbage_never_raises_anything_but_codec_error(raw):
    for name in codec.names():
        try:
            items = codec.get(name).decode(raw)
        except CodecError as exc:
            assert exc.reason
        else:
            assert isinstance(items, list)


@pytest.mark.parametrize("n", [-(2**63) - 1, -(2**63), 2**63 - 1, 2**64, -(10**30), 10**30])
def test_integers_at_and_past_64_bits_stay_exact(n):
    """hypothesis found -9223372036854775809 (19 digits, below int64) coming back as a float."""
    got = codec.get("json").decode(str(n).encode())
    assert got == [n] and type(got[0]) is int
