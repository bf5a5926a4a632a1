"""Scaling out: an AMQP input with --instances 2 against --instances 1, the real CLI, same run.

    python bench/bench_instances.py [--messages 100000] [--repeat 3] [--output null|amqp_out]

A queue is filled with *messages* persistent messages; ``wishbone debug --instances N`` runs
amqp_in -> passthrough -> OUTPUT (each worker a competing consumer of the queue, acks after
delivery) until the queue is empty and nothing is unacknowledged; the rate is messages over
that time, process start included. The baseline is the same command with one instance.
Target: two instances reach at least 1.6 times one. On this 2-core machine the broker shares
the cores with the workers, so what two instances can gain is bounded by what the broker
leaves them: the script prints the CPU the broker used too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

import pika
from report import result

URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


def fill(n: int) -> str:
    """A fresh durable queue holding *n* persistent messages (not timed)."""
    connection = pika.BlockingConnection(pika.URLParameters(URL))
    channel = connection.channel()
    queue = f"bench-scale-{uuid.uuid4().hex[:8]}"
    channel.queue_declare(queue, durable=True)
    props = pika.BasicProperties(delivery_mode=2)
    for i in range(n):
        channel.basic_publish("", queue, b'{"n": %d}' % i, props)
        if i % 5000 == 0:
            connection.process_data_events(0)
    while channel.queue_declare(queue, passive=True).method.message_count < n:
        time.sleep(0.05)
    connection.close()
    return queue


def broker_cpu() -> float:
    """CPU seconds the RabbitMQ node (beam.smp) has used so far; 0 if it cannot be read."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)
            if "beam" not in fields[0]:
                continue
            parts = fields[1].split()
            total += (int(parts[11]) + int(parts[12])) / ticks
        except (OSError, IndexError, ValueError):
            continue
    return total


def run(instances: int, n: int, output: str, workdir: str) -> tuple[float, float, float, float]:
    """One run: (messages/s, wall seconds, broker CPU seconds, wishbone CPU seconds)."""
    queue = fill(n)
    out_queue = f"{queue}-out"
    outputs = {
        "null": {"module": "null"},
        "amqp_out": {"module": "amqp_out", "variables": {"url": URL, "queue": out_queue, "routing_key": out_queue}},
    }
    config = os.path.join(workdir, f"scale-{instances}.json")
    with open(config, "w") as fh:
        json.dump(
            {
                "bootstrap": {
                    "input": {"module": "amqp_in", "variables": {"url": URL, "queue": queue, "prefetch": 500}},
                    "pass": {"module": "passthrough"},
                    "output": outputs[output],
                },
                "routingtable": {"input.outbox": ["pass.inbox"], "pass.outbox": ["output.inbox"]},
            },
            fh,
        )
    wishbone = shutil.which("wishbone") or os.path.join(os.path.dirname(sys.executable), "wishbone")
    connection = pika.BlockingConnection(pika.URLParameters(URL))
    channel = connection.channel()
    cpu0 = broker_cpu()
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [wishbone, "debug", "--config", config, "--instances", str(instances), "--pid", config + ".pid"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = start + 600
        while time.perf_counter() < deadline:
            ready = channel.queue_declare(queue, passive=True).method.message_count
            # ready is 0: wait for the unacknowledged ones too (a consumer still holds them)
            if ready == 0 and unacked(queue) == 0:
                break
            time.sleep(0.02)
        elapsed = time.perf_counter() - start
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
        channel.queue_delete(queue)
        if output == "amqp_out":
            channel.queue_delete(out_queue)
        connection.close()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = children.ru_utime + children.ru_stime - children0.ru_utime - children0.ru_stime
    return n / elapsed, elapsed, broker_cpu() - cpu0, ours


def unacked(queue: str) -> int:
    """Messages delivered but not acknowledged yet, from rabbitmqctl (0 if it cannot tell)."""
    try:
        out = subprocess.run(
            ["rabbitmqctl", "-q", "list_queues", "name", "messages_unacknowledged"],
            capture_output=True,
            text=True,
            timeout=30,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == queue:
            return int(parts[1])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--output", choices=["null", "amqp_out"], default="null")
    args = parser.parse_args(argv)
    runs: dict[int, list[tuple[float, float, float, float]]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as workdir:
        for _ in range(args.repeat):
            for instances in (1, 2):  # interleaved: noise hits both alike
                runs[instances].append(run(instances, args.messages, args.output, workdir))
    print(f"{args.messages:,} messages per run, amqp_in -> passthrough -> {args.output}, {args.repeat} runs")
    med = {k: [statistics.median(r[i] for r in runs[k]) for i in range(4)] for k in (1, 2)}
    for k in (1, 2):
        rate, wall, broker, ours = med[k]
        each = " ".join(f"{r[0]:,.0f}" for r in runs[k])
        print(
            f"--instances {k}: {rate:10,.0f} msg/s (runs: {each}); {wall:.2f} s wall, "
            f"CPU: wishbone {ours:.2f} s, broker {broker:.2f} s"
        )
    one, two = med[1][0], med[2][0]
    _, wall1, broker1, ours1 = med[1]
    cores = os.cpu_count() or 1
    # If the CPU work of one instance's run (its processes and the broker's) were spread
    # perfectly over every core, the run could not be shorter than this:
    ceiling = wall1 / max((ours1 + broker1) / cores, 1e-9)
    print(f"scaling: {two / one:.2f}x (target >= 1.6x)")
    print(
        f"ceiling on {cores} cores: one instance's run used {ours1 + broker1:.2f} CPU-s in {wall1:.2f} s, "
        f"so {cores} cores allow at most {ceiling:.2f}x"
    )
    result(
        f"--instances 2 vs 1, AMQP input ({args.output} output; CPU ceiling here {ceiling:.2f}x)",
        two,
        "messages/s",
        ">= 1.6x",
        two >= 1.6 * one,
        one,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
