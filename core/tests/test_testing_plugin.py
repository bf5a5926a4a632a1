"""The pytest plugin: fixtures without imports, the broker rule (skip here, fail in CI), no patching."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from wishbone.testing.services import amqp_available

CLOSED = "amqp://guest:guest@127.0.0.1:1/%2F"  # port 1: nothing listens there

USES_FIXTURES = """
def test_udp_port(udp_port):
    assert 1024 <= udp_port < 65536

def test_amqp_url(amqp_url):
    assert amqp_url.startswith("amqp://")

def test_harness(harness):
    from wishbone.builtin.passthrough import Passthrough
    from wishbone.event import new_event
    with harness(Passthrough) as h:
        h.feed([new_event(1)])
        assert h.collect()[0]["data"] == 1
"""


def run_pytest(tmp_path: Path, env: dict) -> subprocess.CompletedProcess:
    (tmp_path / "test_uses_fixtures.py").write_text(USES_FIXTURES)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-W", "error"],
        cwd=tmp_path,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_a_broker_the_amqp_tests_skip_and_say_how_to_start_one(tmp_path):
    done = run_pytest(tmp_path, {"CI": "", "WISHBONE_TEST_AMQP_URL": CLOSED})
    assert done.returncode == 0, done.stdout
    assert "2 passed, 1 skipped" in done.stdout
    assert "rabbitmq-server -detached" in done.stdout


def test_without_a_broker_the_amqp_tests_fail_under_ci(tmp_path):
    done = run_pytest(tmp_path, {"CI": "true", "WISHBONE_TEST_AMQP_URL": CLOSED})
    assert done.returncode == 1, done.stdout
    assert "1 error" in done.stdout and "2 passed" in done.stdout
    assert "CI=true: a missing broker fails the build" in done.stdout


def test_amqp_url_is_the_local_broker(amqp_url):
    assert amqp_url == os.environ.get("WISHBONE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
    assert amqp_available(amqp_url) is None


def test_something_that_is_not_a_broker_is_told_apart():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        problem = amqp_available(f"amqp://127.0.0.1:{port}/", timeout=0.3)
    assert problem is not None and f"127.0.0.1:{port}" in problem


def test_udp_port_is_free_to_bind(udp_port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", udp_port))  # OSError if something holds it
        assert sock.getsockname() == ("127.0.0.1", udp_port)


def test_loading_the_plugin_patches_nothing_and_imports_no_monkey():
    code = (
        "import sys, wishbone.testing.plugin, wishbone.testing\n"
        "assert 'gevent.monkey' not in sys.modules, 'gevent.monkey imported'\n"
        "assert 'wishbone.testing.harness' not in sys.modules, 'harness imported at load'\n"
        "import gevent.monkey\n"
        "assert not gevent.monkey.is_anything_patched()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_the_plugin_is_registered_through_its_entry_point():
    from importlib.metadata import entry_points

    [ep] = [ep for ep in entry_points(group="pytest11") if ep.name == "wishbone"]
    assert ep.value == "wishbone.testing.plugin"


def test_pytest_fixtures_lists_them_with_their_documentation(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--fixtures", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    listed = done.stdout
    assert "wishbone/testing/plugin.py" in listed
    for line in ("A factory of harnesses", "A free UDP port on 127.0.0.1", "The URL of a reachable AMQP broker"):
        assert line in listed
