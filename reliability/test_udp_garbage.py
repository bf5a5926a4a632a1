"""UDP bad input on a real socket: random bytes, empty and maximum-size datagrams, invalid UTF-8 and
invalid JSON, with decoding text or json: each counted to ``failed``, and the input keeps receiving."""

from __future__ import annotations

import json
import math
import random
import socket
import time

import gevent
import pytest
from wb_udp import UDPIn
from wishbone.pipeline import Pipeline
from wishbone.testing import load_bootstrap

from reliability.fixture_modules import CountingSink

MAX_IPV4_PAYLOAD = 65507
GOOD_AFTER = 500


def _garbage(seed: int) -> list[bytes]:
    rnd = random.Random(seed)
    datagrams = [rnd.randbytes(rnd.randint(1, 2000)) for _ in range(200)]
    datagrams += [b"", b"\xff\xfe\xfd", b"\xc3\x28", b"\xed\xa0\x80", b'{"a": "\xff"}', b"{", b"[1,", b"nul"]
    datagrams += [b"\x00" * 1000, "é".encode("latin-1") * 10, b"NaN", b"1e999999", b'"' + b"\\u" * 100 + b'"']
    datagrams += [rnd.randbytes(MAX_IPV4_PAYLOAD), b"x" * MAX_IPV4_PAYLOAD, json.dumps("y" * 65000).encode()]
    datagrams += [b"[" * 50_000 + b"]" * 10_000]  # deep nesting: RecursionError inside json.loads
    return datagrams


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} overflows")
    return value


def _refuse(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _decodes(data: bytes, decode: str) -> bool:
    try:
        text = data.decode("utf-8")
        if decode == "json":  # RFC 8259, as wishbone.codec: no NaN, no Infinity, no number that overflows
            json.loads(text, parse_constant=_refuse, parse_float=_finite)
    except (ValueError, RecursionError):
        return False
    return True


def _pump(sock: socket.socket, port: int, datagrams: list[bytes]) -> None:
    for i, d in enumerate(datagrams):
        sock.sendto(d, ("127.0.0.1", port))
        if i % 20 == 19:
            gevent.sleep(0.001)  # the pipeline runs on this thread's hub: let it read


@pytest.mark.parametrize("decode", ["text", "json"])
def test_garbage_is_counted_to_failed_and_the_input_keeps_receiving(decode, record):
    boot_doc = load_bootstrap(
        {
            "input": (UDPIn, {"port": 0, "decode": decode}),
            "good": (CountingSink, {}),
            "bad": (CountingSink, {}),
        },
        {"input.outbox": ["good.inbox"], "input.failed": ["bad.inbox"]},
    )
    garbage = _garbage(seed=8)
    expected_bad = sum(not _decodes(d, decode) for d in garbage)
    expected_good = len(garbage) - expected_bad
    started = time.monotonic()
    with gevent.Timeout(60), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        pipeline = Pipeline(boot_doc, load_entry_points=False)
        pipeline.start()
        port = pipeline.modules["input"].port
        good, bad = pipeline.modules["good"], pipeline.modules["bad"]
        _pump(sender, port, garbage)
        while bad.count + good.count < len(garbage) and time.monotonic() - started < 30:
            gevent.sleep(0.01)
        after = [json.dumps({"n": i}).encode() for i in range(GOOD_AFTER)]
        _pump(sender, port, after)
        while good.count < expected_good + GOOD_AFTER and time.monotonic() - started < 40:
            gevent.sleep(0.01)
        assert pipeline.stop(10)
    snap = pipeline.snapshot()["modules"]["input"]
    record(
        decode=decode,
        sent=len(garbage) + GOOD_AFTER,
        garbage=len(garbage),
        expected_failed=expected_bad,
        decode_failures=snap["decode_failures"],
        received=snap["datagrams"],
        delivered_good=good.count,
        delivered_failed=bad.count,
        lost=len(garbage) + GOOD_AFTER - good.count - bad.count,
        kernel_drops=snap.get("kernel_drops"),
    )
    assert snap["datagrams"] == len(garbage) + GOOD_AFTER
    assert snap["decode_failures"] == expected_bad == bad.count
    assert good.count == expected_good + GOOD_AFTER
    assert snap.get("kernel_drops", 0) == 0
