"""Many datagrams per system call: ``recvmmsg(2)`` through ctypes, into buffers allocated once.

Python's socket module reads one datagram per call (``recvfrom``), and each call allocates a
bytes object of the size asked for, then shrinks it. At 100,000 syslog datagrams a second
that is most of a core. :class:`BatchReceiver` asks the kernel for up to ``slots``
datagrams in one ``recvmmsg`` call, each into its own slot of one buffer made at start, and
hands back each datagram as bytes and its sender as ``(host, port)`` (one tuple per distinct
sender, kept in a small cache). Linux only (glibc or musl); :func:`available` says whether
this platform has it, and the caller falls back to ``recvfrom`` otherwise.

The ctypes call releases the GIL like any system call from Python; the socket must be
non-blocking (``MSG_DONTWAIT`` is passed as well), so the call never waits: the reader waits
for readability with gevent first.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import struct
import sys

__all__ = ["BatchReceiver", "available"]

_MSG_DONTWAIT = 0x40
_NAME_SIZE = 28  # sizeof(struct sockaddr_in6), enough for IPv4 too
_MAX_BUFFER = 8 * 1024 * 1024  # bytes of slots at most (virtual; the kernel touches what it writes)
_PEER_CACHE = 4096  # distinct senders remembered before the cache starts again


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
    """True when this platform has ``recvmmsg`` (Linux)."""
    return _recvmmsg is not None


def _peer(name: bytes) -> tuple:
    family = int.from_bytes(name[:2], sys.byteorder)
    port = struct.unpack_from("!H", name, 2)[0]
    if family == socket.AF_INET6:
        return (socket.inet_ntop(socket.AF_INET6, name[8:24]), port)
    return (socket.inet_ntop(socket.AF_INET, name[4:8]), port)


class BatchReceiver:
    """Receives up to *slots* datagrams of at most *limit* bytes each per call from the socket *fd*.

    With *strip_newline*, one ``\\n`` at the end of a datagram is left out (syslog senders
    often end their datagrams with one) and not counted. A datagram longer than *limit*
    comes back cut to at least *limit* bytes, its index listed as too long.
    """

    def __init__(self, fd: int, limit: int, slots: int, strip_newline: bool = False) -> None:
        if _recvmmsg is None:
            raise OSError(errno.ENOSYS, "recvmmsg is not available on this platform")
        size = limit + 2  # room for the newline, and one byte more: a longer one is seen as such
        slots = max(1, min(slots, _MAX_BUFFER // size))
        self.fd, self.limit, self.size, self.slots, self.strip_newline = fd, limit, size, slots, strip_newline
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
        self._name_view = memoryview(self._names).cast("B")
        # the headers as 32-bit words: msg_namelen, msg_flags and msg_len are read and set there
        self._words = memoryview(self._headers).cast("B").cast("I")
        self._stride = ctypes.sizeof(_MMsgHdr) // 4
        self._len_at = _MMsgHdr.msg_len.offset // 4
        self._namelen_at = _MsgHdr.msg_namelen.offset // 4
        self._used = 0  # slots the last call filled: their name lengths are given back before the next
        self._peers: dict[bytes, tuple] = {}
        # per slot, once: where its length and name length are (in words), its data and name (in bytes)
        self._slots = [
            (
                i * self._stride + self._len_at,
                i * self._stride + self._namelen_at,
                i * size,
                i * _NAME_SIZE,
            )
            for i in range(slots)
        ]

    def receive(self) -> tuple[list[bytes], list[tuple], list[int]]:
        """(datagrams, their senders, the indexes of those too long); empty lists when none is waiting.

        Raises OSError for an error other than "nothing waiting" or an interrupted call.
        """
        words, slots = self._words, self._slots
        for _, namelen_at, _, _ in slots[: self._used]:  # the kernel wrote the sender's name length there
            words[namelen_at] = _NAME_SIZE
        self._used = 0
        count = _recvmmsg(self.fd, self._headers, self.slots, _MSG_DONTWAIT, None)
        if count <= 0:
            code = ctypes.get_errno() if count < 0 else 0
            if count == 0 or code in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                return [], [], []
            raise OSError(code, os.strerror(code))
        self._used = count
        data, names, peers = self._data, self._name_view, self._peers
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
            append_payload(data[start:end].tobytes())
            name = names[name_at : name_at + words[namelen_at]]
            if name != last_name:  # most batches come from one sender: compared, not hashed
                last_name = name.tobytes()
                peer = peers.get(last_name)
                if peer is None:
                    if len(peers) >= _PEER_CACHE:
                        peers.clear()
                    peer = peers[last_name] = _peer(last_name)
            append_sender(peer)
        return payloads, senders, too_long
