"""amqp_in -> amqp_out messages/s, next to a bare pika GeventConnection loop, in the same run.

Both sides move the same messages from one queue to another at-least-once: consume with
manual acks (prefetch 500), publish with publisher confirms, acknowledge a message only
after its copy was confirmed. The bare loop does that in pika's callbacks with nothing else
around it; Wishbone does it through its modules, queues and the acknowledgement path.

    python bench/bench_amqp.py [--messages 30000] [--repeat 3] [--url amqp://guest:guest@127.0.0.1:5672/%2F]

Prints each run (rate, and this process's CPU time per message: on a small machine the broker
often sets the pace, and the CPU time shows what the client side costs), the medians and the
ratio of the rates (target: Wishbone >= 70% of bare pika).
"""

from __future__ import annotations

import argparse
import collections
import statistics
import time
import uuid

import gevent
import gevent.event
import pika
from pika.adapters.gevent_connection import GeventConnection
from report import result

PREFETCH = 500


def blocking(url: str) -> tuple[pika.BlockingConnection, object]:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    return connection, connection.channel()


def fill(url: str, n: int) -> tuple[str, str]:
    """Two fresh queues, the first holding *n* persistent messages (not timed)."""
    connection, channel = blocking(url)
    source, target = f"bench-in-{uuid.uuid4().hex[:8]}", f"bench-out-{uuid.uuid4().hex[:8]}"
    for queue in (source, target):
        channel.queue_declare(queue, durable=True)
    props = pika.BasicProperties(delivery_mode=2)
    body = b"x" * 100
    for i in range(n):
        channel.basic_publish("", source, body, props)
        if i % 5000 == 0:
            connection.process_data_events(0)
    while channel.queue_declare(source, passive=True).method.message_count < n:
        time.sleep(0.05)
    connection.close()
    return source, target


def check_and_delete(url: str, source: str, target: str, n: int) -> None:
    connection, channel = blocking(url)
    left = channel.queue_declare(source, passive=True).method.message_count
    moved = channel.queue_declare(target, passive=True).method.message_count
    channel.queue_delete(source)
    channel.queue_delete(target)
    connection.close()
    assert left == 0 and moved >= n, f"run incomplete: {left} left, {moved} moved"


def opened(url: str):
    """A GeventConnection and a channel, opened (waits in this greenlet)."""
    ready = gevent.event.AsyncResult()
    connection = GeventConnection(
        pika.URLParameters(url),
        on_open_callback=ready.set,
        on_open_error_callback=lambda c, e: ready.set_exception(e),
    )
    ready.get(timeout=10)
    channel_ready = gevent.event.AsyncResult()
    connection.channel(on_open_callback=channel_ready.set)
    return connection, channel_ready.get(timeout=10)


def run_bare(url: str, source: str, target: str, n: int) -> tuple[float, float]:
    """Bare pika: consume -> publish (confirm mode) -> ack after the confirm, all in callbacks."""
    consumer, inbound = opened(url)
    publisher, outbound = opened(url)
    done = gevent.event.Event()
    pending: collections.deque[tuple[int, int]] = collections.deque()  # (publish seq, delivery tag)
    state = {"seq": 0, "acked": 0}

    def on_confirm(frame) -> None:
        tag, multiple = frame.method.delivery_tag, frame.method.multiple
        highest = count = 0
        while pending and (pending[0][0] <= tag if multiple else pending[0][0] == tag):
            highest = pending.popleft()[1]
            count += 1
        if count:
            inbound.basic_ack(highest, multiple=True)
        state["acked"] += count
        if state["acked"] >= n:
            done.set()

    def on_message(channel, method, properties, body) -> None:
        outbound.basic_publish("", target, body, properties)
        state["seq"] += 1
        pending.append((state["seq"], method.delivery_tag))

    confirm = gevent.event.AsyncResult()
    outbound.confirm_delivery(on_confirm, callback=confirm.set)
    confirm.get(timeout=10)
    qos = gevent.event.AsyncResult()
    inbound.basic_qos(prefetch_count=PREFETCH, callback=qos.set)
    qos.get(timeout=10)
    start, cpu = time.perf_counter(), time.process_time()
    inbound.basic_consume(source, on_message)
    done.wait(300)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    for connection in (consumer, publisher):
        connection.close()
    gevent.sleep(0.2)
    return n / elapsed, cpu / n * 1e6


def run_wishbone(url: str, source: str, target: str, n: int) -> tuple[float, float]:
    """amqp_in -> amqp_out in one pipeline, timed until the input acknowledged all n."""
    from wishbone import Pipeline

    pipeline = Pipeline.from_dict(
        {
            "bootstrap": {
                "input": {"module": "amqp_in", "variables": {"url": url, "queue": source, "prefetch": PREFETCH}},
                "output": {"module": "amqp_out", "variables": {"url": url, "routing_key": target}},
            },
            "routingtable": {"input.outbox": ["output.inbox"]},
        }
    )
    source_module = pipeline.modules["input"]
    pipeline.start()
    while not source_module.metrics()["connected"]:
        gevent.sleep(0.001)
    start, cpu = time.perf_counter(), time.process_time()
    while source_module.acked < n:
        gevent.sleep(0.005)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    pipeline.stop(10)
    return n / elapsed, cpu / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672/%2F")
    args = parser.parse_args()
    n = args.messages
    results: dict[str, list[float]] = {"bare pika": [], "wishbone": []}
    cpu: dict[str, list[float]] = {"bare pika": [], "wishbone": []}
    print(f"{n} messages of 100 bytes per run, prefetch {PREFETCH}, confirms and acks on")
    for round_ in range(1, args.repeat + 1):
        for name, run in (("bare pika", run_bare), ("wishbone", run_wishbone)):
            source, target = fill(args.url, n)
            rate, cpu_per_message = run(args.url, source, target, n)
            check_and_delete(args.url, source, target, n)
            results[name].append(rate)
            cpu[name].append(cpu_per_message)
            print(f"  run {round_}  {name:10s} {rate:10,.0f} msg/s  {cpu_per_message:6.1f} us CPU/msg in this process")
    bare = statistics.median(results["bare pika"])
    ours = statistics.median(results["wishbone"])
    for name, rate in (("bare pika", bare), ("wishbone", ours)):
        print(f"median     {name:10s} {rate:10,.0f} msg/s  {statistics.median(cpu[name]):6.1f} us CPU/msg")
    print(f"ratio      {ours / bare:.0%} of bare pika (target >= 70%)")
    result(
        "AMQP in -> AMQP out, at-least-once (acks after confirms)",
        ours,
        "messages/s",
        ">= 70% of baseline",
        ours >= 0.7 * bare,
        bare,
    )


if __name__ == "__main__":
    main()
