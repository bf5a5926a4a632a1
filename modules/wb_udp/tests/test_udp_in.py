"""udp_in on real sockets on 127.0.0.1, fed by other processes and by plain sockets."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time

import gevent
import gevent.socket
import pytest
from wb_udp import UDPIn
from wishbone import BootstrapError, Pipeline
from wishbone.testing import Harness, bootstrap, free_udp_port


def build(modules: dict, routes: dict) -> Pipeline:
    """The pipeline of :func:`wishbone.testing.bootstrap`'s document."""
    return Pipeline.from_dict(bootstrap(modules, routes))


WORKER = str(pathlib.Path(__file__).parent / "udp_worker.py")


def send(port: int, *datagrams: bytes) -> tuple[str, int]:
    """Send *datagrams* from one plain socket; return its address."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        for d in datagrams:
            s.sendto(d, ("127.0.0.1", port))
        return s.getsockname()


def test_hundred_thousand_datagrams_from_another_process_all_arrive(start_sender, wait_process, wait_until, udp_reader):
    p = build({"udp": ("udp_in", {"port": 0}), "sink": ("null", {})}, {"udp.outbox": ["sink.inbox"]})
    with gevent.Timeout(60):
        p.start()
        udp = p.modules["udp"]
        sender = start_sender(udp.port, 100_000, "--rate", "25000", "--size", "100")
        wait_process(sender, 30)
        wait_until(lambda: p.modules["sink"].consumed >= 100_000, 20, "100,000 events at the sink")
        assert p.stop(10)
    snap = p.snapshot()
    assert snap["modules"]["sink"]["consumed"] == 100_000
    assert snap["modules"]["udp"]["datagrams"] == 100_000
    assert snap["modules"]["udp"]["decode_failures"] == 0
    assert snap["modules"]["udp"]["kernel_drops"] == 0
    assert snap["queues"]["udp.outbox"]["dropped"] == 0
    assert not [g for m in p.modules.values() for g in m.greenlets() if not g.dead]


def test_garbage_empty_and_60kb_datagrams_arrive_intact_as_raw_bytes(udp_reader):
    garbage = bytes(range(256)) * 4
    big = os.urandom(60_000)
    with gevent.Timeout(10), Harness(UDPIn, {"port": 0}) as h:
        addr = send(h.module.port, garbage, b"", big)
        events = h.collect("outbox", 3)
    assert [e["data"] for e in events] == [garbage, b"", big]
    assert events[0]["headers"] == {"udp": {"peer": [addr[0], addr[1]]}}
    assert h.module.metrics()["datagrams"] == 3


def test_text_decoding_and_invalid_utf8_goes_to_failed(udp_reader):
    with gevent.Timeout(10), Harness(UDPIn, {"port": 0, "decode": "text"}) as h:
        send(h.module.port, "héllo\n".encode(), b"\xff\xfe bad", b"")
        good = h.collect("outbox", 2)
        [bad] = h.collect("failed", 1)
    assert [e["data"] for e in good] == ["héllo\n", ""]
    assert bad["data"] == b"\xff\xfe bad"
    assert bad["headers"]["error"]["type"] == "CodecError"
    assert bad["headers"]["error"]["message"] == "invalid UTF-8 at byte 0: invalid start byte"


def test_lines_decoding_strips_the_newline_echo_adds_and_splits_lines(udp_reader):
    # `echo hello | nc -u` sends "hello\n"; with decode text the newline stays (above), with lines it goes
    with gevent.Timeout(10), Harness(UDPIn, {"port": 0, "decode": "lines"}) as h:
        addr = send(h.module.port, b"hello\n", b"one\r\ntwo\nthree", b"", b"\n", "é\n".encode())
        events = h.collect("outbox", 6)
        gevent.sleep(0.05)
        metrics = h.module.metrics()
    assert [e["data"] for e in events] == ["hello", "one", "two", "three", "", "é"]
    assert all(e["headers"] == {"udp": {"peer": [addr[0], addr[1]]}} for e in events)
    assert len({id(e["headers"]) for e in events}) == 6  # each event its own headers
    assert metrics["datagrams"] == 5 and metrics["events"] == 6 and metrics["decode_failures"] == 0


def test_lines_a_datagram_with_invalid_utf8_fails_whole_with_the_reason():
    with gevent.Timeout(10), Harness(UDPIn, {"port": 0, "decode": "lines"}) as h:
        send(h.module.port, b"good\nba\xffd\n", b"after\n")
        [bad] = h.collect("failed", 1)
        [after] = h.collect("outbox", 1)
    assert bad["data"] == b"good\nba\xffd\n"
    assert bad["headers"]["error"]["message"] == "invalid UTF-8 at byte 7: invalid start byte"
    assert after["data"] == "after"
    assert h.module.metrics()["decode_failures"] == 1


@pytest.mark.parametrize(
    ("decode", "datagram", "data"),
    [
        ("json_lines", b'{"a": 1}\n[2]\n', [{"a": 1}, [2]]),
        ("ndjson", b'"x"\n', ["x"]),
        ("msgpack", b"\x82\xa1a\x01\xa1b\xc4\x02\xff\x00", [{"a": 1, "b": b"\xff\x00"}]),
        ("json", b'"just a string"', ["just a string"]),
    ],
)
def test_every_codec_of_the_core_decodes_datagrams(decode, datagram, data):
    with gevent.Timeout(10), Harness(UDPIn, {"port": 0, "decode": decode}) as h:
        send(h.module.port, datagram)
        events = h.collect("outbox", len(data))
    assert [e["data"] for e in events] == data


def test_msgpack_garbage_goes_to_failed_with_the_reason():
    with gevent.Timeout(10), Harness(UDPIn, {"port": 0, "decode": "msgpack"}) as h:
        send(h.module.port, b"\xc1")
        [bad] = h.collect("failed", 1)
    assert bad["headers"]["error"]["message"].startswith("not MessagePack: ")


def test_json_decoding_errors_are_routed_to_failed_and_counted(wait_until):
    p = build(
        {"udp": ("udp_in", {"port": 0, "decode": "json"}), "sink": ("null", {}), "bad": ("null", {})},
        {"udp.outbox": ["sink.inbox"], "udp.failed": ["bad.inbox"]},
    )
    with gevent.Timeout(20):
        p.start()
        port = p.modules["udp"].port
        send(port, b'{"a": 1}', b"not json", b"", b"[1, 2", b"\xff", b'"text"', b"[" * 60_000)
        wait_until(lambda: p.modules["sink"].consumed + p.modules["bad"].consumed >= 7, 10, "7 datagrams")
        assert p.stop(5)
    snap = p.snapshot()
    assert snap["modules"]["sink"]["consumed"] == 2
    assert snap["modules"]["bad"]["consumed"] == 5
    assert snap["modules"]["udp"]["decode_failures"] == 5
    assert snap["queues"]["udp.failed"] == {"in": 5, "out": 5, "dropped": 0, "size": 0}


def test_json_decoding_errors_show_the_reason_and_raw_bytes(udp_reader):
    with gevent.Timeout(10), Harness(UDPIn, {"port": 0, "decode": "json"}) as h:
        send(h.module.port, b'{"a": [1, 2]}', b"{oops")
        [good] = h.collect("outbox", 1)
        [bad] = h.collect("failed", 1)
    assert good["data"] == {"a": [1, 2]}
    assert bad["data"] == b"{oops"
    assert bad["headers"]["error"]["type"] == "CodecError"
    assert bad["headers"]["error"]["message"].startswith("not JSON: ")
    assert bad["headers"]["error"]["module"] == h.module.name
    assert "udp" in bad["headers"]


def test_unrouted_failed_queue_counts_the_datagrams_as_dropped(wait_until):
    p = build({"udp": ("udp_in", {"port": 0, "decode": "json"}), "sink": ("null", {})}, {"udp.outbox": ["sink.inbox"]})
    with gevent.Timeout(10):
        p.start()
        send(p.modules["udp"].port, b"bad", b"1")
        wait_until(lambda: p.modules["udp"].decode_failures == 1 and p.modules["sink"].consumed == 1, 5, "both")
        assert p.stop(5)
    assert p.snapshot()["queues"]["udp.failed"]["dropped"] == 1


def test_datagram_longer_than_max_size_goes_to_failed_not_cut_short(udp_reader):
    with gevent.Timeout(10), Harness(UDPIn, {"port": 0, "max_size": 1000}) as h:
        send(h.module.port, b"a" * 1000, b"b" * 1001)
        [ok] = h.collect("outbox", 1)
        [bad] = h.collect("failed", 1)
    assert ok["data"] == b"a" * 1000
    assert "max_size" in bad["headers"]["error"]["message"]
    assert bad["data"] == b"b" * 1001  # its bytes, whole


def test_two_processes_share_a_port_with_so_reuseport(start_sender, wait_process, read_line):
    # two workers of one server (this test process plays their supervisor; see wb_udp.ownership)
    port = free_udp_port()
    env = {**os.environ, "WISHBONE_SERVER_PID": str(os.getpid())}
    workers = [
        subprocess.Popen(
            [sys.executable, WORKER, str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        for _ in range(2)
    ]
    try:
        for w in workers:
            assert read_line(w, 20).strip() == "ready"
        sender = start_sender(port, 6400, "--sockets", "64", "--rate", "20000")
        wait_process(sender, 20)
        gevent.sleep(0.5)  # let the workers drain their sockets
        counts = []
        for w in workers:
            w.send_signal(signal.SIGTERM)
            out, err = w.communicate(timeout=20)
            assert w.returncode == 0, err
            counts.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.wait(5)
    assert all(c["datagrams"] > 0 for c in counts), counts
    assert sum(c["consumed"] for c in counts) == 6400


def test_receive_buffer_is_asked_for_and_reported():
    with gevent.Timeout(10), Harness(UDPIn, {"port": 0, "buffer_size": 4 << 20}) as h:
        granted = h.module.buffer_granted
    # Linux reports double what it was asked (bookkeeping); without privileges rmem_max caps it
    assert granted >= min(4 << 20, int(pathlib.Path("/proc/sys/net/core/rmem_max").read_text()))


def test_intake_stops_promptly_and_leaves_no_greenlet():
    p = build({"udp": ("udp_in", {"port": 0}), "sink": ("null", {})}, {"udp.outbox": ["sink.inbox"]})
    with gevent.Timeout(10):
        p.start()
        gevent.sleep(0.05)
        started = time.monotonic()
        assert p.stop(5)
        assert time.monotonic() - started < 0.15  # woken at once, not at the next idle check (0.2 s)
    assert not [g for g in p.modules["udp"].greenlets() if not g.dead]
    assert not p.modules["udp"].ready


def test_a_stop_first_reads_what_the_kernel_already_holds(udp_reader):
    p = build({"udp": ("udp_in", {"port": 0}), "sink": ("null", {})}, {"udp.outbox": ["sink.inbox"]})
    with gevent.Timeout(10):
        p.start()
        send(p.modules["udp"].port, *(b"%d" % i for i in range(3000)))  # no yield: all wait in the kernel
        assert p.stop(5)
    assert (p.modules["udp"].datagrams, p.modules["sink"].consumed) == (3000, 3000)


def test_a_port_taken_without_reuseport_is_a_clear_error():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        p = build({"udp": ("udp_in", {"port": port}), "sink": ("null", {})}, {"udp.outbox": ["sink.inbox"]})
        with gevent.Timeout(10), pytest.raises(OSError, match=f"cannot listen on udp 127.0.0.1:{port}"):
            p.start()
        p.stop(2)


@pytest.mark.parametrize(
    ("variables", "needle"),
    [({"port": 70000}, "port"), ({"port": 1, "max_size": 0}, "max_size"), ({"port": 1, "decode": "xml"}, "decode")],
)
def test_bad_parameters_are_load_errors(variables, needle):
    with pytest.raises(BootstrapError, match=needle) as info:
        build({"udp": ("udp_in", variables), "sink": ("null", {})}, {"udp.outbox": ["sink.inbox"]})
    if needle == "decode":  # the codecs are named, with the path of the parameter
        assert "bootstrap.udp" in str(info.value) and "raw, text, lines, json, json_lines, msgpack" in str(info.value)


def test_gevent_socket_sender_in_the_same_process_does_not_starve(wait_until, udp_reader):
    # reader and sender share one hub: the reader must yield between batches
    p = build({"udp": ("udp_in", {"port": 0}), "sink": ("null", {})}, {"udp.outbox": ["sink.inbox"]})
    with gevent.Timeout(20):
        p.start()
        port = p.modules["udp"].port
        s = gevent.socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(5000):
            s.sendto(b"%d" % i, ("127.0.0.1", port))
            if i % 200 == 0:
                gevent.sleep(0)
        s.close()
        wait_until(lambda: p.modules["sink"].consumed == 5000, 10, "5000 events")
        assert p.stop(5)


def test_kernel_drops_are_counted_when_the_receive_buffer_overflows(wait_until):
    with gevent.Timeout(10), Harness(UDPIn, {"port": 0, "buffer_size": 4096}) as h:
        # the hub is held (no gevent wait): nothing reads while 1000 datagrams arrive
        send(h.module.port, *[b"%04d" % i for i in range(1000)])
        wait_until(lambda: h.module.metrics()["datagrams"] > 0, 5, "the first datagrams")
        gevent.sleep(0.1)
        metrics = h.module.metrics()
    assert metrics["kernel_drops"] > 0
    assert metrics["datagrams"] + metrics["kernel_drops"] == 1000


def test_ipv6_address(udp_reader):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    with gevent.Timeout(10), Harness(UDPIn, {"port": 0, "address": "::1"}) as h:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.sendto(b"v6", ("::1", h.module.port))
            [event] = h.collect("outbox", 1)
        assert event["headers"]["udp"]["peer"][0] == "::1"
        assert "kernel_drops" in h.module.metrics()


def test_ready_while_the_socket_is_bound():
    h = Harness(UDPIn, {"port": 0})
    assert not h.module.ready
    with gevent.Timeout(10), h:
        assert h.module.ready
    assert not h.module.ready
