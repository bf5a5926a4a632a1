"""The ``wishbone`` command's one-shot commands, run for real: banner, usage, validate, list, show."""

from __future__ import annotations

import re
import sys
from importlib.metadata import entry_points
from pathlib import Path

from wishbone.testing.cli import run_cli, write_bootstrap

ROOT = Path(__file__).resolve().parent.parent
BROKERTEST = [sys.executable, str(ROOT / "examples" / "brokertest")]


def _good(tmp_path: Path) -> str:
    return write_bootstrap(
        tmp_path / "good.json",
        {"input": ("testevent", {"count": 1}), "output": ("null", {})},
        {"input.outbox": ["output.inbox"]},
    )


def test_no_arguments_prints_banner_usage_and_one_error_line():
    result = run_cli()
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert lines[0].startswith("wishbone version ") and "The Wishbone developers" in lines[0]
    assert any(line.startswith("usage: wishbone command --config file [--instances number]") for line in lines)
    assert lines[-1].startswith("wishbone: error: ")
    assert "Traceback" not in result.stderr


def test_usage_errors_exit_2_without_traceback(tmp_path):
    for args, expected in [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["start"], "start needs --config file"),
        (["debug", "--instances", "0", "--config", "x.json"], "expected 1 or more"),
        (["show"], "show needs the name of a module"),
        (["validate", "--config", "x.json", "--loglevel", "loud"], "invalid choice: 'loud'"),
    ]:
        result = run_cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert expected in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert "version" not in result.stderr.splitlines()[0]  # the banner is for the bare command only


def test_help_lists_every_command():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("start", "stop", "debug", "kill", "list", "show", "validate", "--drain-deadline", "--syslog"):
        assert command in result.stdout


def test_validate_accepts_a_good_file(tmp_path):
    result = run_cli("validate", "--config", _good(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "OK (2 module instance(s), 1 route(s))" in result.stdout


def test_validate_names_file_and_json_path_and_exits_78(tmp_path):
    bad_param = write_bootstrap(
        tmp_path / "bad.json",
        {"input": ("testevent", {"interval": "fast"}), "output": ("null", {})},
        {"input.outbox": ["output.inbox"]},
    )
    result = run_cli("validate", "--config", bad_param)
    assert result.returncode == 78
    assert f"{bad_param}: bootstrap.input.variables.interval: expected float" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr

    refused = write_bootstrap(tmp_path / "refused.json", {"input": ("testevent", {"interval": -1})}, {})
    result = run_cli("validate", "--config", refused)
    assert result.returncode == 78
    assert "bootstrap.input.variables: TestEvent refused its parameters" in result.stderr

    (tmp_path / "broken.json").write_text('{"bootstrap": ')
    result = run_cli("validate", "--config", str(tmp_path / "broken.json"))
    assert result.returncode == 78 and "invalid JSON at line 1" in result.stderr

    result = run_cli("validate", "--config", str(tmp_path / "missing.json"))
    assert result.returncode == 78
    assert result.stderr == f"wishbone: {tmp_path / 'missing.json'}: no such file\n"


def test_debug_and_start_refuse_a_bad_file_before_forking(tmp_path):
    bad = write_bootstrap(tmp_path / "bad.json", {"input": ("nosuchmodule", {})}, {})
    for command in ("debug", "start"):
        result = run_cli(command, "--config", bad, "--pid", str(tmp_path / "x.pid"), timeout=20)
        assert result.returncode == 78, result.stderr
        assert "bootstrap.input.module: no module 'nosuchmodule'" in result.stderr
        assert "Traceback" not in result.stderr
        assert not (tmp_path / "x.pid").exists()


def test_list_shows_builtins_and_every_installed_module_package():
    result = run_cli("list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[2].split() == ["NAME", "KIND", "PACKAGE", "VERSION", "SUMMARY"]
    rows = {line.split()[0]: line.split() for line in lines[3:] if line.strip()}
    for name in ("testevent", "null", "passthrough"):
        assert rows[name][2:4] == ["wishbone", "4.0.0"]
    assert rows["testsink"][2] == "wb-testsink"
    assert "Counts the events it consumes" in result.stdout
    for ep in entry_points(group="wishbone.module"):  # every installed package, whoever wrote it
        assert ep.name in rows and rows[ep.name][2] == ep.dist.name
        assert rows[ep.name][1] == (getattr(ep.load(), "kind", None) or "-")

    metrics = run_cli("list", "--group", "wishbone.metrics")
    assert metrics.returncode == 0
    assert any(line.split()[:3] == ["log", "metrics", "wishbone"] for line in metrics.stdout.splitlines())

    empty = run_cli("list", "--group", "no.such.group")
    assert empty.returncode == 0 and "No modules installed in group 'no.such.group'" in empty.stdout


def test_show_prints_docstring_parameters_and_queues():
    result = run_cli("show", "testevent")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("testevent (wishbone 4.0.0, group wishbone.module, wishbone.builtin.testevent:TestEvent)")
    assert "Generates test events." in out
    assert "  interval  float, default 1.0" in out and "  count     int, default 0" in out
    assert "consumes  none (an input)" in out and "emits     outbox, failed" in out

    sink = run_cli("show", "testsink").stdout
    assert re.search(r"^  path +str, required$", sink, re.M) and "consumes  inbox" in sink

    metrics = run_cli("show", "log", "--group", "wishbone.metrics")
    assert metrics.returncode == 0
    assert (
        "Writes every metrics snapshot to the log" in metrics.stdout
        and "skip_idle  bool, default true" in metrics.stdout
    )

    missing = run_cli("show", "nosuch")
    assert missing.returncode == 1 and "no module 'nosuch' in group 'wishbone.module'" in missing.stderr


def test_branded_script_has_its_own_banner_and_name(tmp_path):
    result = run_cli(program=BROKERTEST)
    assert result.returncode == 2
    assert result.stderr.startswith("BrokerTest version 0.1")
    assert "Jelle Smet" in result.stderr.splitlines()[0]
    assert "This setup generates a feedback loop to the RabbitMQ message broker." in result.stderr
    assert "usage: brokertest command --config file" in result.stderr
    assert "--pid" in run_cli("--help", program=BROKERTEST).stdout
    assert "BrokerTest.pid" in run_cli("--help", program=BROKERTEST).stdout
    assert run_cli("--version", program=BROKERTEST).stdout.strip() == "BrokerTest 0.1"
    assert run_cli("validate", "--config", _good(tmp_path), program=BROKERTEST).returncode == 0
