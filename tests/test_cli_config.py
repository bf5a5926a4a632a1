"""Bootstrap files on the real command line: YAML, ``${VAR}`` and secrets, ``test`` and ``graph``.

Every test runs the ``wishbone`` command in a subprocess. A secret read with ``${file:...}``
must appear in no log line, no error message, no metrics line and no process title.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

from wishbone.testing.cli import read_pids, run_cli, start_debug, wait_until

ROOT = Path(__file__).resolve().parents[1]
SECRET = "s3cr3t-hunter2-value"


def _secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "db-password.txt"
    path.write_text(SECRET + "\n")
    return path


# --------------------------------------------------------------------------------- YAML
def test_a_yaml_bootstrap_file_validates_and_its_errors_name_path_line_and_column(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(
        "# comments are why people want YAML\n"
        "bootstrap:\n"
        "  input: {module: testevent, variables: {interval: 0.5}}\n"
        "  output: {module: 'null'}\n"
        "routingtable:\n"
        "  input.outbox: [output.inbox]\n"
    )
    done = run_cli("validate", "--config", str(good))
    assert done.returncode == 0, done.stderr
    assert "OK (2 module instance(s), 1 route(s))" in done.stdout

    typo = tmp_path / "typo.yaml"
    typo.write_text("bootstrap:\n  input: {module: testevent, variables: {interval: fast}}\n")
    done = run_cli("validate", "--config", str(typo))
    assert done.returncode == 78
    assert "bootstrap.input.variables.interval: expected float" in done.stderr

    broken = tmp_path / "broken.yml"
    broken.write_text("bootstrap:\n  input: {module: testevent\n  output: x\n")
    done = run_cli("validate", "--config", str(broken))
    assert done.returncode == 78
    assert f"{broken}: not YAML: " in done.stderr and " at line 3 column " in done.stderr
    assert "Traceback" not in done.stderr


# --------------------------------------------------------------------------------- ${VAR}
def test_environment_references_resolve_and_a_missing_one_is_an_error_with_its_path(tmp_path):
    config = tmp_path / "env.json"
    config.write_text(
        json.dumps(
            {
                "bootstrap": {
                    "input": {
                        "module": "testevent",
                        "variables": {"interval": "${WB_T_INTERVAL}", "payload": "${WB_T_P:-x}"},
                    },
                    "output": {"module": "null"},
                },
                "routingtable": {"input.outbox": ["output.inbox"]},
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WB_T_")}
    missing = subprocess.run(
        [*_wishbone(), "validate", "--config", str(config)], capture_output=True, text=True, env=env, timeout=30
    )
    assert missing.returncode == 78
    assert "bootstrap.input.variables.interval: the environment variable WB_T_INTERVAL is not set" in missing.stderr
    ok = subprocess.run(
        [*_wishbone(), "validate", "--config", str(config)],
        capture_output=True,
        text=True,
        env={**env, "WB_T_INTERVAL": "0.25"},  # a number from the environment
        timeout=30,
    )
    assert ok.returncode == 0, ok.stderr


def _wishbone() -> list[str]:
    from wishbone.testing.cli import WISHBONE

    return [WISHBONE]


# --------------------------------------------------------------------------------- secrets
def test_a_secret_from_a_file_is_in_no_error_message(tmp_path):
    secret = _secret_file(tmp_path)
    config = tmp_path / "bad.json"
    config.write_text(
        json.dumps({"bootstrap": {"input": {"module": "testevent", "variables": {"interval": f"${{file:{secret}}}"}}}})
    )
    done = run_cli("validate", "--config", str(config))
    assert done.returncode == 78
    assert "bootstrap.input.variables.interval: expected float, got str '****'" in done.stderr
    assert SECRET not in done.stderr + done.stdout


def test_a_secret_from_a_file_is_in_no_log_line_metrics_line_or_process_title(tmp_path):
    secret = _secret_file(tmp_path)
    config = tmp_path / "pipeline.json"
    config.write_text(
        json.dumps(
            {
                "metrics": {"module": "log", "interval": 0.2},
                "bootstrap": {
                    "input": {"module": "testevent", "variables": {"interval": 0.05, "payload": f"${{file:{secret}}}"}},
                    "output": {"module": "null"},
                },
                "routingtable": {"input.outbox": ["output.inbox"]},
            }
        )
    )
    pid, log = tmp_path / "w.pid", tmp_path / "w.log"
    proc = start_debug(str(config), pid, log, "--loglevel", "debug", "--instances", "2")
    try:
        assert wait_until(lambda: len(read_pids(pid)) == 3, 15), log.read_text()
        titles = {p: Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ").decode() for p in read_pids(pid)}
        assert wait_until(lambda: log.read_text().count("generated") >= 2, 15), log.read_text()  # metrics lines
        os.kill(proc.pid, signal.SIGHUP)  # reopen logs (and reload): logged too
        assert wait_until(lambda: "SIGHUP" in log.read_text(), 10)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    assert proc.returncode == 0
    text = log.read_text()
    assert "with parameters" in text and '"payload": "****"' in text  # the debug line, scrubbed
    assert SECRET not in text
    for title in titles.values():
        assert SECRET not in title and str(secret) not in title
        assert title.rstrip().endswith(str(config))  # the file's name, nothing of its content


# --------------------------------------------------------------------------------- test and graph
def test_config_tests_pass_fail_and_refuse_a_bad_test_file(tmp_path):
    demo = str(ROOT / "examples" / "demo.json")
    done = run_cli("test", "--config", demo, str(ROOT / "examples" / "tests" / "demo.test.yaml"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS" in done.stdout and "FAIL" not in done.stdout

    failing = tmp_path / "fails.json"
    failing.write_text(
        json.dumps(
            {
                "tests": [
                    {
                        "name": "wrong on purpose",
                        "inject": [{"queue": "pass.inbox", "events": [{"data": 1}]}],
                        "expect": [{"queue": "output.inbox", "equals": [{"data": 2}]}],
                    }
                ]
            }
        )
    )
    done = run_cli("test", "--config", demo, str(failing))
    assert done.returncode == 1
    assert "FAIL  wrong on purpose" in done.stdout and "data is 1, expected 2" in done.stdout

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"tests": [{"inject": [], "expect": []}]}))
    done = run_cli("test", "--config", demo, str(bad))
    assert done.returncode == 78
    assert "tests[0].inject: expected a non-empty array" in done.stderr

    assert run_cli("test", "--config", demo).returncode == 2  # no test file


def test_graph_prints_each_format_and_refuses_a_broken_file(tmp_path):
    demo = str(ROOT / "examples" / "demo.json")
    mermaid = run_cli("graph", "--config", demo)
    assert mermaid.returncode == 0 and mermaid.stdout.startswith("flowchart LR")
    assert '-->|"outbox → inbox"| pass' in mermaid.stdout
    dot = run_cli("graph", "--config", demo, "--format", "dot")
    assert dot.returncode == 0 and dot.stdout.startswith("digraph wishbone {")
    svg = run_cli("graph", "--config", demo, "--format", "svg")
    assert svg.returncode == 0 and svg.stdout.startswith("<svg")
    assert run_cli("graph", "--config", demo, "--format", "png").returncode == 2
    assert run_cli("validate", "--config", demo, "--format", "dot").returncode == 2
    missing = run_cli("graph", "--config", str(tmp_path / "none.json"))
    assert missing.returncode == 78 and "no such file" in missing.stderr
