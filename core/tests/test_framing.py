"""wishbone.framing: frames come out whole however the stream is cut, bad frames are errors, memory is bounded."""

from __future__ import annotations

import random

import pytest
from wishbone import framing
from wishbone.framing import FrameError


def feed_all(decoder: framing.Decoder, chunks: list[bytes]) -> list[bytes]:
    frames = []
    for chunk in chunks:
        frames.extend(decoder.feed(chunk))
    frames.extend(decoder.end())
    return frames


def cut(data: bytes, rng: random.Random) -> list[bytes]:
    """*data* in random pieces, some of them one byte, some empty."""
    chunks, pos = [], 0
    while pos < len(data):
        n = rng.choice((0, 1, 2, 3, 7, 64, 1000))
        chunks.append(data[pos : pos + n])
        pos += n
    return chunks


FRAMES = [b"one", b"", b"two words", bytes(range(256)).replace(b"\n", b""), b"x" * 5000, "héllo".encode()]


@pytest.mark.parametrize("name", framing.ENCODINGS)
def test_encode_then_decode_gives_the_frames_back_however_the_stream_is_cut(name):
    frames = [f for f in FRAMES if f] if name == "octet_counting" else FRAMES
    wire = framing.encoder(name)(frames * 20)
    rng = random.Random(name)
    for _ in range(30):
        decoder = framing.decoder(name, max_size=10_000)
        assert feed_all(decoder, cut(wire, rng)) == frames * 20
        assert decoder.error_count == 0
        assert decoder.take_errors() == []
    assert feed_all(framing.decoder(name), [wire]) == frames * 20


def test_octet_counting_on_the_wire_is_rfc_6587():
    assert framing.encode_octet_counting([b"<13>1 - - - - - - hi", b"ab"]) == b"20 <13>1 - - - - - - hi2 ab"
    decoder = framing.decoder("octet_counting")
    assert decoder.feed(b"3 abc\n4 defg\r\n2 hi") == [b"abc", b"defg", b"hi"]  # separators skipped


def test_length_prefix_is_four_bytes_big_endian():
    assert framing.encode_length_prefix([b"abc"]) == b"\x00\x00\x00\x03abc"
    assert framing.decoder("length_prefix").feed(b"\x00\x00\x00\x02hi\x00\x00\x00\x00") == [b"hi", b""]


def test_newline_keeps_a_carriage_return_and_ends_with_the_unterminated_last_line():
    decoder = framing.decoder("newline")
    assert decoder.feed(b"a\r\nb\n\nc") == [b"a\r", b"b", b""]
    assert decoder.buffered == 1
    assert decoder.end() == [b"c"]
    assert decoder.end() == []


def test_newline_over_long_frame_is_an_error_then_it_resynchronises_at_the_next_newline():
    decoder = framing.decoder("newline", max_size=10)
    frames = decoder.feed(b"ok\n" + b"y" * 25)  # too long, no newline yet: dropped, not buffered
    assert frames == [b"ok"]
    assert decoder.buffered == 0
    [error] = decoder.take_errors()
    assert "longer than 10" in str(error) and error.head == b"y" * 10
    assert decoder.feed(b"y" * 1000) == []  # still the same frame: dropped as it comes
    assert decoder.buffered == 0 and decoder.error_count == 1
    assert decoder.feed(b"yy\nnext\n" + b"z" * 11 + b"\nlast\n") == [b"next", b"last"]
    assert decoder.error_count == 2 and len(decoder.take_errors()) == 1


def test_newline_frame_of_exactly_max_size_passes_one_more_byte_fails():
    decoder = framing.decoder("newline", max_size=5)
    assert decoder.feed(b"12345\n123456\n") == [b"12345"]
    assert decoder.error_count == 1
    assert decoder.feed(b"123") == [] and decoder.feed(b"45\n") == [b"12345"]
    assert decoder.feed(b"123") == [] and decoder.feed(b"456\nab\n") == [b"ab"]
    assert decoder.error_count == 2


@pytest.mark.parametrize("name", ["octet_counting", "length_prefix"])
def test_counted_over_long_frame_is_skipped_by_its_length(name):
    encode = framing.encoder(name)
    wire = encode([b"a", b"b" * 100, b"c"])
    decoder = framing.decoder(name, max_size=50)
    assert feed_all(decoder, [wire[i : i + 7] for i in range(0, len(wire), 7)]) == [b"a", b"c"]
    [error] = decoder.take_errors()
    assert "100 bytes" in str(error) and error.head == b"b" * 50  # the head, at most max_size bytes
    assert decoder.buffered == 0


def test_octet_counting_garbage_is_an_error_and_it_resynchronises_after_a_newline():
    decoder = framing.decoder("octet_counting")
    frames = decoder.feed(b"hello world\n5 fine!\nxx 3 abc\n3 abc")
    assert frames == [b"fine!", b"abc"]
    errors = decoder.take_errors()
    assert len(errors) == 2 and all("not an octet count" in str(e) for e in errors)
    assert errors[0].head.startswith(b"hello")


