"""Security promises (docs/security.md): passwords in AMQP URLs never reach logs, errors, ``show`` or
metrics; the UDP input binds to loopback unless told otherwise; a bootstrap file loads installed
entry points only, never a dotted import path."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import gevent
import pytest
from wb_amqp.testing import close_all_connections, rabbitmqctl
from wb_udp import UDPIn
from wishbone.params import parameters_of
from wishbone.pipeline import Pipeline
from wishbone.testing.cli import WISHBONE, run_cli, wait_until, write_bootstrap


@pytest.fixture
def amqp_user(vhost):
    """A broker user with a unique password on the test vhost: ``(user, password)``; removed after."""
    user = f"wbsec_{uuid.uuid4().hex[:6]}"
    secret = f"s3cret{uuid.uuid4().hex[:10]}"
    yield user, secret
    try:
        rabbitmqctl("delete_user", user)
    except RuntimeError:
        pass


def _add_user(vhost: str, user: str, password: str) -> None:
    rabbitmqctl("add_user", user, password)
    rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")


def _run_debug(tmp_path: Path, config: str, seconds: float, during=None) -> tuple[str, str]:
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with open(out, "w") as o, open(err, "w") as e:
        proc = subprocess.Popen(
            [WISHBONE, "debug", "--config", config, "--pid", str(tmp_path / "w.pid"), "--loglevel", "debug"],
            stdout=o,
            stderr=e,
            stdin=subprocess.DEVNULL,
        )
    try:
        # The window starts once the worker says anything: on a loaded machine starting it takes seconds.
        wait_until(lambda: err.stat().st_size > 0, 30)
        started = time.monotonic()
        if during is not None:
            during(err)
        time.sleep(max(0.0, seconds - (time.monotonic() - started)))
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    return out.read_text(errors="replace"), err.read_text(errors="replace")


def _amqp_config(tmp_path: Path, url: str, source: str, target: str) -> str:
    return write_bootstrap(
        tmp_path / "secret.json",
        {
            "input": ("amqp_in", {"url": url, "queue": source, "reconnect_delay": 0.2}),
            "output": ("amqp_out", {"url": url, "routing_key": target, "reconnect_delay": 0.2}),
            "snapshots": ("metrics", {"interval": 0.5}),
            "print": ("stdout", {"complete": True}),
        },
        {"input.outbox": ["output.inbox"], "snapshots.outbox": ["print.inbox"]},
        metrics={"enable": True, "module": "log", "interval": 0.5},
    )


def test_a_password_never_reaches_logs_metrics_or_output(tmp_path, vhost, broker, amqp_user, record):
    user, secret = amqp_user
    password = f"Wb/{secret}@x"  # percent-encoded in the URL, as it must be
    _add_user(vhost, user, password)
    url = f"amqp://{user}:{quote(password, safe='')}@127.0.0.1:5672/{vhost}"
    source, target = broker.queue("rel-sec-in"), broker.queue("rel-sec-out")
    broker.publish(source, (b"%d" % i for i in range(1000)), wait=True)
    config = _amqp_config(tmp_path, url, source, target)

    def force_a_reconnect(err: Path) -> None:
        assert wait_until(lambda: "Connected to" in err.read_text(), 20), err.read_text()
        close_all_connections(vhost)  # lost/reconnect lines name the URL too
        assert wait_until(lambda: err.read_text().count("Connected to") >= 4, 20), err.read_text()

    out, err = _run_debug(tmp_path, config, 3.0, force_a_reconnect)
    wrong = f"amqp://{user}:wrong{secret}@127.0.0.1:5672/{vhost}"  # login refused: an error naming the URL
    out2, err2 = _run_debug(tmp_path, _amqp_config(tmp_path, wrong, source, target), 2.0)
    closed = f"amqp://{user}:{secret}@127.0.0.1:1/{vhost}"  # nothing listens: connection refused
    out3, err3 = _run_debug(tmp_path, _amqp_config(tmp_path, closed, source, target), 2.0)
    texts = {"debug": out + err, "wrong password": out2 + err2, "refused": out3 + err3}
    record(
        checked={k: len(v) for k, v in texts.items()},
        masked_lines=sum(v.count(":***@") for v in texts.values()),
        leaks={k: v.count(secret) for k, v in texts.items()},
    )
    assert '"reconnects"' in out or "reconnects=" in err  # the metrics were there to be searched
    assert "Connected to" in err and ":***@" in err
    assert "***" in err2 and "***" in err3
    for name, text in texts.items():
        assert secret not in text, f"{name}: the password appears in the output"


def test_a_password_with_a_raw_at_sign_is_masked_too(tmp_path, vhost, broker, amqp_user):
    user, secret = amqp_user
    password = f"pre@{secret}"
    _add_user(vhost, user, password)
    url = f"amqp://{user}:{password}@127.0.0.1:5672/{vhost}"
    source, target = broker.queue("rel-sec-in"), broker.queue("rel-sec-out")
    out, err = _run_debug(tmp_path, _amqp_config(tmp_path, url, source, target), 2.0)
    assert "Connected to" in err, err[-2000:]
    assert secret not in out + err, [line for line in err.splitlines() if secret in line][:2]


@pytest.mark.parametrize(
    "url",
    [
        "amqpx://wb:SECRETPW@127.0.0.1:5672/%2F",
        "amqp://wb:SECRETPW@127.0.0.1:notaport/%2F",
        "amqp://wb:SECRETPW@:5672/%2F",
        "amqp://wb:SEC/RETPW@127.0.0.1/",
    ],
    ids=["scheme", "port", "no-host", "raw-slash"],
)
@pytest.mark.parametrize("module", ["amqp_in", "amqp_out"])
def test_validate_errors_about_a_url_never_show_its_password(tmp_path, module, url):
    config = write_bootstrap(tmp_path / "bad-url.json", {"x": (module, {"url": url})}, {})
    result = run_cli("validate", "--config", config)
    assert result.returncode == 78, result
    assert "RETPW" not in result.stdout + result.stderr, result.stderr


@pytest.mark.parametrize("module", ["amqp_in", "amqp_out"])
def test_show_never_prints_a_password(module):
    result = run_cli("show", module)
    assert result.returncode == 0
    assert ":guest@" not in result.stdout, [line for line in result.stdout.splitlines() if ":guest@" in line]


def test_udp_input_binds_to_loopback_by_default():
    [address] = [p.default for p in parameters_of(UDPIn) if p.name == "address"]
    assert address == "127.0.0.1"
    pipeline = Pipeline.from_dict(
        {
            "bootstrap": {"udp": {"module": "udp_in", "variables": {"port": 0}}, "sink": {"module": "null"}},
            "routingtable": {"udp.outbox": ["sink.inbox"]},
        }
    )
    with gevent.Timeout(10):
        pipeline.start()
        try:
            assert pipeline.modules["udp"]._sock.getsockname()[0] == "127.0.0.1"
        finally:
            pipeline.stop(5)


@pytest.mark.parametrize(
    "module",
    [
        "os.system",
        "wishbone.module:Module",
        "subprocess.Popen",
        "wishbone.builtin.testevent:TestEvent",
        "builtins:eval",
        "../../etc/passwd",
        "__import__('os').system('touch /tmp/pwned')",
    ],
)
def test_a_bootstrap_loads_entry_points_only_never_an_import_path(tmp_path, module):
    config = tmp_path / "hostile.json"
    config.write_text(json.dumps({"bootstrap": {"x": {"module": module}}}))
    result = run_cli("validate", "--config", str(config))
    assert result.returncode == 78, result
    assert f"no module {module!r} in group 'wishbone.module'" in result.stderr, result.stderr
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr


def test_an_entry_point_group_outside_wishbone_is_refused_unimported(tmp_path):
    """A bootstrap may name another Wishbone group, never another package's (nothing is imported)."""
    config = tmp_path / "console.json"
    config.write_text(json.dumps({"bootstrap": {"x": {"group": "console_scripts", "module": "wishbone"}}}))
    result = run_cli("validate", "--config", str(config))
    assert result.returncode == 78 and "bootstrap.x.group" in result.stderr, result.stderr
    assert "wishbone.*" in result.stderr, result.stderr
