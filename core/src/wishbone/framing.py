"""Frames on a byte stream: where one message ends and the next begins (TCP, syslog over TCP, ...).

A stream input reads chunks (whatever one ``recv`` returned) and feeds each to a decoder of
its connection; the decoder returns the whole frames that chunk completed and keeps the
partial one for the next chunk. An output encodes a batch of frames into one buffer for one
``sendall``. Work is per chunk, not per byte: the newline decoder splits the buffer with
one ``bytes.split``; the counted ones take the complete, valid frames of a buffer in a
tight loop of C calls (find the header, check it, slice), and leave only what is unusual (a
partial, too long or garbled frame) to a careful loop that keeps state across chunks.

=================  ==========================================  =======================================
name               a frame on the wire                         resynchronises after a bad frame by
=================  ==========================================  =======================================
``newline``        the bytes up to ``\\n`` (not included)       skipping to the next ``\\n``
``octet_counting`` ``LEN SP BYTES``: LEN in ASCII decimal       skipping LEN bytes (too long), or to
                   (RFC 6587 section 3.4.1, syslog over TCP)   the next ``\\n`` (a header that is no
                                                               count: garbage)
``length_prefix``  a 4-byte big-endian unsigned length, then    skipping LEN bytes
                   that many bytes
``auto``           (decoding only) per connection, as          as the framing it chose
                   rsyslog does: octet counting when the
                   first byte is a digit, newline otherwise
=================  ==========================================  =======================================

Every decoder has a ``max_size``: a frame longer than that is never buffered whole. It is
counted, recorded as a :class:`FrameError` (holding at most the first ``max_size`` bytes)
that the input sends to ``failed``, and the decoder resynchronises as above; so what a
connection buffers is bounded by ``max_size`` plus one chunk, whatever the peer sends.
Errors are collected on the decoder (:meth:`Decoder.take_errors`), not raised, so that the
good frames of the same chunk are not lost with them.

At the end of a stream :meth:`Decoder.end` returns what is left: with ``newline`` a last
line without its ``\\n`` is a frame (``printf 'a'`` sends one line, as ``nc`` users expect);
with the counted framings a frame cut short is a :class:`FrameError` ("truncated").

Example::

    decoder = framing.decoder("newline", max_size=65536)
    frames = decoder.feed(b"one\\ntw")      # [b"one"]
    frames = decoder.feed(b"o\\n")          # [b"two"]
    errors = decoder.take_errors()          # [] (FrameError items otherwise)
    framing.encoder("octet_counting")([b"a", b"bc"])   # b"1 a2 bc"
"""

from __future__ import annotations

import struct
from collections.abc import Callable

__all__ = [
    "DECODINGS",
    "ENCODINGS",
    "AutoDecoder",
    "Decoder",
    "FrameError",
    "LengthPrefixDecoder",
    "NewlineDecoder",
    "OctetCountingDecoder",
    "decoder",
    "encode_length_prefix",
    "encode_newline",
    "encode_octet_counting",
    "encoder",
]

#: The framings an encoder exists for.
ENCODINGS = ("newline", "octet_counting", "length_prefix")
#: The framings a decoder exists for (``auto`` chooses per connection).
DECODINGS = (*ENCODINGS, "auto")

_MAX_LENGTH_PREFIX = 0xFFFFFFFF
_UNPACK_LENGTH = struct.Struct(">I").unpack_from
#: Octet counts already read (the digits -> their value): one lookup instead of a check and int() per frame.
_COUNTS: dict[bytes, int] = {}
_COUNTS_KEPT = 8192
#: How much of a bad frame an error keeps (its head; at most the decoder's max_size too).
ERROR_HEAD = 65536


class FrameError(ValueError):
    """A frame that cannot be delivered: too long, a bad length header, cut short.

    ``str(exc)`` is the reason; :attr:`head` holds the first bytes of the frame (at most
    the decoder's ``max_size`` and :data:`ERROR_HEAD`), for ``failed``.
    """

    def __init__(self, reason: str, head: bytes = b"") -> None:
        super().__init__(reason)
        self.reason = reason
        self.head = head


