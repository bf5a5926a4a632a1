"""Sends UDP datagrams at a paced rate from its own process (for the tests and the benchmark).

    python udp_sender.py PORT COUNT [--rate N] [--size BYTES] [--sockets N] [--host H]

Datagrams are numbered (``b"000042xxxx..."``) and padded to ``--size`` bytes; they are spread
round-robin over ``--sockets`` sending sockets (different source ports, for SO_REUSEPORT).
``--rate 0`` sends as fast as it can. Prints the number sent and the seconds it took.
"""

from __future__ import annotations

import argparse
import socket
import time


def main() -> None:
    """Parse the arguments and send."""
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("count", type=int)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--sockets", type=int, default=1)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(args.sockets)]
    for s in socks:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    target = (args.host, args.port)
    burst = 100
    pad = b"x" * max(0, args.size - 8)
    start = time.monotonic()
    sent = 0
    while sent < args.count:
        n = min(burst, args.count - sent)
        for i in range(sent, sent + n):
            socks[i % len(socks)].sendto(b"%08d" % i + pad, target)
        sent += n
        if args.rate:
            ahead = start + sent / args.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    print(sent, time.monotonic() - start, flush=True)


if __name__ == "__main__":
    main()
