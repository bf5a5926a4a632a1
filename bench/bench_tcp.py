"""TCP benchmark: tcp_in -> null lines/s, next to a bare gevent line reader, same sender, same run.

    python bench/bench_tcp.py [--lines 1000000] [--size 100] [--connections 1,8] [--repeat 3]
    python bench/bench_tcp.py --instructions [--lines 100000] [--repeat 3]
    python bench/bench_tcp.py --instructions --paced [--lines 300]   # one line per read: per-wake cost

A sender process (this script, ``--send``) opens the connections and writes *lines* lines of
*size* bytes (newline included), spread over them, as fast as TCP lets it: a prebuilt buffer
and ``sendall``, so the sender costs little and the receiver sets the pace (TCP's flow
control holds the sender back when the receiver falls behind, nothing is dropped).
Receivers, interleaved run by run so that machine noise hits both alike:

* baseline: the least a gevent program does to receive the same events: a gevent
  ``StreamServer`` whose handler per connection reads 64 KiB at a time, splits the lines the
  same way (``rfind`` + ``split`` on the buffer, the rest kept), builds the same event dicts
  (``{"headers": {"tcp": {"peer": [host, port]}}, "data": line.decode()}``) and puts batches
  of 100 on a bounded gevent queue; a consumer greenlet counts the events.
* wishbone: a pipeline ``tcp_in -> null`` (newline framing, ``decode`` text); the null
  module's consumed counter is watched.

A receiver's rate is events counted / time from its first to its last event, per wall-clock
second and per second of this process's CPU time (the steadier figure on a shared machine).
Medians and the ratios are printed; the target is >= 300,000 lines/s and >= 80% of the
baseline, with one connection. Two rows go to the performance table: per wall-clock second
(what a quiet machine shows) and per CPU second (what a shared, loaded machine still shows:
the receiver is one process on one core, so on a quiet machine the two agree).

``--instructions`` counts instead of timing, for a figure a shared machine does not move:
each receiver runs in a process of its own under valgrind (``cachegrind``, no cache
simulation: instructions executed, the sender not traced), once with *lines* and once with
twice as many, in turns; (I(2N) - I(N)) / N is its cost per line, start-up and shut-down
cancelled out. Medians of *repeat* pairs; the target is <= 125% of the baseline (the 80%
of the throughput target, in instructions).

``--paced`` (with ``--instructions``): the sender writes one line every 20 ms, so that every
read finds one line: the cost of one wake-up (the hub, the read, the hand-off, the consumer),
which is what many slow connections (syslog from a fleet of hosts) cost per message. No target.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time

import gevent
import gevent.queue
import gevent.server
from report import result
from wishbone import Pipeline

IDLE_END = 3.0  # seconds without a new event after the sender finished (not all came): the run is over


def send(port: int, lines: int, size: int, connections: int, pace: float = 0.0) -> None:
    """The sender process: *lines* lines of *size* bytes over *connections* connections (*pace*: one
    line every *pace* seconds, over the first connection)."""
    line = b"x" * (size - 1) + b"\n"
    per = lines // connections
    block = line * 1000
    socks = [socket.create_connection(("127.0.0.1", port)) for _ in range(connections)]
    start = time.monotonic()
    if pace:
        socks[0].setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(per * connections):
            socks[0].sendall(line)
            time.sleep(pace)
        per, connections = 0, 0
    # round robin over the connections, 1000 lines at a time, so that they all stream at once
    left = [per] * connections
    while per and any(left):
        for i, sock in enumerate(socks):
            n = min(1000, left[i])
            if n:
                sock.sendall(block if n == 1000 else line * n)
                left[i] -= n
    for sock in socks:
        sock.close()
    print(f"{lines if pace else per * connections} {time.monotonic() - start:.6f}", flush=True)


def start_sender(port: int, lines: int, size: int, connections: int, pace: float = 0.0) -> subprocess.Popen:
    cmd = [sys.executable, __file__, "--send", str(port), str(lines), str(size), str(connections), f"--pace={pace}"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def watch(counter, sender: subprocess.Popen, expected: int, interval: float = 0.002) -> dict:
    """Sample *counter()* from a thread until the sender is done and all came (or none for IDLE_END s).

    A thread, not a greenlet: a receiver that always finds data never yields to the hub, and a
    greenlet's timer would only see the end. Reading an int from another thread is safe; the
    samples cost both receivers alike. Returns the events seen and their rate per wall-clock
    second and per second of this process's CPU time, from the first to the last new count.
    """
    figures: dict = {}

    def sample() -> None:
        first = last = (0.0, 0.0)
        seen = 0
        sent_at = 0.0  # when the sender was seen done: idle is counted from then, or from the last event
        while True:
            time.sleep(interval)
            now = (time.perf_counter(), time.process_time())
            n = counter()
            if n != seen:
                if not seen:
                    first = now
                seen, last = n, now
            elif sender.poll() is not None:
                sent_at = sent_at or now[0]
                if n >= expected or now[0] - max(last[0], sent_at) > IDLE_END:
                    break
        wall, cpu = last[0] - first[0], last[1] - first[1]
        figures.update(seen=seen, wall=seen / wall if wall > 0 else 0.0, cpu=seen / cpu if cpu > 0 else 0.0)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    while thread.is_alive():
        gevent.sleep(0.01)
    sent, took = sender.stdout.read().split()
    return {**figures, "sent": int(sent), "offered": int(sent) / float(took)}


def run_baseline(lines: int, size: int, connections: int, interval: float = 0.002, pace: float = 0.0) -> dict:
    """A bare gevent StreamServer line reader -> queue -> counting consumer."""
    queue: gevent.queue.Queue = gevent.queue.Queue(100)
    counted = [0]

    def handle(sock, address) -> None:
        host, port = address[0], address[1]
        rest = b""
        while chunk := sock.recv(65536):
            data = rest + chunk if rest else chunk
            last = data.rfind(b"\n")
            if last < 0:
                rest = data
                continue
            rest = data[last + 1 :]
            frames = data[:last].split(b"\n")
            events = [{"headers": {"tcp": {"peer": [host, port]}}, "data": f.decode()} for f in frames]
            for i in range(0, len(events), 100):
                queue.put(events[i : i + 100])

    def consume() -> None:
        while (batch := queue.get()) is not None:
            for _event in batch:
                counted[0] += 1

    server = gevent.server.StreamServer(("127.0.0.1", 0), handle)
    server.start()
    consumer = gevent.spawn(consume)
    sender = start_sender(server.server_port, lines, size, connections, pace)
    figures = watch(lambda: counted[0], sender, lines, interval)
    server.stop(timeout=2)
    queue.put(None)
    consumer.join(timeout=5)
    return figures


def run_wishbone(lines: int, size: int, connections: int, interval: float = 0.002, pace: float = 0.0) -> dict:
    """tcp_in (port 0) -> null."""
    doc = {
        "bootstrap": {
            "tcp": {"module": "tcp_in", "variables": {"port": 0}},
            "sink": {"module": "null", "variables": {}},
        },
        "routingtable": {"tcp.outbox": ["sink.inbox"]},
    }
    pipeline = Pipeline.from_dict(doc)
    pipeline.start()
    sink = pipeline.modules["sink"]
    sender = start_sender(pipeline.modules["tcp"].port, lines, size, connections, pace)
    figures = watch(lambda: sink.consumed, sender, lines, interval)
    metrics = pipeline.modules["tcp"].metrics()
    pipeline.stop(10)
    return {**figures, "frame_errors": metrics["frame_errors"]}


def compare(lines: int, size: int, connections: int, repeat: int) -> tuple[tuple[float, float], tuple[float, float]]:
    base, wb = [], []
    for _ in range(repeat):
        base.append(run_baseline(lines, size, connections))
        wb.append(run_wishbone(lines, size, connections))
    lost = [r["sent"] - r["seen"] for r in base + wb]
    assert not any(lost), f"events lost: {lost}"
    assert not any(r["frame_errors"] for r in wb)
    print(f"-- {connections} connection(s), {lines:,} lines of {size} bytes per run, {repeat} runs each")
    print(f"   {'receiver':44} {'per wall s':>12} {'per CPU s':>12}   wall-clock runs")
    for name, runs in (("bare gevent line reader -> queue -> counter", base), ("wishbone tcp_in -> null", wb)):
        wall = statistics.median(r["wall"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        each = " ".join(f"{r['wall']:,.0f}" for r in runs)
        print(f"   {name:44} {wall:12,.0f} {cpu:12,.0f}   {each}")
    wb_wall = statistics.median(r["wall"] for r in wb)
    base_wall = statistics.median(r["wall"] for r in base)
    wb_cpu = statistics.median(r["cpu"] for r in wb)
    base_cpu = statistics.median(r["cpu"] for r in base)
    print(f"   ratio wishbone / baseline: {wb_wall / base_wall:.0%} (wall), {wb_cpu / base_cpu:.0%} (CPU)")
    return (wb_wall, base_wall), (wb_cpu, base_cpu)


RECEIVERS = {"baseline": run_baseline, "wishbone": run_wishbone}


def instructions(receiver: str, lines: int, size: int, pace: float = 0.0) -> int:
    """Instructions one receiver process executes for *lines* lines (valgrind cachegrind, no cache model)."""
    cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
    cmd += [sys.executable, __file__, "--receive", receiver, "--lines", str(lines), "--size", str(size)]
    cmd += [f"--pace={pace}"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode or not found:
        raise RuntimeError(f"{receiver} under valgrind failed ({done.returncode}): {done.stderr[-2000:]}")
    seen = json.loads(done.stdout.strip().splitlines()[-1])["seen"]
    assert seen == lines, f"{receiver}: {seen} of {lines} lines"
    return int(found.group(1).replace(",", ""))


def compare_instructions(lines: int, size: int, repeat: int, pace: float = 0.0) -> None:
    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions runs the receivers under valgrind: apt-get install valgrind")
    per_line: dict[str, list[float]] = {"baseline": [], "wishbone": []}
    for _ in range(repeat):
        for receiver in per_line:  # in turns, and each pair back to back
            short, long = instructions(receiver, lines, size, pace), instructions(receiver, 2 * lines, size, pace)
            per_line[receiver].append((long - short) / lines)
    base, wb = (statistics.median(per_line[r]) for r in ("baseline", "wishbone"))
    how = f", one line every {pace * 1000:g} ms: one line per read" if pace else ""
    print(f"-- 1 connection, {lines:,} and {2 * lines:,} lines of {size} bytes{how}, {repeat} pairs each (valgrind)")
    names = {"baseline": "bare gevent line reader -> queue -> counter", "wishbone": "wishbone tcp_in -> null"}
    for receiver, name in names.items():
        runs = " ".join(f"{v:,.0f}" for v in per_line[receiver])
        print(f"   {name:44} {statistics.median(per_line[receiver]):10,.0f} instructions/line   runs: {runs}")
    print(f"   ratio wishbone / baseline: {wb / base:.0%} of the instructions")
    if pace:
        what = f"TCP in -> null, one {size}-byte line per read, instructions per wake-up ({wb / base:.0%} of baseline)"
        result(what, wb, "instructions/line", "(no target: what a slow connection costs per message)", None, base)
        return
    what = f"TCP in -> null, 1 connection, {size}-byte lines, instructions per line ({wb / base:.0%} of baseline)"
    result(what, wb, "instructions/line", "<= 125% of baseline", wb <= 1.25 * base, base)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=100, help="bytes per line, newline included")
    parser.add_argument("--connections", default="1,8", help="comma-separated connection counts to measure")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--instructions", action="store_true", help="count instructions per line (valgrind)")
    parser.add_argument("--paced", action="store_true", help="--instructions: one line every 20 ms (per-wake cost)")
    parser.add_argument("--pace", type=float, default=0.0, help=argparse.SUPPRESS)  # the sender's seconds per line
    parser.add_argument("--send", nargs=4, type=int, metavar=("PORT", "LINES", "SIZE", "CONNECTIONS"))
    parser.add_argument("--receive", choices=RECEIVERS, help=argparse.SUPPRESS)  # one run, for valgrind
    args = parser.parse_args()
    if args.send:
        send(*args.send, args.pace)
        return
    if args.receive:  # sampled seldom: the sampling thread's instructions are not the receiver's
        figures = RECEIVERS[args.receive](args.lines, args.size, 1, 0.05, args.pace)
        print(json.dumps({"seen": figures["seen"]}), flush=True)
        return
    if args.instructions:
        default = 300 if args.paced else 100_000
        lines = args.lines if args.lines != 1_000_000 else default
        compare_instructions(lines, args.size, args.repeat, 0.02 if args.paced else 0.0)
        return
    for n, connections in enumerate(int(c) for c in args.connections.split(",")):
        (wb_wall, base_wall), (wb_cpu, base_cpu) = compare(args.lines, args.size, connections, args.repeat)
        what = f"TCP in -> null, {connections} connection(s), {args.size}-byte lines"
        target = ">= 300,000/s and >= 80% of baseline" if n == 0 else "—"
        for label, wb, base in (("per wall-clock s", wb_wall, base_wall), ("per CPU s", wb_cpu, base_cpu)):
            met = (wb >= 300_000 and wb / base >= 0.8) if n == 0 else None
            result(f"{what}, {label} ({wb / base:.0%} of baseline)", wb, "lines/s", target, met, base)


if __name__ == "__main__":
    main()
