"""wb-amqp's pytest plugin: the broker's fixtures without imports; no broker skips here, fails in CI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from wb_amqp.testing import amqp_available

CLOSED = "amqp://guest:guest@127.0.0.1:1/%2F"  # port 1: nothing listens there

USES_FIXTURES = """
def test_udp_port(udp_port):
    assert 1024 <= udp_port < 65536

def test_amqp_url(amqp_url):
    assert amqp_url.startswith("amqp://")

def test_amqp_vhost_url(amqp_vhost_url):
    assert amqp_vhost_url.startswith("amqp://")
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
    assert "1 passed, 2 skipped" in done.stdout
    assert "rabbitmq-server -detached" in done.stdout


def test_without_a_broker_the_amqp_tests_fail_under_ci(tmp_path):
    done = run_pytest(tmp_path, {"CI": "true", "WISHBONE_TEST_AMQP_URL": CLOSED})
    assert done.returncode == 1, done.stdout
    assert "2 errors" in done.stdout and "1 passed" in done.stdout
    assert "CI=true: a missing server fails the build" in done.stdout


def test_amqp_vhost_url_is_on_the_local_broker(amqp_vhost, amqp_vhost_url):
    base = os.environ.get("WISHBONE_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
    assert amqp_vhost_url == base.rsplit("/", 1)[0] + "/" + amqp_vhost
    assert amqp_available(amqp_vhost_url) is None


def test_something_that_is_not_a_broker_is_told_apart():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        problem = amqp_available(f"amqp://127.0.0.1:{port}/", timeout=0.3)
    assert problem is not None and f"127.0.0.1:{port}" in problem


def test_loading_the_plugin_imports_no_client_and_no_monkey():
    code = (
        "import sys, wb_amqp.testing.plugin\n"
        "for name in ('pika', 'gevent.monkey', 'wb_amqp.amqp_in', 'wb_amqp.testing.broker'):\n"
        "    assert name not in sys.modules, name + ' imported at load'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_the_plugin_is_registered_through_its_entry_point():
    from importlib.metadata import entry_points

    [ep] = [ep for ep in entry_points(group="pytest11") if ep.name == "wb_amqp"]
    assert ep.value == "wb_amqp.testing.plugin"


def test_pytest_fixtures_lists_them_with_their_documentation(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--fixtures", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "wb_amqp/testing/plugin.py" in done.stdout
    for line in ("The URL of a reachable AMQP broker", "A vhost of this test session"):
        assert line in done.stdout
