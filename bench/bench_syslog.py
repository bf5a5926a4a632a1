"""Syslog against a real peer: Wishbone (syslog_in -> file_out) next to syslog-ng, same sender, same run.

    python bench/bench_syslog.py [--rates 50000,100000,150000,200000,250000] [--seconds 2] [--repeat 3]
    python bench/bench_syslog.py --instructions [--messages 10000] [--repeat 1]
    python bench/bench_syslog.py --raw-bound    # also Wishbone without parsing (syslog_in mode raw)

Both receivers run at once, each its own process tree, each listening on UDP and TCP on
127.0.0.1 and writing every message to a file as one line (``TIMESTAMP HOST APP[PID]: MESSAGE``):

* syslog-ng (Debian's ``syslog-ng-core``, run by this script in the foreground with its own
  config, persist and control files; no system service): ``syslog()`` sources (RFC 5424;
  octet counting over TCP), a file destination writing 1,000 lines at once, flow control on
  the log path (TCP backpressure, as ours), no DNS, no stats; the config is printed.
* Wishbone: the real command, ``wishbone debug --config`` (a supervisor and one worker),
  with ``syslog_in`` (udp) and ``syslog_in`` (tcp) -> ``file_out`` whose ``format`` template
  makes the same line; no fsync, as syslog-ng's file destination.

Fair by construction: the same sender, the same messages, the same line written (the bytes
per line of both files are printed), the same UDP receive buffer asked for (``min(8 MiB,
net.core.rmem_max)``: syslog-ng's ``so_rcvbuf`` is capped by ``rmem_max``, so Wishbone is given
the same; what each socket got is printed from ``ss``), and the same CPU accounting: user +
system time of the receiver's whole process tree, every thread, from /proc (reaped children
included).

The sender is syslog-ng's ``loggen`` (C, paced): RFC 5424 messages of 150 bytes, for
``--seconds`` seconds at each offered rate, over UDP (one datagram each) and over TCP (one
connection, octet counting), to one receiver at a time, syslog-ng then Wishbone, rate by
rate (so that machine noise hits both alike), ``--repeat`` turns of that round: rate x seconds
messages each (``loggen -n``); the RESULT rows hold the medians of the turns.
The receiver's file is watched until it stops growing. Per run: the delivered fraction
(UDP: lines written / messages sent, the kernel drops what the receiver does not read in
time; TCP loses nothing but holds the sender back, so the fraction is the share of the
offered rate carried: lines / time from the sender's start to the last line / rate) and
the receiver's CPU time per delivered message. Goal (issue 15): Wishbone delivers at least
as much with no more CPU per message.

``--instructions`` counts instead of timing, a figure the shared machine does not move: each
receiver runs under valgrind (``cachegrind``, no cache model, every process and thread of it:
``--trace-children``), is sent *messages* and then twice as many (TCP: one loggen run; UDP:
bursts the receive buffer holds, each waited for), and stopped; its instructions per message
are I(2N) - I(N) over the lines written in between. Valgrind counts user space only: the
kernel's share (receiving a datagram, writing the file) is the same for both and not in it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import result

HERE = Path(__file__).resolve().parent
SIZE = 150
TICKS = os.sysconf("SC_CLK_TCK")

LINE = "{{ data.timestamp }} {{ data.host }} {{ data.app }}[{{ data.procid }}]: {{ data.message }}"

SYSLOG_NG_CONF = """@version: 3.38
options {{ chain_hostnames(off); use_dns(no); use_fqdn(no); dns_cache(no); keep_hostname(yes);
  stats_freq(0); flush_lines(1000); log_fifo_size(200000); create_dirs(no); }};
source s_udp {{ syslog(ip("127.0.0.1") port({udp}) transport("udp") so_rcvbuf({rcvbuf}) log_fetch_limit(1000)); }};
source s_tcp {{ syslog(ip("127.0.0.1") port({tcp}) transport("tcp") log_iw_size(100000) log_fetch_limit(1000)); }};
destination d_file {{ file("{out}" template("${{ISODATE}} ${{HOST}} ${{PROGRAM}}[${{PID}}]: ${{MSG}}\\n")
  flush_lines(1000)); }};
