"""Watching a running server: ``top`` (rates, sizes, drops) and ``tap NAME.QUEUE`` (a sample of events).

Both talk to every worker's control socket (:mod:`wishbone.controlsocket`), found beside the
pidfile (``<pidfile>.<instance>.sock``). Plain sockets and ``selectors``: nothing here starts a
gevent hub.
"""

from __future__ import annotations

import argparse
import glob
import json
import re
import selectors
import socket
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wishbone.server import ParallelServer

__all__ = ["tap", "top"]

CLEAR = "\x1b[H\x1b[2J"  # cursor home, clear screen: a redraw in place without curses


def _sockets(server: ParallelServer, args: argparse.Namespace, command: str) -> list[str] | None:
    found = sorted(glob.glob(glob.escape(args.pid) + ".*.sock"), key=lambda p: int(re.findall(r"\.(\d+)\.sock$", p)[0]))
    found = [p for p in found if re.search(r"\.\d+\.sock$", p)]
    if not found:
        print(
            f"{server.prog}: {command}: no control socket beside {args.pid} ({args.pid}.N.sock): "
            f"is {server.name} running with this pidfile?",
            file=sys.stderr,
        )
        return None
    return found


def _connect(path: str, request: dict, timeout: float = 5.0) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    conn.connect(path)
    conn.sendall(json.dumps(request).encode() + b"\n")
    return conn


def snapshots(paths: list[str]) -> list[dict]:
    """One snapshot from each worker's control socket (a worker that does not answer is left out)."""
    found = []
    for path in paths:
        try:
            with _connect(path, {"cmd": "snapshot"}) as conn:
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            found.append(json.loads(data))
        except (OSError, ValueError):
            continue
    return found


def _totals(snaps: list[dict]) -> tuple[dict, dict]:
    queues: dict[str, dict] = {}
    modules: dict[str, dict] = {}
    for snap in snaps:
        for name, figures in snap.get("queues", {}).items():
            total = queues.setdefault(name, {"in": 0, "out": 0, "dropped": 0, "size": 0})
            for key in total:
                total[key] += figures.get(key, 0)
        for name, figures in snap.get("modules", {}).items():
            total = modules.setdefault(name, {"consumed": 0, "failed": 0})
            for key in total:
                total[key] += figures.get(key, 0)
    return queues, modules


def render(server: ParallelServer, before: list[dict], after: list[dict], seconds: float) -> str:
    """The table of ``top``: per queue and module, the totals over the workers and the rates between two rounds."""
    q0, m0 = _totals(before)
    q1, m1 = _totals(after)
    lines = [
        f"{server.name} top: {len(after)} instance(s), rates over {seconds:.1f} s, {time.strftime('%H:%M:%S')}",
        "",
        f"{'queue':<32}{'in/s':>10}{'out/s':>10}{'in':>12}{'out':>12}{'dropped':>10}{'size':>8}",
    ]
    for name, f in sorted(q1.items()):
        was = q0.get(name, f)
        rate_in = (f["in"] - was["in"]) / seconds
        rate_out = (f["out"] - was["out"]) / seconds
        lines.append(
            f"{name:<32}{rate_in:>10.0f}{rate_out:>10.0f}{f['in']:>12}{f['out']:>12}{f['dropped']:>10}{f['size']:>8}"
        )
    lines += ["", f"{'module':<32}{'consumed/s':>12}{'consumed':>12}{'failed':>10}"]
    for name, f in sorted(m1.items()):
        was = m0.get(name, f)
        lines.append(
            f"{name:<32}{(f['consumed'] - was['consumed']) / seconds:>12.0f}{f['consumed']:>12}{f['failed']:>10}"
        )
    return "\n".join(lines) + "\n"


def top(server: ParallelServer, args: argparse.Namespace) -> int:
    """Redraw the table every ``--interval`` seconds until Ctrl-C; with ``--once``, one table (for scripts)."""
    paths = _sockets(server, args, "top")
    if paths is None:
        return 1
    before, then = snapshots(paths), time.monotonic()
    if not before:
        print(f"{server.prog}: top: no worker answered on {', '.join(paths)}", file=sys.stderr)
        return 1
    while True:
        time.sleep(args.interval)
        after, now = snapshots(paths), time.monotonic()
        table = render(server, before, after, now - then)
        if args.once:
            sys.stdout.write(table)
            return 0
        sys.stdout.write(CLEAR + table)
        sys.stdout.flush()
        before, then = after, now


def tap(server: ParallelServer, args: argparse.Namespace) -> int:
    """Print sampled events passing ``NAME.QUEUE`` in every worker, one JSON line each, up to ``--limit``."""
    paths = _sockets(server, args, "tap")
    if paths is None:
        return 1
    selector = selectors.DefaultSelector()
    buffers: dict[socket.socket, bytes] = {}
    for path in paths:
        try:
            conn = _connect(path, {"cmd": "tap", "queue": args.queue, "limit": args.limit})
        except OSError as exc:
            print(f"{server.prog}: tap: {path}: {exc.strerror or exc}", file=sys.stderr)
            continue
        conn.setblocking(False)
        selector.register(conn, selectors.EVENT_READ)
        buffers[conn] = b""
    printed, missed, code = 0, 0, 0
    try:
        while buffers and (not args.limit or printed < args.limit):
            for key, _ in selector.select(1.0):
                conn = key.fileobj
                chunk = conn.recv(65536)  # type: ignore[union-attr]
                if not chunk:
                    selector.unregister(conn)
                    buffers.pop(conn)  # type: ignore[arg-type]
                    continue
                *lines, buffers[conn] = (buffers[conn] + chunk).split(b"\n")  # type: ignore[index]
                for line in lines:
                    message = json.loads(line)
                    if "error" in message:
                        print(f"{server.prog}: tap: {message['error']}", file=sys.stderr)
                        code = 1
                    elif message.get("end"):
                        missed += message.get("missed", 0)
                    elif not args.limit or printed < args.limit:
                        print(json.dumps(message))
                        printed += 1
            sys.stdout.flush()
    finally:
        for conn in list(buffers):
            conn.close()
    if missed:
        print(f"{server.prog}: tap: {missed} event(s) not shown: the reader was slower than the queue", file=sys.stderr)
    return code
