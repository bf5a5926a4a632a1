"""MQTT benchmark: mqtt_in -> null and testevent -> mqtt_out, next to bare paho-mqtt loops (QoS 1).

    python bench/bench_mqtt.py [--events 20000] [--repeat 3]

Same broker (Mosquitto on 127.0.0.1:1883), same QoS (1) and acknowledgement policy, same run,
subject and baselines in turns:

* in: a publisher process sends N JSON messages at QoS 1 (what the broker drops past its queue
  of 1000 for a slow consumer is not counted: the rate is of what arrived); the consumer decodes each and
  acknowledges it (PUBACK) once handled. Bare: a paho client with manual acks, decoding and
  acknowledging in on_message, in its own network loop. Wishbone: mqtt_in -> null (PUBACK
  once null consumed the event). The broker lets 20 unacknowledged messages be in flight to a
  client (Mosquitto's default for MQTT 3.1.1), for both. Then the same with MQTT 5, both
  consumers letting the broker send 1000 unacknowledged (Receive Maximum; mqtt_in ``version: 5``).
* out: N events published at QoS 1, each held until its PUBACK, 1000 in flight at most. Two bare
  loops: paho's own window (``max_inflight_messages_set(1000)``, as paho's examples do it) and
  the window kept by the loop (paho unlimited, the loop waits for the PUBACK of the message 1000
  back: what mqtt_out does, and cheaper: paho's window scans its messages on every PUBACK).
  Wishbone: testevent -> mqtt_out. The target is against the faster bare loop.

Two figures per row: messages per second (wall, medians) and the client's CPU microseconds per
message (``time.process_time`` of this process, every thread, over the same span; the broker and
the publisher process are the same for both sides and not counted). On a shared machine the CPU
figure is the one to quote; the RESULT rows are messages per CPU second, the target met when the
subject is at >= 70% of the bare loop on it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
import uuid

import paho.mqtt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from report import result
from wishbone import Pipeline

PORT = 1883
WINDOW = 1000  # QoS 1 publishes in flight, for both
PUBLISHER = textwrap.dedent(
    """
    import sys, time, paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    topic, n = sys.argv[1], int(sys.argv[2])
    time.sleep(0.5)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=topic + "-pub")
    c.max_inflight_messages_set(0)  # paho's window costs a scan of its messages per PUBACK
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", 1883)
    c.loop_start()
    infos = [c.publish(topic, b'{"host": "web-1", "level": "info", "n": %d}' % i, 1) for i in range(n)]
    for info in infos:
        info.wait_for_publish(60)
    c.loop_stop()
    """
)


def bare_in(topic: str, n: int, version: str = "3.1.1") -> tuple[float, float]:
    got = [0, 0.0, 0.0]
    if version == "5":  # a persistent session, the broker may send WINDOW unacknowledged
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=topic + "-bare", protocol=mqtt.MQTTv5)
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval, properties.ReceiveMaximum = 3600, WINDOW
        options = {"clean_start": False, "properties": properties}
    else:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=topic + "-bare", clean_session=False)
        options = {}
    c.manual_ack_set(True)

    def on_message(client, userdata, m):
        json.loads(m.payload)
        client.ack(m.mid, 1)
        got[0] += 1
        if got[0] == 1:
            got[1], got[2] = time.perf_counter(), time.process_time()

    c.on_message = on_message
    c.connect("127.0.0.1", PORT, **options)
    c.subscribe(topic, 1)
    pub = subprocess.Popen([sys.executable, "-c", PUBLISHER, topic, str(n)])
    last, last_change = 0, time.monotonic()
    while got[0] < n and time.monotonic() - last_change < 2.0:  # the broker may drop past its queue
        c.loop(0.05)
        if got[0] != last:
            last, last_change, got_at, cpu_at = got[0], time.monotonic(), time.perf_counter(), time.process_time()
    pub.wait(60)
    c.disconnect()
    return (got[0] - 1) / (got_at - got[1]), (cpu_at - got[2]) / (got[0] - 1)


def wishbone_in(topic: str, n: int, version: str = "3.1.1") -> tuple[float, float]:
    p = Pipeline.from_dict(
        {
            "bootstrap": {
                "input": {
                    "module": "mqtt_in",
                    "variables": {
                        "topics": [topic],
                        "client_id": topic + "-wb",
                        "version": version,
                        "inflight": WINDOW,
                    },
                },
                "output": {"module": "null"},
            },
            "routingtable": {"input.outbox": ["output.inbox"]},
        },
        load_entry_points=False,
    )
    p.start()
    while not p.modules["input"].ready:
        p.wait(0.01)
    p.wait(0.3)
    pub = subprocess.Popen([sys.executable, "-c", PUBLISHER, topic, str(n)])
    while p.modules["output"].consumed == 0:
        p.wait(0.001)
    start, cpu_start, first = time.perf_counter(), time.process_time(), p.modules["output"].consumed
    last, last_change, end, cpu_end = first, time.monotonic(), start, cpu_start
    while p.modules["output"].consumed < n and time.monotonic() - last_change < 2.0:
        p.wait(0.01)
        if p.modules["output"].consumed != last:
            last, last_change = p.modules["output"].consumed, time.monotonic()
            end, cpu_end = time.perf_counter(), time.process_time()
    pub.wait(60)
    p.stop(10)
    return (last - first) / (end - start), (cpu_end - cpu_start) / (last - first)


def bare_out(topic: str, n: int, paho_window: bool) -> tuple[float, float]:
    """paho publishing in a loop, its network thread writing; 1000 in flight, by paho or by the loop."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=topic + "-bare-out")
    c.max_inflight_messages_set(WINDOW if paho_window else 0)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", PORT)
    c.loop_start()
    start, cpu = time.perf_counter(), time.process_time()
    payload = {"host": "web-1", "level": "info"}
    infos = []
    for i in range(n):
        if not paho_window and i >= WINDOW:
            infos[i - WINDOW].wait_for_publish(60)
        infos.append(c.publish(topic, json.dumps(payload).encode(), 1))
    for info in infos:
        info.wait_for_publish(60)
    rate, cpu = n / (time.perf_counter() - start), (time.process_time() - cpu) / n
    c.loop_stop()
    c.disconnect()
    return rate, cpu


