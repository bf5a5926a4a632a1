"""UDP benchmark: udp_in -> null datagrams/s, next to a bare-gevent reader, same sender, same run.

    python bench/bench_udp.py [--count 100000] [--repeat 5] [--size 100] [--seconds 3]

A sender process (this script, ``--send``) sends *count* datagrams of *size* bytes to
127.0.0.1 as fast as it can, once for each receiver in turn, *repeat* times. One Python
sender is no faster than a gevent receiver, so a live race would measure the sender; the
receivers are therefore measured on a backlog: the benchmark holds its hub (a blocking wait
for the sender) while the datagrams pile up in a 64 MiB receive buffer, then lets the
receiver drain them flat out. The live race is printed too, for the record. Receivers:

* baseline: the least a gevent program does to receive the same events: one reader greenlet
  waits for readability, reads without blocking up to 100 datagrams, builds the same event
  dicts (``{"headers": {"udp": {"peer": [host, port]}}, "data": ...}``), puts the batch on a
  bounded gevent queue; a consumer greenlet counts the events.
* wishbone: a pipeline ``udp_in -> null``; the null module's consumed counter is watched.

A receiver's rate is events counted / time from its first to its last event, both per
wall-clock second and per second of this process's CPU time (the steadier figure when other
processes share the cores). Medians are printed, and the ratios. Then the pipeline runs once
more with the sender paced at half the measured wishbone rate for *seconds* seconds, and
the kernel's drops for the socket (``/proc/net/udp``) are reported: the target is none.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import time

import gevent
import gevent.queue
import gevent.socket
from report import result
from wb_udp.kernel import set_receive_buffer
from wishbone import Pipeline

IDLE_END = 0.3  # seconds without a new event after the sender finished: the run is over
BUFFER = 64 << 20  # receive buffer for the backlog runs (SO_RCVBUFFORCE when privileged)


def send(port: int, count: int, rate: float, size: int) -> None:
    """The sender process: *count* datagrams, paced at *rate*/s (0: flat out)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    payload = b"x" * size
    target = ("127.0.0.1", port)
    sendto = sock.sendto
    start = time.monotonic()
    sent = 0
    burst = 100
    while sent < count:
        n = min(burst, count - sent)
        for _ in range(n):
            sendto(payload, target)
        sent += n
        if rate:
            ahead = start + sent / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    print(f"{sent} {time.monotonic() - start:.6f}", flush=True)


def start_sender(port: int, count: int, rate: float, size: int) -> subprocess.Popen:
    """Run :func:`send` in another process."""
    cmd = [sys.executable, __file__, "--send", str(port), str(count), str(rate), str(size)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)


def watch(counter, sender: subprocess.Popen, count: int, backlog: bool) -> dict:
    """Poll *counter()* until the sender is done and nothing new came for IDLE_END seconds.

    With *backlog*, first block the whole process (no greenlet runs) until the sender is
    done. Returns the events seen, and their rate per wall-clock second and per second of
    this process's CPU time (from first to last event; the CPU rate is the steadier one on a
    shared machine), and the sender's achieved rate.
    """
    if backlog:
        sender.wait()
    first = last = (0.0, 0.0)
    begun = time.perf_counter()  # "nothing new for IDLE_END" counts from here until the first event
    seen = 0
    while True:
        gevent.sleep(0.002)
        now = (time.perf_counter(), time.process_time())
        n = counter()
        if n != seen:
            if not seen:
                first = now
            seen, last = n, now
        elif sender.poll() is not None and now[0] - max(last[0], begun) > IDLE_END:
            break
    took = float(sender.stdout.read().split()[1])
    wall, cpu = last[0] - first[0], last[1] - first[1]
    return {
        "seen": seen,
        "wall": seen / wall if wall > 0 else 0.0,
        "cpu": seen / cpu if cpu > 0 else 0.0,
        "sent": count / took,
    }


