"""SIGTERM during a stream: every event the input accepted reaches the sink, the server exits
within its drain deadline, and a second SIGTERM forces it (real ``wishbone debug`` processes)."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from pathlib import Path

from wb_testsink import read_counts
from wishbone.pidfile import alive
from wishbone.testing.cli import read_pids, start_debug, wait_until, write_bootstrap

from reliability.helpers import PYTHON, final_module_metrics

DRAIN = 5.0
METRICS = {"enable": True, "module": "log", "interval": 600}  # only the final snapshot, at stop
SENDER = """
import socket, sys, time
port, rate = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sent = 0
start = time.monotonic()
try:
    while True:
        for _ in range(100):
            try:
                s.sendto(b"event %d" % sent, ("127.0.0.1", port))
                sent += 1
            except OSError:
                pass
        ahead = sent / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
except KeyboardInterrupt:
    pass
print(sent, flush=True)
"""


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _debug(config: str, pid_path: Path, log: Path, drain: float = DRAIN) -> subprocess.Popen:
    return start_debug(config, pid_path, log, "--drain-deadline", str(drain))


def _stop_and_time(proc: subprocess.Popen, limit: float) -> tuple[int, float]:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=limit)
    finally:
        proc.kill()
    return code, time.monotonic() - started


def test_sigterm_during_a_testevent_stream_loses_nothing(tmp_path, pid_path, record):
    counts = tmp_path / "counts.txt"
    config = write_bootstrap(
        tmp_path / "stream.json",
        {"input": ("testevent", {"interval": 0}), "output": ("testsink", {"path": str(counts)})},
        {"input.outbox": ["output.inbox"]},
        metrics=METRICS,
    )
    log = tmp_path / "debug.log"
    proc = _debug(config, pid_path, log)
    try:
        assert wait_until(lambda: read_counts(counts)[0] > 50_000, 30), log.read_text()
        pids = read_pids(pid_path)
        code, took = _stop_and_time(proc, DRAIN + 10)
    finally:
        proc.kill()
    text = log.read_text()
    generated = final_module_metrics(text)[(0, "input")]["generated"]
    batches, finals = read_counts(counts)
    record(
        input="testevent",
        sent=generated,
        received=finals[0] if finals else None,
        lost=generated - batches,
        duplicates=max(0, batches - generated),
        exit_status=code,
        seconds_to_exit=round(took, 3),
        drain_deadline=DRAIN,
    )
    assert code == 0, text
    assert took < DRAIN, text
    assert finals == [batches] and batches == generated, text
    assert not any(alive(p) for p in pids) and not pid_path.exists()


def test_sigterm_during_a_udp_stream_delivers_every_received_datagram(tmp_path, pid_path, record):
    counts = tmp_path / "counts.txt"
    port = _free_udp_port()
    config = write_bootstrap(
        tmp_path / "udp.json",
        {"input": ("udp_in", {"port": port}), "output": ("testsink", {"path": str(counts)})},
        {"input.outbox": ["output.inbox"]},
        metrics=METRICS,
    )
    log = tmp_path / "debug.log"
    proc = _debug(config, pid_path, log)
    sender = None
    try:
        assert wait_until(lambda: "Listening on udp" in log.read_text(), 20), log.read_text()
        sender = subprocess.Popen(
            [PYTHON, "-c", SENDER, str(port), "20000"], stdout=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL
        )
        assert wait_until(lambda: read_counts(counts)[0] > 20_000, 30), log.read_text()
        code, took = _stop_and_time(proc, DRAIN + 10)  # the sender goes on: the input must stop taking
        sender.send_signal(signal.SIGINT)
        sent = int(sender.communicate(timeout=10)[0])
    finally:
        proc.kill()
        if sender is not None:
            sender.kill()
    text = log.read_text()
    figures = final_module_metrics(text)[(0, "input")]
    received = figures["datagrams"]
    batches, finals = read_counts(counts)
    record(
        input="udp_in",
        sent=sent,
        received=received,
        delivered=batches,
        lost=received - batches,
        duplicates=max(0, batches - received),
        not_read_by_input=sent - received,  # sent after intake stopped, or left in the socket buffer
        kernel_drops=figures.get("kernel_drops"),
        exit_status=code,
        seconds_to_exit=round(took, 3),
        drain_deadline=DRAIN,
    )
    assert code == 0, text
    assert took < DRAIN, text
    assert figures.get("decode_failures", 0) == 0 and figures.get("kernel_drops", 0) == 0
    assert finals == [batches] and batches == received, text


def test_a_second_sigterm_forces_a_stuck_drain(tmp_path, pid_path, record):
    counts = tmp_path / "counts.txt"
    config = write_bootstrap(
        tmp_path / "stuck.json",
        {
            "input": ("testevent", {"interval": 0.01}),
            "output": ("testsink", {"path": str(counts), "stop_delay": 60.0}),  # on_stop hangs a minute
        },
        {"input.outbox": ["output.inbox"]},
    )
    log = tmp_path / "debug.log"
    proc = _debug(config, pid_path, log, drain=60.0)
    try:
        assert wait_until(lambda: read_counts(counts)[0] > 10, 20), log.read_text()
        pids = read_pids(pid_path)
        proc.send_signal(signal.SIGTERM)
        assert wait_until(lambda: "Stopping: SIGTERM to pids" in log.read_text(), 10), log.read_text()
        time.sleep(0.5)
        assert proc.poll() is None  # still draining: the first signal does not force
        code, took = _stop_and_time(proc, 15)
    finally:
        proc.kill()
    text = log.read_text()
    record(scenario_detail="second SIGTERM during a 60 s on_stop", exit_status=code, seconds_to_exit=round(took, 3))
    assert code == 1, text
    assert "Forcing: SIGKILL to the workers (a second signal)." in text
    assert took < 5.0
    assert not any(alive(p) for p in pids)
