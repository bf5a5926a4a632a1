"""Codecs: what ``decode`` and ``encode`` mean, named once for every IO module.

An input turns the bytes it read (a datagram, a message body, a line) into event data with
``codec.get(name).decode(raw)``; an output turns event data into bytes with
``codec.get(name).encode(data)``. Every module that takes a ``decode`` or ``encode``
parameter accepts every name below and means the same by it:

=============  ==============================================  ===============================================
name           decode (bytes -> list of data)                  encode (data -> bytes)
=============  ==============================================  ===============================================
``raw``        the bytes as they are, one item                 bytes as they are; str as UTF-8; anything else
                                                               as JSON (as ``json``)
``text``       UTF-8 text, one item, kept whole (a trailing    str as UTF-8; bytes as they are; anything else
               newline stays)                                  is a CodecError
``lines``      UTF-8 text, one item per line: split on         str as UTF-8 plus ``\\n``; a str holding a
               ``\\n``, a ``\\r`` before it removed, a          newline (or ``\\r``) is a CodecError
               trailing empty line dropped (``b""`` gives no
               item, ``b"\\n"`` one empty line)
``json``       one JSON text, one item (``"just a string"``    one JSON text, compact, UTF-8 (no ``\\u``
               decodes to the str)                             escapes)
``json_lines`` one JSON text per line (lines as ``lines``;     one JSON text plus ``\\n``
(``ndjson``)   blank lines skipped)
``msgpack``    one MessagePack object, one item                one MessagePack object (bin type for bytes)
=============  ==============================================  ===============================================

Input that does not decode raises :class:`CodecError`, whose message is the reason
(``invalid UTF-8 at byte 3``, ``not JSON: unexpected character: line 1 column 1 (char 0)``);
the module sends the input to ``failed`` with it. A decode is all or nothing: a body of
1,000 lines with one bad line fails whole (a module that wants the good lines can decode
line by line with :meth:`Codec.split` and :meth:`Codec.decode_frame`).

JSON is RFC 8259 JSON both ways:

* decode refuses what JSON has not (``NaN``, ``Infinity``, invalid UTF-8, lone surrogates);
  integers of any size are kept exact.
* encode writes valid JSON always: a float NaN or +-Infinity is written as ``null`` (JSON
  has no such numbers; this is what JavaScript's ``JSON.stringify`` does, and an event is
  not lost over one field). Bytes are written as text (UTF-8; bytes that are not UTF-8 as
  ``\\xNN`` escapes), sets and tuples as arrays, non-string keys as strings (``{1: 2}`` ->
  ``{"1":2}``); datetimes, dates, UUIDs, enums and dataclasses as orjson writes them (RFC 3339
  strings, strings, values, objects). Any other type is a CodecError naming it.

JSON goes through orjson, measured faster here than the standard library: ``python
bench/bench_codec.py`` prints both in one run; on a 370-byte log record this codec decodes
3.5x and encodes 6x as many events per second as ``json.loads``/``json.dumps``. The standard
library takes over for what orjson cannot do (integers beyond 64 bits, nesting deeper than
orjson's limit), with the same result.
"""

from __future__ import annotations

import json as _json
import math
from typing import Any

import msgpack
import orjson

__all__ = ["Codec", "CodecError", "get", "json_dumps", "json_loads", "names"]


