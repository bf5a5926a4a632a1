"""What the kernel does with a UDP socket: the receive buffer it grants, the datagrams it drops.

Drops are read from ``/proc/net/udp`` (and ``udp6``): each socket has a line there, found by
its inode, whose last column counts the datagrams the kernel dropped because the socket's
receive buffer was full (or a checksum failed). Reading the file costs one small read per
metrics interval and nothing per datagram (``SO_RXQ_OVFL`` would need ``recvmsg`` and its
ancillary data on every datagram). Where there is no ``/proc`` the count is unknown.
"""

from __future__ import annotations

import os
import socket
import sys

__all__ = ["inode_of", "kernel_drops", "set_receive_buffer"]

# Not exported by Python's socket module; Linux value. Privileged processes may use it to go
# past net.core.rmem_max.
_SO_RCVBUFFORCE = 33


def set_receive_buffer(sock: socket.socket, size: int) -> int:
    """Ask for a *size*-byte receive buffer; return what the kernel reports it gave.

    Tries ``SO_RCVBUFFORCE`` first on Linux (it passes ``net.core.rmem_max`` when the process
    may, e.g. as root), then ``SO_RCVBUF`` (capped at ``rmem_max``). Linux reports twice the
    asked size: it counts its bookkeeping in the buffer.
    """
    if size > 0:
        forced = False
        if sys.platform.startswith("linux"):
            try:
                sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, size)
                forced = True
            except OSError:
                pass
        if not forced:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


def kernel_drops(inode: int) -> int | None:
    """Datagrams the kernel dropped for the socket with *inode*; None if unknown."""
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table, "rb") as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        wanted = str(inode).encode()
        for line in lines:
            fields = line.split()
            # sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
            if len(fields) >= 13 and fields[9] == wanted:
                return int(fields[-1])
    return None


def inode_of(sock: socket.socket) -> int:
    """The inode that names *sock* in ``/proc/net/udp``."""
    return os.fstat(sock.fileno()).st_ino