class Decoder:
    """An incremental decoder of one stream (one per connection).

    :param max_size: the longest frame accepted, in bytes (>= 1).

    :attr errors: the :class:`FrameError` items seen and not yet taken.
    :attr error_count: every frame error seen so far (for metrics).
    """

    name = ""

    def __init__(self, max_size: int = 1 << 20) -> None:
        if max_size < 1:
            raise ValueError(f"the longest frame must be at least 1 byte, got {max_size}")
        self.max_size = max_size
        self.errors: list[FrameError] = []
        self.error_count = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        """The frames *chunk* completes, in order (maybe none); keeps the rest for the next call."""
        raise NotImplementedError

    def end(self) -> list[bytes]:
        """The stream ended: the frames still held (a cut-short frame is an error instead)."""
        raise NotImplementedError

    def cut(self, reason: str) -> None:
        """This side closes the stream inside a frame (a stop, an idle timeout): the bytes held
        of it become a :class:`FrameError` (*reason*, counted) instead of vanishing."""
        held = self._take_held()
        if held:
            self._error(f"{reason} inside a frame ({len(held)} bytes of it received)", held)

    def _take_held(self) -> bytes:
        """The bytes of the frame begun, forgotten (and any skipping of a bad frame ended)."""
        raise NotImplementedError

    @property
    def buffered(self) -> int:
        """Bytes held for a frame not complete yet (bounded by max_size plus one chunk)."""
        raise NotImplementedError

    def take_errors(self) -> list[FrameError]:
        """The errors seen since the last call (and forget them)."""
        errors, self.errors = self.errors, []
        return errors

    def _error(self, reason: str, head: bytes) -> None:
        self.error_count += 1
        self.errors.append(FrameError(reason, bytes(head[: min(self.max_size, ERROR_HEAD)])))


class NewlineDecoder(Decoder):
    """Frames end with ``\\n`` (not part of the frame; a ``\\r`` before it is kept)."""

    name = "newline"

    def __init__(self, max_size: int = 1 << 20) -> None:
        super().__init__(max_size)
        self._rest = b""
        self._skipping = False  # inside a frame already reported too long: drop up to the next \n

    @property
    def buffered(self) -> int:
        return len(self._rest)

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._skipping:
            cut = chunk.find(b"\n")
            if cut < 0:
                return []
            self._skipping = False
            chunk = chunk[cut + 1 :]
        data = self._rest + chunk if self._rest else bytes(chunk)
        last = data.rfind(b"\n")
        max_size = self.max_size
        if last < 0:
            if len(data) > max_size:
                self._too_long(data)
                self._skipping = True
                self._rest = b""
            else:
                self._rest = data
            return []
        frames = data[:last].split(b"\n")
        rest = data[last + 1 :]
        if last > max_size and max(map(len, frames)) > max_size:
            kept = []
            for frame in frames:
                if len(frame) > max_size:
                    self._too_long(frame)
                else:
                    kept.append(frame)
            frames = kept
        if len(rest) > max_size:
            self._too_long(rest)
            self._skipping = True
            rest = b""
        self._rest = rest
        return frames

    def end(self) -> list[bytes]:
        rest = self._take_held()
        return [rest] if rest else []

    def _take_held(self) -> bytes:
        rest, self._rest = self._rest, b""
        self._skipping = False
        return rest

    def _too_long(self, head: bytes) -> None:
        self._error(f"frame longer than {self.max_size} bytes (no newline within them)", head)