def run_baseline(count: int, size: int, backlog: bool) -> dict:
    """Bare gevent reader -> queue -> counting consumer; returns :func:`watch`'s figures."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    set_receive_buffer(sock, BUFFER if backlog else 8 << 20)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    port = sock.getsockname()[1]
    queue: gevent.queue.Queue = gevent.queue.Queue(100)
    counted = [0]
    running = [True]

    def read() -> None:
        watcher = gevent.get_hub().loop.io(sock.fileno(), 1)
        recvfrom = sock.recvfrom
        while running[0]:
            try:
                gevent.socket.wait(watcher, 0.2)
            except TimeoutError:
                continue
            events = []
            try:
                for _ in range(100):
                    data, peer = recvfrom(65536)
                    events.append({"headers": {"udp": {"peer": [peer[0], peer[1]]}}, "data": data})
            except BlockingIOError:
                pass
            if events:
                queue.put(events)
        watcher.close()

    def consume() -> None:
        while (batch := queue.get()) is not None:
            for _event in batch:
                counted[0] += 1

    greenlets = [gevent.spawn(read), gevent.spawn(consume)]
    sender = start_sender(port, count, 0, size)
    result = watch(lambda: counted[0], sender, count, backlog)
    running[0] = False
    queue.put(None)
    gevent.joinall(greenlets, timeout=5)
    sock.close()
    return result


def udp_pipeline(buffer_size: int) -> Pipeline:
    """udp_in (port 0) -> null."""
    doc = {
        "bootstrap": {
            "udp": {"module": "udp_in", "variables": {"port": 0, "buffer_size": buffer_size}},
            "sink": {"module": "null", "variables": {}},
        },
        "routingtable": {"udp.outbox": ["sink.inbox"]},
    }
    return Pipeline.from_dict(doc)


def run_wishbone(count: int, size: int, backlog: bool, rate: float = 0) -> dict:
    """udp_in -> null; returns :func:`watch`'s figures and udp_in's metrics."""
    pipeline = udp_pipeline(BUFFER if backlog else 8 << 20)
    pipeline.start()
    sink = pipeline.modules["sink"]
    sender = start_sender(pipeline.modules["udp"].port, count, rate, size)
    result = watch(lambda: sink.consumed, sender, count, backlog)
    metrics = pipeline.modules["udp"].metrics()
    pipeline.stop(10)
    return {**result, **metrics}


def compare(count: int, size: int, repeat: int, backlog: bool) -> float:
    """Run both receivers *repeat* times, interleaved; print medians; return wishbone's wall median."""
    base, wb = [], []
    for _ in range(repeat):  # interleaved, so that machine noise hits both alike
        base.append(run_baseline(count, size, backlog))
        wb.append(run_wishbone(count, size, backlog))
    sent = statistics.median(r["sent"] for r in base + wb)
    mode = "backlog drain" if backlog else "live race"
    print(
        f"-- {mode}: sender offered {sent:,.0f}/s; events seen per run: {min(r['seen'] for r in base + wb):,} or more"
    )
    print(f"   {'receiver':40} {'per wall s':>12} {'per CPU s':>12}   wall-clock runs")
    for name, runs in (("bare gevent reader -> queue -> counter", base), ("wishbone udp_in -> null", wb)):
        wall = statistics.median(r["wall"] for r in runs)
        cpu = statistics.median(r["cpu"] for r in runs)
        each = " ".join(f"{r['wall']:,.0f}" for r in runs)
        print(f"   {name:40} {wall:12,.0f} {cpu:12,.0f}   {each}")
    wall_ratio = statistics.median(r["wall"] for r in wb) / statistics.median(r["wall"] for r in base)
    cpu_ratio = statistics.median(r["cpu"] for r in wb) / statistics.median(r["cpu"] for r in base)
    print(f"   ratio wishbone / baseline: {wall_ratio:.0%} (wall), {cpu_ratio:.0%} (CPU)")
    if backlog:
        wb_wall = statistics.median(r["wall"] for r in wb)
        base_wall = statistics.median(r["wall"] for r in base)
        result(
            f"UDP in -> null, backlog drain (CPU-time ratio {cpu_ratio:.0%})",
            wb_wall,
            "datagrams/s",
            ">= 80% of baseline",
            wall_ratio >= 0.8,
            base_wall,
        )
    return statistics.median(r["wall"] for r in wb)


def main(argv: list[str] | None = None) -> int:
    """Measure, print medians, the ratio and the half-rate drop check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="datagrams per run")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--size", type=int, default=100, help="payload bytes per datagram")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of the half-rate run")
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}, gevent {gevent.__version__}, {args.count:,} datagrams of {args.size} B,")
    print(f"{args.repeat} runs each (medians), sender in another process")
    w = compare(args.count, args.size, args.repeat, backlog=True)
    compare(args.count, args.size, args.repeat, backlog=False)
    half = w / 2
    count = int(half * args.seconds)
    r = run_wishbone(count, args.size, False, half)
    drops = r.get("kernel_drops", "unknown")
    print(
        f"-- half rate: offered {half:,.0f}/s for {args.seconds:.0f} s (the sender achieved {r['sent']:,.0f}/s): "
        f"sent {count:,}, received {r['datagrams']:,}, consumed {r['seen']:,}, kernel drops {drops}"
    )
    result(
        f"UDP in -> null at half that rate ({half:,.0f}/s for {args.seconds:.0f} s): kernel drops",
        float(drops) if isinstance(drops, int) else float("nan"),
        "drops",
        "0 kernel drops",
        drops == 0 and r["seen"] == count,
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--send":
        send(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]))
        sys.exit(0)
    sys.exit(main())