def test_octet_counting_a_header_without_end_is_bounded():
    decoder = framing.decoder("octet_counting", max_size=1000)
    assert decoder.feed(b"12") == [] and decoder.buffered == 2  # a count may still come
    assert decoder.feed(b"3456789") == []  # more digits than a count of at most 1000 has: garbage
    assert decoder.error_count == 1 and decoder.buffered == 0
    assert decoder.feed(b"\n0 \n") == []  # a zero count is no count either
    assert decoder.error_count == 2


@pytest.mark.parametrize("name", ["octet_counting", "length_prefix"])
def test_cut_inside_an_over_long_frame_reports_it_once_and_forgets_it(name):
    decoder = framing.decoder(name, max_size=50)
    wire = framing.encoder(name)([b"b" * 100, b"next"])
    assert decoder.feed(wire[:60]) == []  # inside the over-long frame: skipping it, not reported yet
    decoder.cut("connection closed by the stop")
    [error] = decoder.take_errors()
    assert "100 bytes" in str(error) and "closed by the stop before its end" in str(error)
    assert decoder.buffered == 0 and decoder.error_count == 1
    decoder.cut("again")  # nothing held: nothing reported
    assert decoder.take_errors() == [] and decoder.end() == []


@pytest.mark.parametrize("name", ["octet_counting", "length_prefix"])
def test_a_frame_cut_short_by_the_end_of_the_stream_is_a_truncated_error(name):
    decoder = framing.decoder(name)
    wire = framing.encoder(name)([b"whole", b"cut short"])
    assert decoder.feed(wire[:-3]) == [b"whole"]
    assert decoder.end() == []
    [error] = decoder.take_errors()
    assert "truncated" in str(error)


def test_memory_stays_bounded_whatever_the_peer_sends():
    rng = random.Random(7)
    for name in framing.DECODINGS:
        decoder = framing.decoder(name, max_size=100)
        for _ in range(2000):
            chunk = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 300)))
            decoder.feed(chunk)
            assert decoder.buffered <= 100 + 300 + 10, name
            decoder.take_errors()


def test_auto_chooses_octet_counting_for_a_digit_and_newline_otherwise():
    auto = framing.decoder("auto")
    assert auto.feed(b"3 abc5 <13>a") == [b"abc", b"<13>a"]
    assert isinstance(auto.chosen, framing.OctetCountingDecoder)
    auto = framing.decoder("auto", max_size=3)
    assert auto.feed(b"") == [] and auto.chosen is None
    assert auto.feed(b"<1>\n<13>1\n") == [b"<1>"]
    assert isinstance(auto.chosen, framing.NewlineDecoder)
    assert auto.error_count == 1 and len(auto.take_errors()) == 1 and auto.take_errors() == []


def test_newline_encoder_refuses_a_frame_holding_a_newline():
    with pytest.raises(FrameError, match="frame 1 holds a newline"):
        framing.encode_newline([b"a", b"b\nc"])
    assert framing.encode_newline([]) == b""


def test_unknown_names_and_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="unknown framing 'nul'"):
        framing.decoder("nul")
    with pytest.raises(ValueError, match="unknown framing 'auto'"):
        framing.encoder("auto")
    with pytest.raises(ValueError, match="at least 1 byte"):
        framing.decoder("newline", max_size=0)
    with pytest.raises(FrameError, match="empty frame"):
        framing.encode_octet_counting([b""])


@pytest.mark.parametrize("name", ["octet_counting", "length_prefix", "auto"])
def test_a_whole_buffer_and_a_byte_at_a_time_give_the_same_frames_and_errors(name):
    # fed whole, the complete frames take the fast path; a byte at a time, every one the careful loop
    encode = framing.encoder("length_prefix" if name == "length_prefix" else "octet_counting")
    good = [b"a", b"bb" * 20, "héllo\n".encode()]
    counted = name != "length_prefix"  # octet counting: separators between frames, garbage resynchronised
    crlf, lf, bad = (b"\r\n", b"\n", b"garbage line\n") if counted else (b"", b"", b"")
    wire = encode(good) + crlf + encode([b"x" * 100]) + bad + encode(good) + lf + encode(good)[:-2]
    results = []
    for chunks in ([wire], [wire[i : i + 1] for i in range(len(wire))], cut(wire, random.Random(name))):
        decoder = framing.decoder(name, max_size=64)
        frames = feed_all(decoder, chunks)
        results.append((frames, [e.reason for e in decoder.take_errors()], decoder.error_count))
    assert results[0] == results[1] == results[2]
    frames, reasons, count = results[0]  # (a garbage error's head is what the chunk held: not compared)
    assert frames == good * 2 + good[:2]
    assert "longer than 64" in reasons[0] and "truncated" in reasons[-1]
    assert count == len(reasons) == (3 if bad else 2)  # too long, garbage, truncated
