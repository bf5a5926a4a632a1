"""MQTT benchmark: mqtt_in -> null and testevent -> mqtt_out, next to bare paho-mqtt loops (QoS 1).

    python bench/bench_mqtt.py [--events 20000] [--repeat 3]

Same broker (Mosquitto on 127.0.0.1:1883), same QoS (1) and acknowledgement policy, same run:

* in: a publisher process sends N JSON messages at QoS 1 (what the broker drops past its queue
  of 1000 for a slow consumer is not counted: the rate is of what arrived); the consumer decodes each and
  acknowledges it (PUBACK) once handled. Bare: a paho client with manual acks, decoding and
  acknowledging in on_message, in its own network loop. Wishbone: mqtt_in -> null (PUBACK
  once null consumed the event). The broker lets 20 unacknowledged messages be in flight to a
  client (Mosquitto's default), for both.
* out: N events published at QoS 1, each held until its PUBACK, 1000 in flight at most. Bare:
  paho publish in a loop with the same window. Wishbone: testevent -> mqtt_out.

Figures are messages per second (medians); the ratio to the bare loop is what to quote.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import textwrap
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from report import result
from wishbone import Pipeline

PORT = 1883
PUBLISHER = textwrap.dedent(
    """
    import sys, time, paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    topic, n = sys.argv[1], int(sys.argv[2])
    time.sleep(0.5)
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=topic + "-pub")
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", 1883)
    c.loop_start()
    infos = [c.publish(topic, b'{"host": "web-1", "level": "info", "n": %d}' % i, 1) for i in range(n)]
    for info in infos:
        info.wait_for_publish(60)
    c.loop_stop()
    """
)


def bare_in(topic: str, n: int) -> float:
    got = [0, 0.0]
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=topic + "-bare", clean_session=False)
    c.manual_ack_set(True)

    def on_message(client, userdata, m):
        json.loads(m.payload)
        client.ack(m.mid, 1)
        got[0] += 1
        if got[0] == 1:
            got[1] = time.perf_counter()

    c.on_message = on_message
    c.connect("127.0.0.1", PORT)
    c.subscribe(topic, 1)
    pub = subprocess.Popen([sys.executable, "-c", PUBLISHER, topic, str(n)])
    last, last_change = 0, time.monotonic()
    while got[0] < n and time.monotonic() - last_change < 2.0:  # the broker may drop past its queue
        c.loop(0.05)
        if got[0] != last:
            last, last_change, got_at = got[0], time.monotonic(), time.perf_counter()
    pub.wait(60)
    c.disconnect()
    return (got[0] - 1) / (got_at - got[1])


def wishbone_in(topic: str, n: int) -> float:
    p = Pipeline.from_dict(
        {
            "bootstrap": {
                "input": {"module": "mqtt_in", "variables": {"topics": [topic], "client_id": topic + "-wb"}},
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
    start, first = time.perf_counter(), p.modules["output"].consumed
    last, last_change, end = first, time.monotonic(), start
    while p.modules["output"].consumed < n and time.monotonic() - last_change < 2.0:
        p.wait(0.01)
        if p.modules["output"].consumed != last:
            last, last_change, end = p.modules["output"].consumed, time.monotonic(), time.perf_counter()
    rate = (last - first) / (end - start)
    pub.wait(60)
    p.stop(10)
    return rate


def bare_out(topic: str, n: int) -> float:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=topic + "-bare-out")
    c.max_inflight_messages_set(1000)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", PORT)
    c.loop_start()
    start = time.perf_counter()
    infos = [c.publish(topic, json.dumps({"host": "web-1", "level": "info"}).encode(), 1) for _ in range(n)]
    for info in infos:
        info.wait_for_publish(60)
    rate = n / (time.perf_counter() - start)
    c.loop_stop()
    c.disconnect()
    return rate


def wishbone_out(topic: str, n: int) -> float:
    p = Pipeline.from_dict(
        {
            "bootstrap": {
                "input": {
                    "module": "testevent",
                    "variables": {"interval": 0, "count": n, "payload": {"host": "web-1", "level": "info"}},
                },
                "output": {"module": "mqtt_out", "variables": {"topic": topic, "client_id": topic + "-wb-out"}},
            },
            "routingtable": {"input.outbox": ["output.inbox"]},
        },
        load_entry_points=False,
    )
    start = time.perf_counter()
    p.start()
    p.wait()
    p.stop(60)
    assert p.modules["output"].confirmed == n, p.modules["output"].metrics()
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rates: dict[str, list[float]] = {k: [] for k in ("bare in", "mqtt_in", "bare out", "mqtt_out")}
    for _ in range(args.repeat):
        base = f"wbbench/{uuid.uuid4().hex[:8]}"
        rates["bare in"].append(bare_in(base + "/bi", args.events))
        rates["mqtt_in"].append(wishbone_in(base + "/wi", args.events))
        rates["bare out"].append(bare_out(base + "/bo", args.events))
        rates["mqtt_out"].append(wishbone_out(base + "/wo", args.events))
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"python {sys.version.split()[0]}, paho-mqtt {mqtt.__version__ if hasattr(mqtt, '__version__') else ''}")
    print(f"{args.events:,} messages at QoS 1, {args.repeat} runs (medians)")
    print(f"{'':40} {'msgs/s':>10} {'of bare':>8}")
    print(f"{'bare paho: decode + PUBACK':40} {med['bare in']:10,.0f} {1:8.0%}")
    print(
        f"{'mqtt_in -> null (PUBACK once delivered)':40} {med['mqtt_in']:10,.0f} {med['mqtt_in'] / med['bare in']:8.0%}"
    )
    print(f"{'bare paho: publish, wait for PUBACKs':40} {med['bare out']:10,.0f} {1:8.0%}")
    print(f"{'testevent -> mqtt_out':40} {med['mqtt_out']:10,.0f} {med['mqtt_out'] / med['bare out']:8.0%}")
    result(
        "mqtt_in -> null (QoS 1)",
        med["mqtt_in"],
        "msgs/s",
        ">= 70% of bare paho",
        med["mqtt_in"] >= 0.7 * med["bare in"],
        med["bare in"],
    )
    result(
        "testevent -> mqtt_out (QoS 1)",
        med["mqtt_out"],
        "msgs/s",
        ">= 70% of bare paho",
        med["mqtt_out"] >= 0.7 * med["bare out"],
        med["bare out"],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