class CodecError(ValueError):
    """Input that does not decode, or data that does not encode; ``str(exc)`` is the reason."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Codec:
    """One named way between bytes and event data (see the module docstring for each).

    :attr name: the name modules accept (``"json"``).
    :attr summary: one line saying what it does, for documentation and ``show``.
    :attr framed: True when one input may hold many items (``lines``, ``json_lines``).
    """

    name: str = ""
    summary: str = ""
    framed: bool = False

    def decode(self, raw: bytes) -> list:
        """The data items *raw* holds; raises :class:`CodecError` if it does not decode."""
        return [self.decode_frame(raw)]

    def encode(self, data: Any) -> bytes:
        """The bytes for *data* (framed codecs: with the frame's terminator); raises CodecError."""
        raise NotImplementedError

    def split(self, raw: bytes) -> list[bytes]:
        """The frames of *raw* (framed codecs: its lines; otherwise *raw* itself)."""
        return [raw]

    def decode_frame(self, frame: bytes) -> Any:
        """One frame's data item; raises :class:`CodecError`."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<codec {self.name}>"


# --------------------------------------------------------------------------------- helpers
def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8") if type(raw) is bytes else bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CodecError(f"invalid UTF-8 at byte {exc.start}: {exc.reason}") from None


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate
        raise CodecError(f"text cannot be UTF-8 encoded at character {exc.start}: {exc.reason}") from None


def _lines(raw: bytes) -> list[bytes]:
    parts = bytes(raw).split(b"\n")
    if parts[-1] == b"":
        parts.pop()
    return [p[:-1] if p.endswith(b"\r") else p for p in parts]


# --------------------------------------------------------------------------------- JSON
_ORJSON_OPTIONS = orjson.OPT_NON_STR_KEYS
# A run of 19 digits may be an integer past 64 bits (below -2**63, or past 2**64 with 20),
# which orjson would turn into a float: such input is parsed by the standard library instead,
# which keeps it exact. The check maps every digit to "0" and looks for nineteen of them
# (~0.5 us for a 400-byte event; a regular expression takes 3 us, more than orjson's parse).
_DIGITS = bytes.maketrans(b"0123456789", b"0000000000")
_LONG_NUMBER = b"0" * 19


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_default(value: Any) -> Any:
    """What orjson cannot write itself (called by it and by the fallback)."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    raise TypeError(f"{type(value).__name__} has no JSON form")


def _finite(value: Any) -> Any:
    """*value* with NaN and +-Infinity replaced by None and other types made JSON (fallback path)."""
    cls = type(value)
    if cls is float:
        return value if math.isfinite(value) else None
    if cls in (str, int, bool) or value is None:
        return value
    if isinstance(value, dict):
        return {(k if isinstance(k, str) else _json_key(k)): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    return _finite(_json_default(value))


def _json_key(key: Any) -> str:
    if key is None or isinstance(key, (bool, int, float)):
        return _json.dumps(_finite(key))
    if isinstance(key, (bytes, bytearray, memoryview)):
        return _json_default(key)
    raise TypeError(f"a {type(key).__name__} key has no JSON form")


def json_dumps(data: Any) -> bytes:
    """*data* as one compact JSON text in UTF-8, always valid JSON (see the module docstring)."""
    try:
        return orjson.dumps(data, default=_json_default, option=_ORJSON_OPTIONS)
    except TypeError as exc:
        first = str(exc)  # not the exception: its traceback would hold the callers' frames (and events) in a cycle
    # orjson could not: integers beyond 64 bits, subclasses it refuses, str with lone surrogates
    try:
        text = _json.dumps(_finite(data), ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        raise CodecError(f"not JSON-encodable: {exc}") from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise CodecError(f"not JSON-encodable: {first}") from None


def json_loads(raw: bytes | str) -> Any:
    """One JSON text (RFC 8259: no NaN, valid UTF-8) as Python data; raises CodecError."""
    if type(raw) is not bytes:
        if type(raw) is str:
            raw = _utf8(raw)
        elif isinstance(raw, (bytearray, memoryview)):
            raw = bytes(raw)
        else:
            raise CodecError(f"not JSON: a {type(raw).__name__} is not bytes or str")
    try:
        if raw.translate(_DIGITS).find(_LONG_NUMBER) >= 0:
            return _stdlib_loads(_text(raw))
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "UTF-8" in str(exc):
            _text(raw)  # raises with the position of the first invalid byte
        raise CodecError(f"not JSON: {exc}") from None


def _stdlib_loads(text: str) -> Any:
    try:
        return _json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:
        raise CodecError(f"not JSON: {exc}") from None


# --------------------------------------------------------------------------------- the codecs
class _Raw(Codec):
    name = "raw"
    summary = "bytes as they are (encode: str as UTF-8, other data as JSON)"

    def decode(self, raw: bytes) -> list:
        return [raw if type(raw) is bytes else bytes(raw)]

    def decode_frame(self, frame: bytes) -> Any:
        return frame if type(frame) is bytes else bytes(frame)

    def encode(self, data: Any) -> bytes:
        cls = type(data)
        if cls is bytes:
            return data
        if cls is str:
            return _utf8(data)
        if isinstance(data, (bytearray, memoryview)):
            return bytes(data)
        return json_dumps(data)


class _Text(Codec):
    name = "text"
    summary = "UTF-8 text, kept whole"

    def decode(self, raw: bytes) -> list:
        return [_text(raw)]

    def decode_frame(self, frame: bytes) -> Any:
        return _text(frame)

    def encode(self, data: Any) -> bytes:
        if type(data) is str:
            return _utf8(data)
        if isinstance(data, (bytes, bytearray, memoryview)):
            return bytes(data)
        raise CodecError(f"text encodes str, not {type(data).__name__}")


class _Lines(Codec):
    name = "lines"
    summary = "UTF-8 text, one item per line (\\n or \\r\\n)"
    framed = True

    def decode(self, raw: bytes) -> list:
        try:
            text = raw.decode("utf-8") if type(raw) is bytes else bytes(raw).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CodecError(f"invalid UTF-8 at byte {exc.start}: {exc.reason}") from None
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        if "\r" in text:
            lines = [line[:-1] if line.endswith("\r") else line for line in lines]
        return lines

    def split(self, raw: bytes) -> list[bytes]:
        return _lines(raw)

    def decode_frame(self, frame: bytes) -> Any:
        return _text(frame)

    def encode(self, data: Any) -> bytes:
        if type(data) is str:
            if "\n" in data or "\r" in data:
                raise CodecError("a line cannot hold a newline or carriage return")
            return _utf8(data) + b"\n"
        if isinstance(data, (bytes, bytearray, memoryview)):
            data = bytes(data)
            if b"\n" in data or b"\r" in data:
                raise CodecError("a line cannot hold a newline or carriage return")
            return data + b"\n"
        raise CodecError(f"lines encodes str, not {type(data).__name__}")


class _JSON(Codec):
    name = "json"
    summary = "one JSON text (RFC 8259), compact UTF-8"

    def decode(self, raw: bytes) -> list:
        return [json_loads(raw)]

    def decode_frame(self, frame: bytes) -> Any:
        return json_loads(frame)

    def encode(self, data: Any) -> bytes:
        return json_dumps(data)


class _JSONLines(Codec):
    name = "json_lines"
    summary = "one JSON text per line (NDJSON); blank lines skipped"
    framed = True

    def decode(self, raw: bytes) -> list:
        # One pass for the common body: a single look for long numbers over the whole input
        # (none in the body: none in any line), then orjson line by line. Where orjson takes
        # every piece split at \n, each line's result is what the exact path below gives
        # (a \r before the newline is JSON whitespace to orjson); a blank line, an error, or a
        # number for the standard library sends the input down the exact path, which decides.
        if type(raw) is not bytes:
            raw = bytes(raw)
        if raw.translate(_DIGITS).find(_LONG_NUMBER) < 0:
            pieces = raw.split(b"\n")
            if not pieces[-1]:
                pieces.pop()
            try:
                return list(map(orjson.loads, pieces))
            except orjson.JSONDecodeError:
                pass
        items = []
        for number, line in enumerate(_lines(raw), 1):
            if not line.strip():
                continue
            try:
                items.append(json_loads(line))
            except CodecError as exc:
                raise CodecError(f"line {number}: {exc.reason}") from None
        return items

    def split(self, raw: bytes) -> list[bytes]:
        return [line for line in _lines(raw) if line.strip()]

    def decode_frame(self, frame: bytes) -> Any:
        return json_loads(frame)

    def encode(self, data: Any) -> bytes:
        return json_dumps(data) + b"\n"


class _MsgPack(Codec):
    name = "msgpack"
    summary = "one MessagePack object"

    def decode(self, raw: bytes) -> list:
        return [self.decode_frame(raw)]

    def decode_frame(self, frame: bytes) -> Any:
        try:
            return msgpack.unpackb(frame, raw=False, strict_map_key=False)
        except (ValueError, msgpack.UnpackException, TypeError) as exc:
            # ExtraData, FormatError, StackError and invalid UTF-8 all derive from ValueError
            detail = f"{type(exc).__name__}: {exc}" if str(exc) else f"{type(exc).__name__} (invalid data)"
            raise CodecError(f"not MessagePack: {detail}") from None

    def encode(self, data: Any) -> bytes:
        try:
            return msgpack.packb(data, use_bin_type=True, default=_msgpack_default)
        except (TypeError, ValueError, OverflowError) as exc:
            raise CodecError(f"not MessagePack-encodable: {exc}") from None


def _msgpack_default(value: Any) -> Any:
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    if isinstance(value, memoryview):
        return bytes(value)
    raise TypeError(f"{type(value).__name__} has no MessagePack form")


_CODECS: dict[str, Codec] = {}
for _codec in (_Raw(), _Text(), _Lines(), _JSON(), _JSONLines(), _MsgPack()):
    _CODECS[_codec.name] = _codec
_ALIASES = {"ndjson": "json_lines", "jsonl": "json_lines", "bytes": "raw"}


def names() -> tuple[str, ...]:
    """Every codec name (aliases excluded), in documentation order."""
    return tuple(_CODECS)


def get(name: str) -> Codec:
    """The codec called *name* (or one of its aliases: ``ndjson``, ``jsonl``, ``bytes``).

    Raises ValueError naming the valid choices, so a module's ``__init__`` that calls it
    turns an unknown name into a load error with its JSON path.
    """
    codec = _CODECS.get(_ALIASES.get(name, name)) if isinstance(name, str) else None
    if codec is None:
        raise ValueError(f"unknown codec {name!r}; choose one of {', '.join(_CODECS)}")
    return codec