class _CountedDecoder(Decoder):
    """Frames with a length header: parse header, take that many bytes, repeat."""

    def __init__(self, max_size: int = 1 << 20) -> None:
        super().__init__(max_size)
        self._rest = b""
        self._skip = 0  # bytes still to drop of a frame reported too long
        self._skip_to_newline = False  # garbage: drop up to the next \n
        self._skipped_head = b""
        self._skip_reason = ""
        self._head_size = min(max_size, ERROR_HEAD)

    _separators = b""

    @property
    def buffered(self) -> int:
        return len(self._rest)

    def _header(self, data: bytes, pos: int) -> tuple[int, int] | None:
        """(frame length, position of the frame's first byte), None if the header is not complete.

        Raises FrameError for a header that is not one (garbage).
        """
        raise NotImplementedError

    def _whole(self, data: bytes, pos: int, frames: list[bytes]) -> int:
        """Append the valid, complete frames from *pos* on to *frames*, as far as they go without a doubt.

        The fast path (a tight loop of C calls per frame, no decoder state touched); it stops
        where anything else begins (a partial frame, a too long one, garbage) and returns that
        position, from where :meth:`feed`'s careful loop takes over. The base class has none.
        """
        return pos

    def feed(self, chunk: bytes) -> list[bytes]:
        data = self._rest + chunk if self._rest else bytes(chunk)
        self._rest = b""
        end = len(data)
        frames: list[bytes] = []
        whole = self._whole
        pos = 0 if self._skip or self._skip_to_newline else whole(data, 0, frames)
        max_size = self.max_size
        separators = self._separators
        while pos < end:
            if self._skip:
                taken = min(self._skip, end - pos)
                head = self._skipped_head
                if len(head) < self._head_size:
                    self._skipped_head = head + data[pos : pos + min(taken, self._head_size - len(head))]
                self._skip -= taken
                pos += taken
                if not self._skip:
                    self._error(self._skip_reason, self._skipped_head)
                    self._skipped_head = b""
                continue
            if self._skip_to_newline:
                cut = data.find(b"\n", pos)
                if cut < 0:
                    return frames
                self._skip_to_newline = False
                pos = cut + 1
                continue
            if separators and data[pos] in separators:  # between frames, some senders add one: skip
                pos += 1
                continue
            try:
                header = self._header(data, pos)
            except FrameError as exc:
                self._error(exc.reason, data[pos:])
                self._skip_to_newline = True
                continue
            if header is None:
                self._rest = data[pos:]
                return frames
            length, start = header
            if length > max_size:  # skipped as it comes; the error (with the frame's head) once it is past
                self._skip_reason = f"frame of {length} bytes is longer than {max_size}"
                self._skip = length
                pos = start
                continue
            stop = start + length
            if stop > end:
                self._rest = data[pos:]
                return frames
            frames.append(data[start:stop])
            pos = whole(data, stop, frames)
        return frames

    def end(self) -> list[bytes]:
        if self._skip:  # the stream ended inside a frame that was too long anyway
            self._error(self._skip_reason + " (and cut short)", self._skipped_head)
        rest = self._take_held()
        if rest:
            self._error(f"stream ended inside a frame ({len(rest)} bytes of it received): truncated", rest)
        return []

    def cut(self, reason: str) -> None:
        if self._skip:  # inside a frame already too long: its error is due now
            self._error(f"{self._skip_reason} ({reason} before its end)", self._skipped_head)
        super().cut(reason)

    def _take_held(self) -> bytes:
        rest, self._rest = self._rest, b""
        self._skipped_head = b""
        self._skip = 0
        self._skip_to_newline = False
        return rest


class OctetCountingDecoder(_CountedDecoder):
    """RFC 6587 octet counting: ``LEN SP MSG``, LEN in ASCII decimal, no leading zero.

    A newline between frames (some senders add one) is skipped. A header that is not
    digits and a space is garbage: an error, then everything up to the next ``\\n`` is
    dropped (senders that mix framings end their frames with one).
    """

    name = "octet_counting"
    _separators = b"\r\n"

    def __init__(self, max_size: int = 1 << 20) -> None:
        super().__init__(max_size)
        # Digits a valid length may have; a longer run of digits is garbage, so a header is bounded.
        self._digits = len(str(max(max_size, 1))) + 1

    def _whole(self, data: bytes, pos: int, frames: list[bytes]) -> int:
        # the checks of _header and feed, in one loop of locals: what fails any of them is left to feed
        find = data.find
        append = frames.append
        counts = _COUNTS
        known = counts.get
        reach = self._digits + 1
        max_size = self.max_size
        end = len(data)
        while pos < end:
            space = find(b" ", pos, pos + reach)
            if space > pos:
                count = data[pos:space]
                length = known(count)
                if length is None and count.isdigit() and data[pos] != 0x30:  # a count not seen before
                    length = int(count)
                    if len(counts) < _COUNTS_KEPT:
                        counts[count] = length
                if length is not None:
                    stop = space + 1 + length
                    if stop <= end and length <= max_size:
                        append(data[space + 1 : stop])
                        pos = stop
                        continue
                    break
            if data[pos] in b"\r\n":  # a separator between frames
                pos += 1
                continue
            break
        return pos

    def _header(self, data: bytes, pos: int) -> tuple[int, int] | None:
        space = data.find(b" ", pos, pos + self._digits + 1)
        if space < 0:
            if len(data) - pos > self._digits:
                raise FrameError("not an octet count: expected digits and a space before the message")
            if not data[pos:].isdigit():
                raise FrameError("not an octet count: expected digits and a space before the message")
            return None
        digits = data[pos:space]
        if not digits.isdigit() or digits[0] == 0x30:  # ASCII '0': no leading zero, no empty frame
            raise FrameError(f"not an octet count: {digits[:20]!r} before the space")
        return int(digits), space + 1


