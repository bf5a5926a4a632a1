"""wishbone.datagrams on real sockets on 127.0.0.1 and ::1: both ways of reading (recvmmsg, recvfrom)."""

from __future__ import annotations

import errno
import signal
import socket

import pytest
from wishbone import datagrams
from wishbone.datagrams import DatagramReader

pytestmark = pytest.mark.timeout(30)


def _ipv6() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture(params=["recvmmsg", "recvfrom"])
def batched(request) -> bool:
    """Each test twice: many datagrams per call (Linux), one recvfrom per datagram (elsewhere)."""
    if request.param == "recvmmsg" and not datagrams.available():
        pytest.skip("recvmmsg is Linux only")
    return request.param == "recvmmsg"


@pytest.fixture(params=["127.0.0.1", "::1"])
def pair(request):
    """(receiver, sender): two UDP sockets on the loopback, the receiver non-blocking."""
    host = request.param
    if ":" in host and not _ipv6():
        pytest.skip("no IPv6 loopback here")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    rx, tx = socket.socket(family, socket.SOCK_DGRAM), socket.socket(family, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    rx.bind((host, 0))
    tx.bind((host, 0))
    rx.setblocking(False)
    yield rx, tx
    rx.close()
    tx.close()


def _send(tx: socket.socket, rx: socket.socket, *payloads: bytes) -> None:
    for payload in payloads:
        tx.sendto(payload, rx.getsockname())


def _drain(reader: DatagramReader) -> tuple[list[bytes], list[tuple], list[int]]:
    """Everything waiting, over as many calls as it takes (too-long indexes made absolute)."""
    payloads, peers, too_long = [], [], []
    while True:
        got, senders, long_ones = reader.receive()
        too_long += [len(payloads) + i for i in long_ones]
        payloads += got
        peers += senders
        if len(got) < reader.slots:
            return payloads, peers, too_long


def test_datagrams_arrive_whole_in_order_with_their_sender(pair, batched):
    rx, tx = pair
    sent = [b"", b"x", b"\x00\xff" * 700, b"line\n", b"y" * 60_000, b""]
    _send(tx, rx, *sent)
    reader = DatagramReader(rx, 65535, 64, batched=batched)
    assert reader.batched is batched
    payloads, peers, too_long = reader.receive()
    assert payloads == sent  # the empty datagrams too, and the newline kept
    assert peers == [tx.getsockname()[:2]] * len(sent)  # (host, port), IPv6 as well
    assert too_long == []
    assert reader.receive() == ([], [], [])  # nothing waiting: empty, no exception


def test_more_than_slots_waiting_takes_several_calls(pair, batched):
    rx, tx = pair
    sent = [b"%d" % i for i in range(250)]
    _send(tx, rx, *sent)
    reader = DatagramReader(rx, 100, 100, batched=batched)
    first, _, _ = reader.receive()
    assert len(first) == reader.slots == 100  # full: the caller reads on
    rest, _, _ = _drain(reader)
    assert first + rest == sent


def test_too_long_and_largest_datagrams_are_listed_not_lost(pair, batched):
    rx, tx = pair
    largest = 65507 if rx.family == socket.AF_INET else 65527  # the most a UDP datagram carries over IPv4/IPv6
    _send(tx, rx, b"a" * 1000, b"b" * 1001, b"c" * largest, b"after")
    payloads, peers, too_long = _drain(DatagramReader(rx, 1000, 10, batched=batched))
    assert too_long == [1, 2]  # their index; the reader goes on after them
    assert payloads[0] == b"a" * 1000 and payloads[3] == b"after"
    assert payloads[1].startswith(b"b") and payloads[2].startswith(b"c")
    assert 1000 < len(payloads[1]) <= 1001 and 1000 < len(payloads[2]) <= 1001  # cut, but seen as too long
    assert len(peers) == 4
    _send(tx, rx, b"d" * largest)
    whole, _, none_long = _drain(DatagramReader(rx, 65535, 10, batched=batched))
    assert whole == [b"d" * largest] and none_long == []


def test_strip_newline_leaves_one_newline_out_and_does_not_count_it(pair, batched):
    rx, tx = pair
    _send(tx, rx, b"a\n", b"b\n\n", b"x" * 10 + b"\n", b"y" * 11 + b"\n", b"z" * 11, b"\n", b"")
    payloads, _, too_long = _drain(DatagramReader(rx, 10, 16, strip_newline=True, batched=batched))
    assert payloads[:3] == [b"a", b"b\n", b"x" * 10]
    assert too_long == [3, 4]
    assert payloads[5:] == [b"", b""]


def test_an_error_reported_on_the_socket_is_raised_once_and_loses_no_datagram(pair, batched):
    rx, tx = pair
    rx.connect(tx.getsockname())
    _send(tx, rx, b"one", b"two")
    gone = tx.getsockname()
    tx.close()
    rx.send(b"to a closed port")  # the kernel gets ICMP port unreachable back: ECONNREFUSED on rx
    reader = DatagramReader(rx, 100, 10, batched=batched)
    payloads, peers, errors = [], [], []
    for _ in range(4):  # Linux reports the error first, then the datagrams; either order loses nothing
        try:
            got, senders, _ = reader.receive()
        except OSError as exc:
            errors.append(exc.errno)
            continue
        payloads += got
        peers += senders
    assert errors == [errno.ECONNREFUSED]
    assert (payloads, peers) == ([b"one", b"two"], [gone[:2]] * 2)


def test_signals_during_the_calls_lose_nothing(pair, batched):
    rx, tx = pair
    fired = [0]

    def count(signum, frame):
        fired[0] += 1

    old = signal.signal(signal.SIGALRM, count)
    signal.siginterrupt(signal.SIGALRM, True)  # no SA_RESTART: a system call under way is interrupted
    signal.setitimer(signal.ITIMER_REAL, 0.0002, 0.0002)
    try:
        reader = DatagramReader(rx, 1000, 32, batched=batched)
        got: list[bytes] = []
        for n in range(200):
            _send(tx, rx, *(b"%d" % (n * 50 + i) for i in range(50)))
            got += _drain(reader)[0]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert fired[0] > 0
    assert got == [b"%d" % i for i in range(10_000)]


def test_recvmmsg_slots_are_capped_to_an_8_mib_buffer():
    if not datagrams.available():
        pytest.skip("recvmmsg is Linux only")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        reader = DatagramReader(rx, 65535, 1000)
        assert reader.batched and reader.slots == (8 << 20) // 65536
        assert DatagramReader(rx, 65535, 1000, batched=False).slots == 1000  # recvfrom needs no buffer


def test_bad_arguments_are_refused():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        with pytest.raises(ValueError, match="slots"):
            DatagramReader(rx, 100, 0)
        if not datagrams.available():
            with pytest.raises(OSError, match="recvmmsg"):
                DatagramReader(rx, 100, 10, batched=True)
