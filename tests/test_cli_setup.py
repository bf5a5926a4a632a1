"""The first hour: the README's set-up installs every package of the monorepo, and the branded
example server runs with the bootstrap file it ships, against the real RabbitMQ."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
from wb_amqp.testing import Broker
from wishbone.testing.cli import wait_until

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def _declared_modules() -> dict[str, set[str]]:
    """Every module name each ``modules/*/pyproject.toml`` declares, by entry-point group."""
    found: dict[str, set[str]] = {}
    for pyproject in ROOT.glob("modules/*/pyproject.toml"):
        project = tomllib.loads(pyproject.read_text())["project"]
        for group, eps in project.get("entry-points", {}).items():
            if group.startswith("wishbone."):
                found.setdefault(group, set()).update(eps)
    return found


def test_the_readme_first_command_is_the_dev_install_script():
    first = re.search(r"```sh\n(.*?)```", README.read_text(), re.S).group(1)
    setup = next(line for line in first.splitlines() if line and not line.startswith("#"))
    assert setup.startswith("scripts/dev-install && .venv/bin/wishbone debug --config examples/demo.json"), setup


@pytest.mark.timeout(300)
def test_dev_install_installs_every_package_of_the_monorepo(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=60)
    result = subprocess.run(
        [str(ROOT / "scripts" / "dev-install"), str(venv)], capture_output=True, text=True, timeout=280
    )
    assert result.returncode == 0, result.stderr
    packages = sorted(p.parent.name for p in ROOT.glob("modules/*/pyproject.toml"))
    assert result.stdout.strip() == f"dev-install: installed into {venv}: core {' '.join(packages)}"
    for group, names in _declared_modules().items():
        listed = subprocess.run(
            [str(venv / "bin" / "wishbone"), "list", "--group", group], capture_output=True, text=True, timeout=60
        ).stdout
        rows = {line.split()[0] for line in listed.splitlines()[3:] if line.strip()}
        assert names <= rows, (group, names - rows)
    # every example of examples/ loads with what was installed
    for example in sorted((ROOT / "examples").glob("*.json")):
        checked = subprocess.run(
            [str(venv / "bin" / "wishbone"), "validate", "--config", str(example)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert checked.returncode == 0, checked.stderr


def test_brokertest_ships_its_bootstrap_file_and_loops_through_the_broker(tmp_path, amqp_vhost_url):
    shipped = json.loads((ROOT / "examples" / "brokertest.json").read_text())
    for name in ("consume", "publish"):  # the shipped file, pointed at this test's own vhost
        shipped["bootstrap"][name]["variables"]["url"] = amqp_vhost_url
    config = tmp_path / "brokertest.json"
    config.write_text(json.dumps(shipped))
    log = tmp_path / "brokertest.log"
    script = ROOT / "examples" / "brokertest"
    assert "examples/brokertest.json" in script.read_text()  # it says how to run it
    with open(log, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, str(script), "debug", "--config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        seed = shipped["bootstrap"]["seed"]["variables"]["count"]

        def looped() -> bool:  # every seeded message went round more than once
            found = re.findall(r"module publish consumed=(\d+)", log.read_text())
            return bool(found) and int(found[-1]) > 3 * seed

        assert wait_until(looped, 30), log.read_text()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        proc.kill()
    text = log.read_text()
    assert "Starting BrokerTest in foreground." in text and "Traceback" not in text
    with Broker(amqp_vhost_url) as broker:  # the loop lost nothing and made nothing up
        assert broker.count("brokertest") == seed
        broker.channel.queue_delete("brokertest")