log {{ source(s_udp); source(s_tcp); destination(d_file); flags(flow-control); }};
"""


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def receive_buffer() -> int:
    """The UDP receive buffer both receivers ask for: 8 MiB, or net.core.rmem_max if that is less."""
    try:
        return min(8 * 1024 * 1024, int(Path("/proc/sys/net/core/rmem_max").read_text()))
    except (OSError, ValueError):
        return 8 * 1024 * 1024


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of *pid* and every descendant (all threads; reaped children too) so far."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = stats[int(entry)] = _stat(int(entry))
            except (OSError, IndexError):
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        fields = stats.get(current)
        if fields is None:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
        todo.extend(children.get(current, ()))
    return total / TICKS


def granted_buffer(port: int) -> str:
    """The receive buffer the kernel gave the UDP socket on *port* (``ss``'s skmem rb), or "?"."""
    try:
        out = subprocess.run(["ss", "-uanm", f"sport = :{port}"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return "?"
    for part in out.replace("(", ",").replace(")", ",").split(","):
        if part.startswith("rb") and part[2:].isdigit():
            return f"{int(part[2:]):,} bytes"
    return "?"


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


def start_syslog_ng(work: Path, wrap: tuple = ()) -> Receiver:
    udp, tcp = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    out = work / "syslog-ng.log"
    conf = work / "syslog-ng.conf"
    conf.write_text(SYSLOG_NG_CONF.format(udp=udp, tcp=tcp, out=out, rcvbuf=receive_buffer()))
    cmd = [
        *wrap,
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
    wait_port(tcp, proc, work / "syslog-ng.err", 60 if wrap else 20)
    return Receiver("syslog-ng", proc, udp, tcp, LineCounter(out))


def start_wishbone(work: Path, wrap: tuple = (), raw: bool = False) -> Receiver:
    """The real ``wishbone debug``; *raw*: syslog_in in ``mode: raw`` writing each message as it came
    (no parsing: what the rest of the path costs, the bound of any faster parser)."""
    name = "wishbone-raw" if raw else "wishbone"
    udp, tcp = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    out = work / f"{name}.log"
    config = work / f"{name}.json"
    mode = {"mode": "raw"} if raw else {}
    udp_in = {"port": udp, "buffer_size": receive_buffer(), "reuse_port": False, **mode}
    tcp_in = {"port": tcp, "transport": "tcp", "reuse_port": False, **mode}
    bootstrap = {
        "bootstrap": {
            "udp": {"module": "syslog_in", "variables": udp_in},
            "tcp": {"module": "syslog_in", "variables": tcp_in},
            "file": {"module": "file_out", "variables": {"path": str(out), **({} if raw else {"format": LINE})}},
        },
        "routingtable": {"udp.outbox": ["file.inbox"], "tcp.outbox": ["file.inbox"]},
    }
    config.write_text(json.dumps(bootstrap, indent=2))
    wishbone = Path(sys.executable).parent / "wishbone"
    cmd = [*wrap, str(wishbone), "debug", "--config", str(config), "--loglevel", "warning"]
    with open(work / f"{name}.err", "w") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL)
    wait_port(tcp, proc, work / f"{name}.err", 180 if wrap else 20)
    return Receiver(name, proc, udp, tcp, LineCounter(out))


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


VALGRIND = ("valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null")
VALGRIND += ("--trace-children=yes",)  # the worker the command forks, and syslog-ng's threads


def instructions(name: str, transport: str, messages: int) -> tuple[int, int]:
    """(instructions, lines written) of one receiver under valgrind sent *messages* over *transport*."""
    work = Path(tempfile.mkdtemp(prefix="bench-syslog-vg-"))
    start = start_syslog_ng if name == "syslog-ng" else start_wishbone
    receiver = start(work, VALGRIND)
    try:
        burst = messages if transport == "tcp" else 2_500  # what an 8 MiB receive buffer holds, and more
        sent = 0
        while sent < messages:
            n = min(burst, messages - sent)
            loggen(receiver, transport, 20_000 if transport == "tcp" else 50_000, n).wait(600)
            sent += n
            deadline = time.monotonic() + 300
            last, last_at = receiver.counter.count(), time.monotonic()
            while receiver.counter.count() < sent and time.monotonic() < deadline:  # the next burst waits
                time.sleep(0.2)
                if receiver.counter.lines != last:
                    last, last_at = receiver.counter.lines, time.monotonic()
                elif time.monotonic() - last_at > 10:  # UDP: some were dropped; nothing more comes
                    break
        lines = receiver.counter.count()
    finally:
        receiver.proc.send_signal(signal.SIGTERM)
        receiver.proc.wait(600)
    err = (work / f"{name}.err").read_text()
    shutil.rmtree(work, ignore_errors=True)
    counts = [int(n.replace(",", "")) for n in re.findall(r"I\s+refs:\s+([\d,]+)", err)]
    if not counts:
        raise RuntimeError(f"{name} under valgrind printed no count: {err[-2000:]}")
    return sum(counts), lines


def compare_instructions(messages: int, repeat: int, transports: list[str]) -> None:
    if shutil.which("valgrind") is None:
        raise SystemExit("--instructions runs the receivers under valgrind: apt-get install valgrind")
    for transport in transports:
        per_message: dict[str, list[float]] = {"syslog-ng": [], "wishbone": []}
        for _ in range(repeat):
            for name in per_message:  # in turns, each pair back to back
                (short, short_lines), (long, long_lines) = (
                    instructions(name, transport, messages),
                    instructions(name, transport, 2 * messages),
                )
                per_message[name].append((long - short) / max(long_lines - short_lines, 1))
                print(f"   {transport} {name}: {short_lines:,} and {long_lines:,} lines written", flush=True)
        ng, wb = (statistics.median(per_message[n]) for n in ("syslog-ng", "wishbone"))
        print(f"-- syslog over {transport.upper()} into a file, instructions per message (valgrind, user space)")
        for name, values in per_message.items():
            runs = " ".join(f"{v:,.0f}" for v in values)
            print(f"   {name:10} {statistics.median(values):10,.0f} instructions/message   runs: {runs}")
        print(f"   ratio wishbone / syslog-ng: {wb / ng:.0%} of the instructions")
        result(
            f"syslog over {transport.upper()} -> file, instructions per message in user space "
            f"({wb / ng:.0%} of syslog-ng's)",
            round(wb),
            "instructions/message",
            "<= syslog-ng's",
            wb <= ng,
            round(ng),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="50000,100000,150000,200000,250000")
    parser.add_argument("--seconds", type=int, default=2)
    parser.add_argument("--repeat", type=int, help="turns of every run, medians reported (3; --instructions: 1)")
    parser.add_argument("--transports", default="udp,tcp")
    parser.add_argument("--instructions", action="store_true", help="count instructions per message (valgrind)")
    parser.add_argument("--messages", type=int, default=10_000, help="--instructions: N of I(2N) - I(N)")
    parser.add_argument(
        "--raw-bound",
        action="store_true",
        help="also run Wishbone with syslog_in in mode raw (no parsing): the bound of any faster parser",
    )
    args = parser.parse_args()
    for tool in ("syslog-ng", "loggen"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"{tool} is needed: apt-get update && apt-get install -y syslog-ng-core")
    if args.instructions:
        compare_instructions(args.messages, args.repeat or 1, args.transports.split(","))
        return
    args.repeat = args.repeat or 3
    rates = [int(r) for r in args.rates.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-syslog-"))
    receivers: list[Receiver] = []
    rows: dict = {}
    try:
        receivers.append(start_syslog_ng(work))
        receivers.append(start_wishbone(work))
        if args.raw_bound:
            receivers.append(start_wishbone(work, raw=True))
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
    print(f"Wishbone bootstrap ({work / 'wishbone.json'}):")
    print("   " + (work / "wishbone.json").read_text().replace("\n", "\n   "))
    for receiver in receivers:
        print(f"UDP receive buffer of {receiver.name}: {granted_buffer(receiver.udp)}")
    time.sleep(1.0)
    for transport in args.transports.split(","):
        print(
            f"-- syslog over {transport.upper()}: {SIZE}-byte RFC 5424 messages from loggen, {args.seconds:g} s per run"
        )
        print(f"   {'offered/s':>10} {'receiver':10} {'delivered':>10} {'per s':>9} {'fraction':>9} {'CPU us/msg':>11}")
        for turn in range(args.repeat):
            for rate in rates:
                for receiver in receivers:
                    figures = measure(receiver, transport, rate, args.seconds)
                    rows.setdefault((transport, rate, receiver.name), []).append(figures)
                    print(
                        f"   {rate:10,} {receiver.name:10} {figures['delivered']:10,} {figures['rate']:9,.0f} "
                        f"{figures['fraction']:9.1%} "
                        f"{figures['cpu_us']:11.2f}   turn {turn + 1}",
                        flush=True,
                    )
    for receiver in receivers:
        counter = receiver.counter
        print(f"{receiver.name} wrote {counter.lines:,} lines, {counter.offset / max(counter.lines, 1):.1f} bytes each")
    print(f"load average after the run: {os.getloadavg()[0]:.1f}")


def medians(turns: list[dict]) -> dict:
    """The median of each figure over the turns of one (transport, rate, receiver)."""
    return {key: statistics.median(t[key] for t in turns) for key in ("fraction", "cpu_us")}


def report(rows: dict, rates: list[int], args: argparse.Namespace) -> None:
    print(f"-- medians of {args.repeat} turn(s)")
    print(f"   {'transport':9} {'offered/s':>10} {'wishbone':>20} {'syslog-ng':>20}   (fraction, CPU us/msg)")
    kinds = [("wishbone", "")]
    if args.raw_bound:
        kinds.append(("wishbone-raw", "without parsing (syslog_in mode raw): the bound of a faster parser"))
    for name, title in kinds:
        if title:
            print(f"   {title}")
        for transport in args.transports.split(","):
            for rate in rates:
                wb = medians(rows[(transport, rate, name)])
                ng = medians(rows[(transport, rate, "syslog-ng")])
                print(
                    f"   {transport:9} {rate:10,} {wb['fraction']:9.1%} {wb['cpu_us']:10.2f} "
                    f"{ng['fraction']:9.1%} {ng['cpu_us']:10.2f}   ({wb['cpu_us'] / ng['cpu_us']:.0%} of the CPU)"
                )
    for transport in args.transports.split(","):
        for rate in rates:
            wb = medians(rows[(transport, rate, "wishbone")])
            ng = medians(rows[(transport, rate, "syslog-ng")])
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
