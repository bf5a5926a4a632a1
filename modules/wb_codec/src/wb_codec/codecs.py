"""The ``decode`` and ``encode`` processors: a field through any codec of :mod:`wishbone.codec`."""

from __future__ import annotations

from typing import Any

from wishbone import codec as codecs
from wishbone.ack import split
from wishbone.module import Processor
from wishbone.paths import MISSING, FieldPath, FieldTypeError, compile_path

__all__ = ["Decode", "Encode"]

_TEXT_CODECS = ("text", "lines", "json", "json_lines", "ndjson")


def _codec(name: str) -> codecs.Codec:
    if name not in codecs.names():
        try:
            return codecs.get(name)
        except Exception:
            raise ValueError(f"codec: expected one of {', '.join(codecs.names())}, got {name!r}") from None
    return codecs.get(name)


class Decode(Processor):
    """Decodes a field (text or bytes) with a codec: JSON text into data, say.

    Parameters:
        codec (str): a codec of ``wishbone.codec``: ``raw``, ``text``, ``lines``, ``json``,
            ``json_lines``, ``msgpack`` (default ``json``).
        field (str): the field path to decode (default ``data``); text is taken as UTF-8.
        target (str or null): the field path to put the result at (default: ``field``).
        split (bool): for a codec that yields several items (``lines``, ``json_lines``): one
            event per item, its ``data`` the item, the headers copied (each part settles
            with the original's acknowledgement) instead of the list of items at ``target``
            (default false; needs ``target`` data). A codec of one item puts the item itself.

    Queues:
        inbox: events to decode.
        outbox: the decoded events (or, with ``split``, one per item).
        failed: events whose field does not decode, or is neither text nor bytes, or is
            missing, with the reason in ``headers.error``.
    """

    def __init__(
        self, codec: str = "json", field: FieldPath = "data", target: FieldPath | None = None, split: bool = False
    ) -> None:
        self.codec = _codec(codec)
        self.field = compile_path(field)
        self.target = compile_path(target) if target is not None else self.field
        self.split = split
        if split and self.target.text != "data":
            raise ValueError("split: each item becomes an event's data, so target must be data (or left out)")
        self._get = self.field.get
        self._set = self.target.set
        self._many = self.codec.framed
        self._fast_json = self.codec.name == "json"

    def consume_batch(self, events: list) -> None:
        """Decode the field of each event; one that does not decode goes to failed."""
        if self._fast_json and self.field.is_root and self.target is self.field and self.field.text == "data":
            self._json_data(events)
            return
        get, put, many, text = self._get, self._set, self._many, self.field.text
        decode = codecs.json_loads if self._fast_json else None
        codec_decode = self.codec.decode
        done: list = []
        add = done.append
        for event in events:
            raw = get(event)
            try:
                if type(raw) is str:
                    raw_bytes: Any = raw
                elif isinstance(raw, (bytes, bytearray, memoryview)):
                    raw_bytes = raw
                elif raw is MISSING:
                    raise FieldTypeError(text, text, "text or bytes to decode", None)
                else:
                    raise FieldTypeError(text, text, "text or bytes to decode", raw)
                if decode is not None:
                    put(event, decode(raw_bytes))
                    add(event)
                    continue
                if type(raw_bytes) is str:
                    raw_bytes = raw_bytes.encode("utf-8", "surrogatepass")
                items = codec_decode(raw_bytes)
                if not many:
                    put(event, items[0])
                    add(event)
                elif self.split:
                    done.extend(split(event, items))  # each part settles with the original
                else:
                    put(event, items)
                    add(event)
            except codecs.CodecError as exc:
                self.fail(event, codecs.CodecError(f"{text}: {exc.reason}"))
            except (FieldTypeError, ValueError) as exc:
                self.fail(event, exc)
        if done:
            self.emit_batch(done)

    def _json_data(self, events: list) -> None:
        """The common case, JSON in ``data`` to data in ``data``, in one tight loop."""
        loads, error = codecs.json_loads, codecs.CodecError
        done: list = []
        add = done.append
        for event in events:
            try:
                event["data"] = loads(event["data"])
            except error as exc:
                raw = event["data"]
                if isinstance(raw, (str, bytes, bytearray, memoryview)):
                    self.fail(event, error(f"data: {exc.reason}"))
                else:
                    self.fail(event, FieldTypeError("data", "data", "text or bytes to decode", raw))
                continue
            add(event)
        if done:
            self.emit_batch(done)

    def consume(self, event: dict) -> None:
        """One event (the framework calls :meth:`consume_batch`)."""
        self.consume_batch([event])


class Encode(Processor):
    """Encodes a field with a codec: data into JSON text, say.

    Parameters:
        codec (str): a codec of ``wishbone.codec`` (default ``json``).
        field (str): the field path to encode (default ``data``).
        target (str or null): the field path to put the result at (default: ``field``).
        text (bool or null): put text (the encoded bytes as UTF-8) rather than bytes;
            default: text for ``text``, ``lines``, ``json`` and ``json_lines``, bytes for
            ``raw`` and ``msgpack``.

    Queues:
        inbox: events to encode.
        outbox: the encoded events.
        failed: events whose field does not encode (a type the codec has no form for, text
            that holds a newline for ``lines``) or is missing, with the reason in ``headers.error``.
    """

    def __init__(
        self, codec: str = "json", field: FieldPath = "data", target: FieldPath | None = None, text: bool | None = None
    ) -> None:
        self.codec = _codec(codec)
        self.field = compile_path(field)
        self.target = compile_path(target) if target is not None else self.field
        self.text = self.codec.name in _TEXT_CODECS if text is None else text
        self._get = self.field.get
        self._set = self.target.set

    def consume_batch(self, events: list) -> None:
        """Encode the field of each event; one that does not encode goes to failed."""
        if self.codec.name == "json" and self.text and self.field.text == "data" and self.target is self.field:
            self._json_text(events)
            return
        get, put, as_text, path = self._get, self._set, self.text, self.field.text
        encode = codecs.json_dumps if self.codec.name == "json" else self.codec.encode
        done: list = []
        add = done.append
        for event in events:
            value = get(event)
            try:
                if value is MISSING:
                    raise FieldTypeError(path, path, "a value to encode", None)
                raw = encode(value)
                put(event, raw.decode("utf-8") if as_text else raw)
                add(event)
            except codecs.CodecError as exc:
                self.fail(event, codecs.CodecError(f"{path}: {exc.reason}"))
            except UnicodeDecodeError as exc:
                reason = f"{path}: the encoded bytes are not UTF-8 at byte {exc.start}; use text: false"
                self.fail(event, ValueError(reason))
            except (FieldTypeError, ValueError) as exc:
                self.fail(event, exc)
        if done:
            self.emit_batch(done)

    def consume(self, event: dict) -> None:
        """One event (the framework calls :meth:`consume_batch`)."""
        self.consume_batch([event])

    def _json_text(self, events: list) -> None:
        """The common case, data in ``data`` to JSON text in ``data``, in one tight loop."""
        dumps, error = codecs.json_dumps, codecs.CodecError
        done: list = []
        add = done.append
        for event in events:
            try:
                event["data"] = dumps(event["data"]).decode("utf-8")
            except error as exc:
                self.fail(event, error(f"data: {exc.reason}"))
                continue
            add(event)
        if done:
            self.emit_batch(done)
