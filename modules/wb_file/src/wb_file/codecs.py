"""What a line becomes (file_in) and what an event's data becomes as a line (file_out).

The names are those of the shared codecs (``lines``, ``text``, ``raw``, ``json``,
``json_lines``), with the same meaning for one line; a line-framed IO module decodes each
line (without its newline) and encodes each event's data as one line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["EncodeError", "line_decoder", "line_encoder"]


class EncodeError(ValueError):
    """Data that cannot be written as one line."""


def _utf8(line: bytes) -> str:
    return line.decode("utf-8")


def _json(line: bytes) -> Any:
    return json.loads(line)


_DECODERS: dict[str, Callable[[bytes], Any]] = {
    "lines": _utf8,
    "text": _utf8,
    "raw": bytes,
    "json": _json,
    "json_lines": _json,
}


def line_decoder(name: str) -> Callable[[bytes], Any]:
    """What one line (without its newline) becomes under the codec *name*.

    ``lines``/``text``: UTF-8 str; ``raw``: bytes; ``json``/``json_lines``: the JSON value.
    The decoder raises ValueError (UnicodeDecodeError, JSONDecodeError) for a line that does
    not decode; an unknown *name* is a ValueError naming the choices.
    """
    try:
        return _DECODERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown codec {name!r}; choose one of {', '.join(_DECODERS)}") from None


def _line(data: Any) -> bytes:
    if type(data) is str:
        if "\n" in data or "\r" in data:
            raise EncodeError("a line cannot hold a newline or carriage return")
        return data.encode("utf-8") + b"\n"
    if isinstance(data, (bytes, bytearray, memoryview)):
        data = bytes(data)
        if b"\n" in data or b"\r" in data:
            raise EncodeError("a line cannot hold a newline or carriage return")
        return data + b"\n"
    raise EncodeError(f"lines encodes str or bytes, not {type(data).__name__} (use encode json_lines)")


def _json_line(data: Any) -> bytes:
    try:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise EncodeError(f"not JSON-encodable: {exc}") from None
    return text.encode("utf-8", "backslashreplace") + b"\n"


_ENCODERS: dict[str, Callable[[Any], bytes]] = {"lines": _line, "text": _line, "json_lines": _json_line}


def line_encoder(name: str) -> Callable[[Any], bytes]:
    """The bytes of one line (newline included) for an event's data under the codec *name*.

    ``lines``/``text``: str (UTF-8) or bytes, holding no newline; ``json_lines``: one
    compact JSON text. Raises :class:`EncodeError` for data that does not encode.
    """
    try:
        return _ENCODERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown codec {name!r}; choose one of {', '.join(_ENCODERS)}") from None