class LengthPrefixDecoder(_CountedDecoder):
    """A 4-byte big-endian unsigned length, then the frame."""

    name = "length_prefix"

    def _whole(self, data: bytes, pos: int, frames: list[bytes]) -> int:
        unpack = _UNPACK_LENGTH
        append = frames.append
        max_size = self.max_size
        last = len(data) - 4
        while pos <= last:
            (length,) = unpack(data, pos)
            stop = pos + 4 + length
            if length > max_size or stop > last + 4:
                break
            append(data[pos + 4 : stop])
            pos = stop
        return pos

    def _header(self, data: bytes, pos: int) -> tuple[int, int] | None:
        if len(data) - pos < 4:
            return None
        return int.from_bytes(data[pos : pos + 4], "big"), pos + 4


class AutoDecoder(Decoder):
    """Chooses per connection, as rsyslog does: octet counting if the first byte is a digit, else newline.

    :attr chosen: the decoder chosen (None before the first byte).
    """

    name = "auto"

    def __init__(self, max_size: int = 1 << 20) -> None:
        super().__init__(max_size)
        self.chosen: Decoder | None = None

    @property
    def buffered(self) -> int:
        return self.chosen.buffered if self.chosen is not None else 0

    def feed(self, chunk: bytes) -> list[bytes]:
        chosen = self.chosen
        if chosen is None:
            if not chunk:
                return []
            first = chunk[0]
            chosen = self.chosen = (
                OctetCountingDecoder(self.max_size) if 0x31 <= first <= 0x39 else NewlineDecoder(self.max_size)
            )
            chosen.errors = self.errors  # one list: take_errors() here sees the chosen one's
        frames = chosen.feed(chunk)
        self.error_count = chosen.error_count
        return frames

    def end(self) -> list[bytes]:
        if self.chosen is None:
            return []
        frames = self.chosen.end()
        self.error_count = self.chosen.error_count
        return frames

    def cut(self, reason: str) -> None:
        if self.chosen is not None:
            self.chosen.cut(reason)
            self.error_count = self.chosen.error_count

    def take_errors(self) -> list[FrameError]:
        errors = list(self.errors)
        self.errors.clear()  # the list is shared with the chosen decoder: empty it in place
        return errors


_DECODERS: dict[str, type[Decoder]] = {
    "newline": NewlineDecoder,
    "octet_counting": OctetCountingDecoder,
    "length_prefix": LengthPrefixDecoder,
    "auto": AutoDecoder,
}


def decoder(name: str, max_size: int = 1 << 20) -> Decoder:
    """A new decoder of framing *name* (one of :data:`DECODINGS`) for one stream."""
    try:
        cls = _DECODERS[name]
    except KeyError:
        raise ValueError(f"unknown framing {name!r}; expected one of {', '.join(DECODINGS)}") from None
    return cls(max_size)


def encode_newline(frames: list[bytes]) -> bytes:
    """``frame\\n`` for each frame, one buffer; FrameError if a frame holds a newline itself."""
    if not frames:
        return b""
    data = b"\n".join(frames) + b"\n"
    if data.count(b"\n") != len(frames):
        bad = next(i for i, frame in enumerate(frames) if b"\n" in frame)
        raise FrameError(f"frame {bad} holds a newline: it would be read as two frames")
    return data


def encode_octet_counting(frames: list[bytes]) -> bytes:
    """``LEN SP frame`` for each frame (RFC 6587 octet counting), one buffer; FrameError for an empty frame."""
    parts = []
    append = parts.append
    for frame in frames:
        if not frame:
            raise FrameError("an empty frame cannot be octet-counted (RFC 6587 counts start at 1)")
        append(b"%d " % len(frame))
        append(frame)
    return b"".join(parts)


def encode_length_prefix(frames: list[bytes]) -> bytes:
    """A 4-byte big-endian length then the frame, for each frame, one buffer."""
    parts = []
    append = parts.append
    for frame in frames:
        if len(frame) > _MAX_LENGTH_PREFIX:
            raise FrameError(f"a frame of {len(frame)} bytes does not fit a 4-byte length")
        append(len(frame).to_bytes(4, "big"))
        append(frame)
    return b"".join(parts)


_ENCODERS: dict[str, Callable[[list[bytes]], bytes]] = {
    "newline": encode_newline,
    "octet_counting": encode_octet_counting,
    "length_prefix": encode_length_prefix,
}


def encoder(name: str) -> Callable[[list[bytes]], bytes]:
    """The encoder of framing *name* (one of :data:`ENCODINGS`): frames -> one buffer.

    It raises :class:`FrameError` for a frame the framing cannot carry; encode frames one
    at a time to find which.
    """
    try:
        return _ENCODERS[name]
    except KeyError:
        raise ValueError(f"unknown framing {name!r}; expected one of {', '.join(ENCODINGS)}") from None
