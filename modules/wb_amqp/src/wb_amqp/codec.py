"""The body codecs of ``amqp_in`` (``decode``) and ``amqp_out`` (``encode``): raw, text, json.

The same interface as the core's shared codecs (``wishbone.codec.get(name)``), so the modules
switch to those by changing their import. Until then this is the whole of what they mean:

========  ==========================================  ================================================
name      decode (body -> data)                       encode (data -> body)
========  ==========================================  ================================================
``raw``   the body's bytes as they are                bytes as they are; str as UTF-8; None as an
                                                      empty body; anything else as ``json``
``text``  UTF-8 text, kept whole                      str as UTF-8; bytes as they are; anything else
                                                      is a CodecError
``json``  one JSON text (RFC 8259: ``NaN`` and        one JSON text: compact, UTF-8 (``"ü"``, never
          ``Infinity`` are refused; ``"a string"``    ``"\\u00fc"``); ``NaN``/``Infinity`` are refused
          decodes to the str)                         (JSON has no such numbers)
========  ==========================================  ================================================

So ``decode: json`` then ``encode: json`` gives back valid JSON for every body that was valid
JSON (the same value, written compactly); ``decode: raw`` then ``encode: raw`` (the defaults)
gives back the body byte for byte.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["Codec", "CodecError", "get", "names"]


class CodecError(ValueError):
    """A body that does not decode, or data that does not encode; ``str(exc)`` is the reason."""


def _refuse_constant(name: str) -> Any:
    raise CodecError(f"not JSON: {name} is not a JSON number")


def _json_bytes(data: Any) -> bytes:
    try:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except (TypeError, ValueError, RecursionError) as exc:  # a set, an object; NaN; a lone surrogate; a cycle
        raise CodecError(f"cannot be written as JSON: {exc}") from None


class Codec:
    """One named way between a body and event data."""

    name = ""
    framed = False  # one body holds one item

    def decode(self, raw: bytes) -> list:
        """The data items *raw* holds (one); raises :class:`CodecError`."""
        return [self.decode_frame(raw)]

    def decode_frame(self, frame: bytes) -> Any:
        """The data of one body; raises :class:`CodecError`."""
        raise NotImplementedError

    def encode(self, data: Any) -> bytes:
        """The body for *data*; raises :class:`CodecError`."""
        raise NotImplementedError


class Raw(Codec):
    """Bytes as they are."""

    name = "raw"

    def decode_frame(self, frame: bytes) -> Any:
        return frame

    def encode(self, data: Any) -> bytes:
        if type(data) is bytes:
            return data
        if isinstance(data, str):
            try:
                return data.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise CodecError(f"text cannot be UTF-8 encoded: {exc.reason}") from None
        if isinstance(data, bytes | bytearray | memoryview):
            return bytes(data)
        if data is None:
            return b""
        return _json_bytes(data)


class Text(Codec):
    """UTF-8 text."""

    name = "text"

    def decode_frame(self, frame: bytes) -> Any:
        try:
            return frame.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CodecError(f"invalid UTF-8 at byte {exc.start}: {exc.reason}") from None

    def encode(self, data: Any) -> bytes:
        if isinstance(data, str | bytes | bytearray | memoryview):
            return RAW.encode(data)
        raise CodecError(f"text expected, got {type(data).__name__}")


class JSON(Codec):
    """One JSON text (RFC 8259)."""

    name = "json"

    def decode_frame(self, frame: bytes) -> Any:
        try:
            return json.loads(frame.decode("utf-8"), parse_constant=_refuse_constant)
        except UnicodeDecodeError as exc:
            raise CodecError(f"invalid UTF-8 at byte {exc.start}: {exc.reason}") from None
        except json.JSONDecodeError as exc:
            raise CodecError(f"not JSON: {exc}") from None
        except RecursionError:
            raise CodecError("not JSON this parser can read: nested too deeply") from None

    def encode(self, data: Any) -> bytes:
        return _json_bytes(data)


RAW = Raw()
_CODECS = {c.name: c for c in (RAW, Text(), JSON())}


def names() -> tuple[str, ...]:
    """The codec names :func:`get` knows."""
    return tuple(_CODECS)


def get(name: str) -> Codec:
    """The codec called *name*; ValueError naming the known ones otherwise."""
    try:
        return _CODECS[name]
    except KeyError:
        raise ValueError(f"unknown codec {name!r}: expected one of {', '.join(_CODECS)}") from None