def wishbone_out(topic: str, n: int) -> float:
    p = Pipeline.from_dict(
        {
            "bootstrap": {
                "input": {
                    "module": "testevent",
                    "variables": {"interval": 0, "count": n, "payload": {"host": "web-1", "level": "info"}},
                },
                "output": {
                    "module": "mqtt_out",
                    "variables": {"topic": topic, "client_id": topic + "-wb-out", "max_inflight": WINDOW},
                },
            },
            "routingtable": {"input.outbox": ["output.inbox"]},
        },
        load_entry_points=False,
    )
    start, cpu = time.perf_counter(), time.process_time()
    p.start()
    p.wait()
    p.stop(60)
    assert p.modules["output"].confirmed == n, p.modules["output"].metrics()
    return n / (time.perf_counter() - start), (time.process_time() - cpu) / n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rows = {
        "bare in": "bare paho: decode + PUBACK",
        "mqtt_in": "mqtt_in -> null (PUBACK once delivered)",
        "bare in 5": "bare paho, MQTT 5, 1000 in flight",
        "mqtt_in 5": "mqtt_in -> null, MQTT 5, 1000 in flight",
        "bare out paho": "bare paho: paho's window",
        "bare out loop": "bare paho: window kept by the loop",
        "mqtt_out": "testevent -> mqtt_out",
    }
    rates: dict[str, list[float]] = {k: [] for k in rows}
    cpus: dict[str, list[float]] = {k: [] for k in rows}
    load = os.getloadavg()
    for _ in range(args.repeat):
        base = f"wbbench/{uuid.uuid4().hex[:8]}"
        for key, run, args_ in (
            ("bare in", bare_in, (base + "/bi", args.events)),
            ("mqtt_in", wishbone_in, (base + "/wi", args.events)),
            ("bare in 5", bare_in, (base + "/bi5", args.events, "5")),
            ("mqtt_in 5", wishbone_in, (base + "/wi5", args.events, "5")),
            ("bare out paho", bare_out, (base + "/bp", args.events, True)),
            ("mqtt_out", wishbone_out, (base + "/wo", args.events)),
            ("bare out loop", bare_out, (base + "/bl", args.events, False)),
        ):
            rate, cpu = run(*args_)
            rates[key].append(rate)
            cpus[key].append(cpu)
    med = {k: statistics.median(v) for k, v in rates.items()}
    cpu = {k: statistics.median(v) * 1e6 for k, v in cpus.items()}  # microseconds per message
    load = [round(max(a, b), 1) for a, b in zip(load, os.getloadavg(), strict=True)]
    print(f"python {sys.version.split()[0]}, paho-mqtt {paho.mqtt.__version__}, load average {load}")
    print(f"{args.events:,} messages at QoS 1, {args.repeat} runs (medians)")
    print(f"{'':42} {'msgs/s':>9} {'of bare':>8} {'CPU us/msg':>11} {'of bare':>8}")
    best_out = min(("bare out paho", "bare out loop"), key=lambda k: cpu[k])
    for key, label in rows.items():
        base = {"mqtt_in": "bare in", "mqtt_in 5": "bare in 5", "mqtt_out": best_out}.get(key, key)
        print(f"{label:42} {med[key]:9,.0f} {med[key] / med[base]:8.0%} {cpu[key]:11.1f} {cpu[base] / cpu[key]:8.0%}")
    for row, key, base in (
        ("mqtt_in -> null (QoS 1)", "mqtt_in", "bare in"),
        ("mqtt_in -> null (QoS 1, MQTT 5, 1000 in flight)", "mqtt_in 5", "bare in 5"),
        ("testevent -> mqtt_out (QoS 1)", "mqtt_out", best_out),
    ):
        result(row, 1e6 / cpu[key], "msgs/CPU-s", ">= 70% of bare paho", cpu[base] / cpu[key] >= 0.7, 1e6 / cpu[base])
    return 0


if __name__ == "__main__":
    sys.exit(main())
