"""Syslog against a real peer: Wishbone (syslog_in -> a file) next to syslog-ng, same sender, same run.

    python bench/bench_syslog.py [--rates 50000,100000,150000,200000,250000] [--seconds 2]

Both receivers run at once, each its own process, each listening on UDP and TCP on 127.0.0.1
and writing every message to a file as one line (``TIMESTAMP HOST APP[PID]: MESSAGE``):

* syslog-ng (Debian's ``syslog-ng-core``, run by this script in the foreground with its own
  config, persist and control files; no system service): ``syslog()`` sources (RFC 5424;
  octet counting over TCP) with an 8 MiB UDP receive buffer, a file destination writing
  1,000 lines at once, flow control on the log path (TCP backpressure, as ours), no DNS, no
  stats; the config is printed.
* Wishbone: a pipeline ``syslog_in`` (udp) and ``syslog_in`` (tcp) -> a file writer, in a
  process of its own (this script, ``--wishbone``). The file output is a minimal one defined
  here (one ``write`` of a batch's lines, no fsync), because the ``file`` package's
  ``file_out`` is not on main yet; syslog-ng's file destination does no fsync either.

The sender is syslog-ng's ``loggen`` (C, paced): RFC 5424 messages of 150 bytes, for
``--seconds`` seconds at each offered rate, over UDP (one datagram each) and over TCP (one
connection, octet counting), to one receiver at a time, syslog-ng then Wishbone, rate by
rate (so that machine noise hits both alike): rate x seconds messages each (``loggen -n``).
The receiver's file is watched until it stops growing. Per run: the delivered fraction
(UDP: lines written / messages sent, the kernel drops what the receiver does not read in
time; TCP loses nothing but holds the sender back, so the fraction is the share of the
offered rate carried: lines / time from the sender's start to the last line / rate) and
the receiver's CPU time (user + system, all threads, from /proc) per delivered message.
Goal (issue 15): Wishbone delivers at least as much with no more CPU per message. The UDP
receive buffer each asks for is 8 MiB; syslog-ng's ``so_rcvbuf`` is capped by
``net.core.rmem_max`` (printed), Wishbone's ``SO_RCVBUFFORCE`` is not, when run as root.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import result

HERE = Path(__file__).resolve().parent
SIZE = 150
TICKS = os.sysconf("SC_CLK_TCK")

SYSLOG_NG_CONF = """@version: 3.38
options {{ chain_hostnames(off); use_dns(no); use_fqdn(no); dns_cache(no); keep_hostname(yes);
  stats_freq(0); flush_lines(1000); log_fifo_size(200000); create_dirs(no); }};
source s_udp {{ syslog(ip("127.0.0.1") port({udp}) transport("udp") so_rcvbuf(8388608) log_fetch_limit(1000)); }};
source s_tcp {{ syslog(ip("127.0.0.1") port({tcp}) transport("tcp") log_iw_size(100000) log_fetch_limit(1000)); }};
destination d_file {{ file("{out}" template("${{ISODATE}} ${{HOST}} ${{PROGRAM}}[${{PID}}]: ${{MSG}}\\n")
  flush_lines(1000)); }};
log {{ source(s_udp); source(s_tcp); destination(d_file); flags(flow-control); }};
"""


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of *pid* (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def wait_port(port: int, proc: subprocess.Popen, err: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the receiver exited ({proc.returncode}): {err.read_text()[-1500:]}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


class LineCounter:
    """Counts the lines of a file that grows, reading only what is new."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.lines = 0

    def count(self) -> int:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                while chunk := f.read(1 << 22):
                    self.lines += chunk.count(b"\n")
                    self.offset += len(chunk)
        except FileNotFoundError:
            pass
        return self.lines


@dataclasses.dataclass
class Receiver:
    name: str
    proc: subprocess.Popen
    udp: int
    tcp: int
    counter: LineCounter


