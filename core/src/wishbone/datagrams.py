"""Datagrams in batches from a non-blocking socket: ``recvmmsg(2)`` on Linux, ``recvfrom`` elsewhere.

Python's socket module reads one datagram per call (``recvfrom``), and each call allocates a
bytes object of the size asked for, then shrinks it. At 100,000 datagrams a second that is
most of a core. :class:`DatagramReader` asks the kernel for up to ``slots`` datagrams in one
``recvmmsg`` call (through ctypes), each into its own slot of one buffer made at start, and
hands back each datagram as bytes and its sender as ``(host, port)`` (one tuple per distinct
sender, kept in a small cache). Where ``recvmmsg`` is missing (:func:`available` is False:
not Linux) it reads one ``recvfrom`` per datagram, up to ``slots``, and answers the same.

The socket must be non-blocking: a call never waits (``MSG_DONTWAIT`` is passed as well), so
the caller waits for readability first (with gevent), then calls :meth:`DatagramReader.receive`
until it returns fewer than ``slots`` datagrams. Used by ``udp_in`` and ``syslog_in``.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
import sys

__all__ = ["DatagramReader", "available"]

_MSG_DONTWAIT = 0x40
_NAME_SIZE = 28  # sizeof(struct sockaddr_in6), enough for IPv4 too
_MAX_BUFFER = 8 * 1024 * 1024  # bytes of slots at most (virtual; the kernel touches what it writes)
_PEER_CACHE = 4096  # distinct senders remembered before the cache starts again
_NOTHING = (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR)


class _IOVec(ctypes.Structure):
    _fields_ = (("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t))


class _MsgHdr(ctypes.Structure):
    _fields_ = (
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.POINTER(_IOVec)),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    )


class _MMsgHdr(ctypes.Structure):
    _fields_ = (("msg_hdr", _MsgHdr), ("msg_len", ctypes.c_uint))


def _load():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        call = libc.recvmmsg
    except (OSError, AttributeError):
        return None
    call.argtypes = (ctypes.c_int, ctypes.POINTER(_MMsgHdr), ctypes.c_uint, ctypes.c_int, ctypes.c_void_p)
    call.restype = ctypes.c_int
    return call


_recvmmsg = _load()


def available() -> bool:
    """True when this platform has ``recvmmsg`` (Linux, glibc or musl)."""
    return _recvmmsg is not None


def _peer(name: bytes) -> tuple:
    family = int.from_bytes(name[:2], sys.byteorder)
    port = struct.unpack_from("!H", name, 2)[0]
    if family == socket.AF_INET6:
        return (socket.inet_ntop(socket.AF_INET6, name[8:24]), port)
    return (socket.inet_ntop(socket.AF_INET, name[4:8]), port)


class DatagramReader:
    """Reads up to *slots* datagrams of at most *limit* bytes each per :meth:`receive` from *sock*.

    *sock* is a non-blocking UDP (``SOCK_DGRAM``) socket; the reader does not own it (the
    caller closes it). With *strip_newline*, one ``\\n`` at the end of a datagram is left out
    (syslog senders often end their datagrams with one) and not counted against *limit*. A
    datagram longer than *limit* comes back cut to a little more than *limit* bytes, its index
    listed as too long. *batched* chooses the way: True ``recvmmsg`` (OSError ENOSYS where
    there is none), False one ``recvfrom`` per datagram, None (default) ``recvmmsg`` where
    :func:`available`. ``slots`` may come out smaller than asked: the ``recvmmsg`` buffer is
    at most 8 MiB (e.g. 128 slots of 64 KiB).
    """

    def __init__(
        self, sock: socket.socket, limit: int, slots: int, strip_newline: bool = False, batched: bool | None = None
    ) -> None:
        if limit < 0 or slots < 1:
            raise ValueError(f"limit must be 0 or more bytes and slots 1 or more, got {limit} and {slots}")
        if batched is None:
            batched = available()
        elif batched and _recvmmsg is None:
            raise OSError(errno.ENOSYS, "recvmmsg is not available on this platform")
        size = limit + 1 + int(strip_newline)  # one byte more than a datagram may have: a longer one is seen
        if batched:
            slots = max(1, min(slots, _MAX_BUFFER // size))
        self.sock, self.limit, self.size, self.slots = sock, limit, size, slots
        self.strip_newline, self.batched = strip_newline, batched
        #: What the last call left unsaid: an error after some datagrams were read, raised next time.
        self._error: OSError | None = None
        if batched:
            self._setup()
            self._receive = self._receive_batched
        else:
            self._receive = self._receive_one_by_one
            self._recvfrom = sock.recvfrom
            self._ipv6 = sock.family == socket.AF_INET6  # (host, port, flowinfo, scope_id): cut to 2

    def receive(self) -> tuple[list[bytes], list[tuple], list[int]]:
        """(datagrams, their senders, the indexes of those too long); empty lists when none is waiting.

        A call reads what is waiting, up to ``slots`` datagrams; fewer than ``slots`` means the
        socket was empty. An interrupted call (EINTR) counts as nothing waiting: the socket
        stays readable, and the caller's next wait returns at once. Raises OSError for any other
        error (e.g. an ICMP error the kernel reports on the socket); the socket stays usable.
        """
        return self._receive()

    # ------------------------------------------------------------------ recvmmsg
    def _setup(self) -> None:
        size, slots = self.size, self.slots
        self._fd = self.sock.fileno()
        self._buffer = (ctypes.c_char * (size * slots))()
        self._names = (ctypes.c_char * (_NAME_SIZE * slots))()
        self._iovecs = (_IOVec * slots)()
        self._headers = (_MMsgHdr * slots)()
        base, names = ctypes.addressof(self._buffer), ctypes.addressof(self._names)
        for i in range(slots):
            self._iovecs[i].iov_base = base + i * size
            self._iovecs[i].iov_len = size
            header = self._headers[i].msg_hdr
            header.msg_name = names + i * _NAME_SIZE
            header.msg_namelen = _NAME_SIZE
            header.msg_iov = ctypes.pointer(self._iovecs[i])
            header.msg_iovlen = 1
        self._data = memoryview(self._buffer).cast("B")
        # the headers as 32-bit words: msg_namelen and msg_len are read and set there
        self._words = memoryview(self._headers).cast("B").cast("I")
        stride = ctypes.sizeof(_MMsgHdr) // 4
        len_at, namelen_at = _MMsgHdr.msg_len.offset // 4, _MsgHdr.msg_namelen.offset // 4
        self._used = 0  # slots the last call filled: their name lengths are given back before the next
        self._peers: dict[bytes, tuple] = {}
        # per slot, once: where its length and name length are (in words), its data and name (in bytes)
        self._slots = [(i * stride + len_at, i * stride + namelen_at, i * size, i * _NAME_SIZE) for i in range(slots)]

    def _receive_batched(self) -> tuple[list[bytes], list[tuple], list[int]]:
        words, slots = self._words, self._slots
        for _, namelen_at, _, _ in slots[: self._used]:  # the kernel wrote the sender's name length there
            words[namelen_at] = _NAME_SIZE
        self._used = 0
        count = _recvmmsg(self._fd, self._headers, self.slots, _MSG_DONTWAIT, None)
        if count <= 0:
            code = ctypes.get_errno() if count < 0 else 0
            if count == 0 or code in _NOTHING:
                return [], [], []
            raise OSError(code, os.strerror(code))
        self._used = count
        # slices of the ctypes arrays are bytes at once (no memoryview made per datagram); the
        # byte before the end is read through the memoryview (an int, not a bytes of one)
        data, buffer, names, peers = self._data, self._buffer, self._names, self._peers
        strip, limit = self.strip_newline, self.limit
        payloads: list[bytes] = []
        senders: list[tuple] = []
        too_long: list[int] = []
        append_payload, append_sender = payloads.append, senders.append
        last_name, peer = b"", None
        for i, (len_at, namelen_at, start, name_at) in enumerate(slots[:count]):
            end = start + words[len_at]
            if strip and end > start and data[end - 1] == 10:
                end -= 1
            if end - start > limit:  # MSG_TRUNC is set too when the kernel had more than a slot holds
                too_long.append(i)
            append_payload(buffer[start:end])
            name = names[name_at : name_at + words[namelen_at]]
            if name != last_name:  # most batches come from one sender: compared, not hashed
                last_name = name
                peer = peers.get(last_name)
                if peer is None:
                    if len(peers) >= _PEER_CACHE:
                        peers.clear()
                    peer = peers[last_name] = _peer(last_name)
            append_sender(peer)
        return payloads, senders, too_long

    # ------------------------------------------------------------------ recvfrom
    def _receive_one_by_one(self) -> tuple[list[bytes], list[tuple], list[int]]:
        error = self._error
        if error is not None:
            self._error = None
            raise error
        recvfrom, size, limit, strip, ipv6 = self._recvfrom, self.size, self.limit, self.strip_newline, self._ipv6
        payloads: list[bytes] = []
        senders: list[tuple] = []
        too_long: list[int] = []
        try:
            for i in range(self.slots):
                data, peer = recvfrom(size)
                if strip and data[-1:] == b"\n":
                    data = data[:-1]
                if len(data) > limit:
                    too_long.append(i)
                payloads.append(data)
                senders.append(peer[:2] if ipv6 else peer)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:  # what came before it is handed back now, the error next time
            if not payloads:
                raise
            self._error = exc
        return payloads, senders, too_long
