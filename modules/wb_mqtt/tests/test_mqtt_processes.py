"""Through the real CLI: mqtt_in (QoS 1) -> mqtt_out, kill -9 of the worker mid-stream; the broker
sends the restarted worker's session what it had not acknowledged: none lost, duplicates counted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import gevent
from wb_mqtt import MQTTIn, MQTTOut
from wishbone.testing.cli import read_pids, write_bootstrap
from wishbone.testing.harness import Harness

WISHBONE = os.path.join(os.path.dirname(sys.executable), "wishbone")
COUNT = 1500  # Mosquitto queues at most 1000 messages for a session that is away (max_queued_messages)


def test_kill_9_mid_stream_loses_nothing(tmp_path, mqtt_port, topic):
    config = write_bootstrap(
        tmp_path / "mqtt.json",
        {
            "input": ("mqtt_in", {"port": mqtt_port, "topics": [f"{topic}/in"], "client_id": f"{topic}-worker"}),
            "output": ("mqtt_out", {"port": mqtt_port, "topic": f"{topic}/out", "client_id": f"{topic}-worker-out"}),
        },
        {"input.outbox": ["output.inbox"]},
    )
    pid_path = tmp_path / "wb.pid"
    seen: list[int] = []
    with Harness(MQTTIn, {"port": mqtt_port, "topics": [f"{topic}/out"], "client_id": f"{topic}-sink"}) as sink:
        with open(tmp_path / "debug.log", "w") as log:
            proc = subprocess.Popen([WISHBONE, "debug", "--config", config, "--pid", str(pid_path)], stderr=log)
        try:
            with gevent.Timeout(60):
                while "Subscribed" not in (tmp_path / "debug.log").read_text() or not sink.module.ready:
                    gevent.sleep(0.05)
                with Harness(MQTTOut, {"port": mqtt_port, "topic": f"{topic}/in"}) as source:
                    for start in range(0, COUNT, 100):
                        source.feed([{"headers": {}, "data": i} for i in range(start, start + 100)])
                    killed = False
                    while len(set(seen)) < COUNT:
                        seen += [e["data"] for e in sink.collect("outbox", 1, timeout=30)]
                        if not killed and len(seen) >= COUNT // 2:
                            [worker] = [p for p in read_pids(pid_path) if p != proc.pid]
                            os.kill(worker, signal.SIGKILL)
                            killed = True
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    assert set(seen) == set(range(COUNT))
    print(f"messages: {COUNT}, arrived: {len(seen)}, duplicates: {len(seen) - COUNT}")