def start_syslog_ng(work: Path) -> Receiver:
    udp, tcp = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    out = work / "syslog-ng.log"
    conf = work / "syslog-ng.conf"
    conf.write_text(SYSLOG_NG_CONF.format(udp=udp, tcp=tcp, out=out))
    cmd = [
        shutil.which("syslog-ng") or "/usr/sbin/syslog-ng",
        "-F",
        "--no-caps",
        "-f",
        str(conf),
        "-R",
        str(work / "syslog-ng.persist"),
        "-p",
        str(work / "syslog-ng.pid"),
        "-c",
        str(work / "syslog-ng.ctl"),
    ]
    with open(work / "syslog-ng.err", "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    wait_port(tcp, proc, work / "syslog-ng.err")
    return Receiver("syslog-ng", proc, udp, tcp, LineCounter(out))


def start_wishbone(work: Path) -> Receiver:
    udp, tcp = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    out = work / "wishbone.log"
    cmd = [sys.executable, __file__, "--wishbone", str(udp), str(tcp), str(out)]
    with open(work / "wishbone.err", "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, cwd=HERE)
    wait_port(tcp, proc, work / "wishbone.err")
    return Receiver("wishbone", proc, udp, tcp, LineCounter(out))


def run_wishbone(udp: int, tcp: int, out: str) -> None:
    """The Wishbone receiver process: syslog_in (udp) + syslog_in (tcp) -> FileWriter."""
    import gevent
    import gevent.event
    from wishbone import Output, Pipeline
    from wishbone.testing import load_bootstrap

    class FileWriter(Output):
        """Appends one line per event, one write per batch (a minimal stand-in for file_out).

        Parameters:
            path (str): the file.

        Queues:
            inbox: parsed syslog events.
        """

        def __init__(self, path: str) -> None:
            self.path = path

        def on_start(self) -> None:
            self.file = open(self.path, "ab")  # noqa: SIM115  (closed in on_stop)

        def consume_batch(self, events: list) -> None:
            lines = []
            for e in events:
                d = e["data"]
                lines.append(f"{d['timestamp']} {d['host']} {d['app']}[{d['procid']}]: {d['message']}\n")
            self.file.write("".join(lines).encode())

        def end_of_batch(self) -> None:
            self.file.flush()

        def on_stop(self) -> None:
            self.file.close()

    boot = load_bootstrap(
        {
            "udp": ("syslog_in", {"port": udp}),
            "tcp": ("syslog_in", {"port": tcp, "transport": "tcp"}),
            "file": (FileWriter, {"path": out}),
        },
        {"udp.outbox": ["file.inbox"], "tcp.outbox": ["file.inbox"]},
    )
    pipeline = Pipeline(boot)
    stop = gevent.event.Event()
    gevent.signal_handler(signal.SIGTERM, stop.set)
    pipeline.start()
    stop.wait()
    pipeline.stop(5)


def loggen(receiver: Receiver, transport: str, rate: int, count: int) -> subprocess.Popen:
    """Start loggen sending *count* messages at *rate* per second to *receiver* over *transport*."""
    if transport == "udp":
        target = ["--inet", "--dgram", "-P", "-F", "127.0.0.1", str(receiver.udp)]
    else:
        target = ["--inet", "--stream", "-P", "127.0.0.1", str(receiver.tcp)]
    # -I bounds the run: a receiver that holds TCP back gets 4x the nominal time, then loggen stops
    interval = str(max(4 * count // rate, 1))
    cmd = ["loggen", "-Q", "-r", str(rate), "-n", str(count), "-I", interval, "-s", str(SIZE), *target]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(receiver: Receiver, transport: str, rate: int, seconds: int) -> dict:
    """One run: *rate* x *seconds* messages offered; what was delivered, how fast, at what CPU cost."""
    count = rate * seconds
    before_lines = receiver.counter.count()
    before_cpu = cpu_seconds(receiver.proc.pid)
    start = time.monotonic()
    sender = loggen(receiver, transport, rate, count)
    last, last_at = before_lines, start
    deadline = start + 4 * seconds + 20
    while time.monotonic() < deadline:
        time.sleep(0.02)
        n = receiver.counter.count()
        now = time.monotonic()
        if n != last:
            last, last_at = n, now
        elif sender.poll() is not None and (n - before_lines >= count or now - last_at > 0.5):
            break
    if sender.poll() is None:
        sender.kill()
    sender.wait(5)
    delivered = last - before_lines
    if delivered > count:  # one message must make one line: more means a receiver split messages
        raise RuntimeError(f"{receiver.name} wrote {delivered} lines for {count} messages")
    cpu = cpu_seconds(receiver.proc.pid) - before_cpu
    took = max(last_at - start, 1e-9)
    # UDP: what arrived of what was sent. TCP loses nothing but holds the sender back: the share
    # of the offered rate carried, from the sender's start to the last line written.
    fraction = delivered / count if transport == "udp" else min(1.0, delivered / took / rate)
    return {
        "delivered": delivered,
        "offered": count,
        "fraction": fraction,
        "rate": delivered / took,
        "cpu_us": cpu * 1e6 / delivered if delivered else float("inf"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="50000,100000,150000,200000,250000")
    parser.add_argument("--seconds", type=int, default=2)
    parser.add_argument("--transports", default="udp,tcp")
    parser.add_argument("--wishbone", nargs=3, metavar=("UDP", "TCP", "OUT"))
    args = parser.parse_args()
    if args.wishbone:
        run_wishbone(int(args.wishbone[0]), int(args.wishbone[1]), args.wishbone[2])
        return
    for tool in ("syslog-ng", "loggen"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is needed: apt-get update && apt-get install -y syslog-ng-core")
    rates = [int(r) for r in args.rates.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-syslog-"))
    receivers: list[Receiver] = []
    rows: dict = {}
    try:
        receivers.append(start_syslog_ng(work))
        receivers.append(start_wishbone(work))
        run_all(receivers, work, rates, args, rows)
    finally:
        for receiver in receivers:
            receiver.proc.send_signal(signal.SIGTERM)
        for receiver in receivers:
            try:
                receiver.proc.wait(15)
            except subprocess.TimeoutExpired:
                receiver.proc.kill()
                receiver.proc.wait(5)
        shutil.rmtree(work, ignore_errors=True)
    report(rows, rates, args)


def run_all(receivers: list[Receiver], work: Path, rates: list[int], args: argparse.Namespace, rows: dict) -> None:
    try:
        rmem = Path("/proc/sys/net/core/rmem_max").read_text().strip()
    except OSError:
        rmem = "unknown"
    print(
        f"net.core.rmem_max = {rmem}; load average before the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(f"syslog-ng config ({work / 'syslog-ng.conf'}):")
    print("   " + (work / "syslog-ng.conf").read_text().replace("\n", "\n   "))
    time.sleep(1.0)
    for transport in args.transports.split(","):
        print(
            f"-- syslog over {transport.upper()}: {SIZE}-byte RFC 5424 messages from loggen, {args.seconds:g} s per run"
        )
        print(f"   {'offered/s':>10} {'receiver':10} {'delivered':>10} {'per s':>9} {'fraction':>9} {'CPU us/msg':>11}")
        for rate in rates:
            for receiver in receivers:
                figures = measure(receiver, transport, rate, args.seconds)
                rows[(transport, rate, receiver.name)] = figures
                print(
                    f"   {rate:10,} {receiver.name:10} {figures['delivered']:10,} {figures['rate']:9,.0f} "
                    f"{figures['fraction']:9.1%} "
                    f"{figures['cpu_us']:11.2f}",
                    flush=True,
                )


def report(rows: dict, rates: list[int], args: argparse.Namespace) -> None:
    for transport in args.transports.split(","):
        for rate in rates:
            wb, ng = rows[(transport, rate, "wishbone")], rows[(transport, rate, "syslog-ng")]
            met = wb["fraction"] >= ng["fraction"] and wb["cpu_us"] <= ng["cpu_us"]
            label = f"syslog over {transport.upper()} at {rate:,}/s offered"
            result(
                f"{label}: delivered fraction (syslog-ng: {ng['fraction']:.1%}; CPU us/msg {wb['cpu_us']:.1f} vs "
                f"{ng['cpu_us']:.1f})",
                round(wb["fraction"], 4),
                "fraction delivered",
                ">= syslog-ng's, with no more CPU per message",
                met,
                round(ng["fraction"], 4),
            )


if __name__ == "__main__":
    main()
