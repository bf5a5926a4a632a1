"""The real Mosquitto on 127.0.0.1:1883, and a topic prefix per test.

A missing broker skips the test saying how to start one; under ``CI=true`` it fails the run.
"""

from __future__ import annotations

import os
import socket
import uuid

import pytest

HOST, PORT = "127.0.0.1", int(os.environ.get("WISHBONE_TEST_MQTT_PORT", "1883"))
START = "start one with `mosquitto -d -c /etc/mosquitto/mosquitto.conf`"


@pytest.fixture(scope="session")
def mqtt_port() -> int:
    try:
        socket.create_connection((HOST, PORT), timeout=2).close()
    except OSError as exc:
        message = f"an MQTT broker is needed on {HOST}:{PORT}: {exc}; {START}"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(f"{message} (CI=true: a missing broker fails the build)", pytrace=False)
        pytest.skip(message)
    return PORT


@pytest.fixture
def topic(mqtt_port: int) -> str:
    """A topic prefix no other test uses."""
    return f"wbtest/{uuid.uuid4().hex[:10]}"
