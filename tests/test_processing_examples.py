"""The cookbook of docs/processing.md: every bootstrap file runs as shipped through the real CLI.

Each example in examples/ that the cookbook shows is checked with ``wishbone validate`` and run
with ``wishbone debug`` until its output shows what the recipe promises, then stopped with
SIGTERM (a clean drain, exit 0). The cookbook shows each file verbatim, and the errors it quotes
are the ones ``validate`` prints.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from wishbone import Pipeline
from wishbone.testing.cli import WISHBONE, run_cli, wait_until

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
DOC = ROOT / "docs" / "processing.md"
RECIPES = ("udp_json", "route_errors", "add_field", "drop_debug")


def _json_or_none(line: str):
    try:
        return json.loads(line)
    except ValueError:
        return None


def lines_of(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines() if path.exists() else []


class Debug:
    """``wishbone debug`` of a bootstrap file, its stdout in a file; stopped with SIGTERM."""

    def __init__(self, config: Path, tmp_path: Path) -> None:
        self.out, self.err = tmp_path / "stdout", tmp_path / "stderr"
        self.pid = tmp_path / "debug.pid"
        with open(self.out, "w") as out, open(self.err, "w") as err:
            self.proc = subprocess.Popen(
                [WISHBONE, "debug", "--config", str(config), "--pid", str(self.pid)],
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )

    def wait_for(self, predicate, timeout: float = 15.0) -> list[str]:
        ok = wait_until(lambda: predicate(lines_of(self.out)) or self.proc.poll() is not None, timeout)
        lines = lines_of(self.out)
        assert ok and predicate(lines), f"output so far: {lines[-10:]}\nlog: {self.err.read_text()[-2000:]}"
        return lines

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            raise


@pytest.fixture
def debug(tmp_path: Path):
    running: list[Debug] = []

    def start(name: str) -> Debug:
        run = Debug(EXAMPLES / f"{name}.json", tmp_path)
        running.append(run)
        return run

    yield start
    for run in running:
        if run.proc.poll() is None:
            run.proc.kill()
            run.proc.wait(5)


@pytest.mark.parametrize("name", RECIPES)
def test_validate_accepts_the_example(name: str) -> None:
    done = run_cli("validate", "--config", str(EXAMPLES / f"{name}.json"))
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout


@pytest.mark.parametrize("name", RECIPES)
def test_the_cookbook_shows_the_file_as_shipped(name: str) -> None:
    text = DOC.read_text()
    assert f"examples/{name}.json" in text
    assert (EXAMPLES / f"{name}.json").read_text().strip() in text, f"docs/processing.md does not show {name}.json"


PACKAGE_READMES = sorted((ROOT / "modules").glob("wb_*/README.md"))
README_BLOCKS = [
    (path, block)
    for path in PACKAGE_READMES
    if path.parent.name in ("wb_modify", "wb_route", "wb_codec")
    for block in re.findall(r"```json\n(.*?)```", path.read_text(), re.S)
]


@pytest.mark.parametrize(
    ("path", "block"), README_BLOCKS, ids=[f"{p.parent.name}-{i}" for i, (p, _) in enumerate(README_BLOCKS)]
)
def test_package_readme_examples_build(path: Path, block: str) -> None:
    """Each bootstrap file a processing package's README shows builds (its modules take its variables)."""
    Pipeline.from_dict(json.loads(block), source=str(path))


def test_parse_json_from_udp(debug) -> None:
    config = json.loads((EXAMPLES / "udp_json.json").read_text())
    port = config["bootstrap"]["udp"]["variables"]["port"]
    run = debug("udp_json")
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        wanted = {"user": "ada", "action": "login", "source": "udp"}

        def sent_and_seen(lines: list[str]) -> bool:
            # the input may not be bound yet: send until the line shows
            sender.sendto(b'{"user": "ada", "action": "login"}', ("127.0.0.1", port))
            return any(_json_or_none(line) == wanted for line in lines)

        assert wait_until(lambda: sent_and_seen(lines_of(run.out)), 15, interval=0.2), lines_of(run.out)
        sender.sendto(b"not json", ("127.0.0.1", port))
        sender.sendto(b"[1, 2]", ("127.0.0.1", port))  # JSON, but no object to set a field in
        lines = run.wait_for(lambda ls: sum(line.startswith("rejected ") for line in ls) >= 2)
    finally:
        sender.close()
    rejected = [json.loads(line.removeprefix("rejected ")) for line in lines if line.startswith("rejected ")]
    errors = {r["headers"]["error"]["module"]: r["headers"]["error"]["message"] for r in rejected}
    assert "udp" in errors
    assert errors["tag"] == "data.source: expected an object at data, found a list"
    assert run.stop() == 0


def test_route_errors_to_one_output_and_the_rest_to_another(debug) -> None:
    run = debug("route_errors")
    lines = run.wait_for(lambda ls: any(x.startswith("ERROR ") for x in ls) and any(x.startswith("rest ") for x in ls))
    assert run.stop() == 0
    errors = [json.loads(x.removeprefix("ERROR ")) for x in lines if x.startswith("ERROR ")]
    rest = [json.loads(x.removeprefix("rest ")) for x in lines if x.startswith("rest ")]
    assert {e["level"] for e in errors} == {"error"}
    assert {e["level"] for e in rest} == {"info"}


def test_add_a_field(debug) -> None:
    run = debug("add_field")
    [line, *_] = run.wait_for(lambda ls: len(ls) >= 1)
    assert run.stop() == 0
    event = json.loads(line)
    assert event["env"] == "production" and event["index"] == "logs-api"
    assert "debug" not in event and event["host"] == socket.gethostname()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event["received"])


def test_drop_debug_lines(debug) -> None:
    run = debug("drop_debug")
    lines = run.wait_for(lambda ls: len(ls) >= 3)
    time.sleep(0.2)
    assert run.stop() == 0
    assert {json.loads(line)["level"] for line in lines} == {"warning"}


def test_validate_reports_a_bad_condition_with_its_place_and_column(tmp_path: Path) -> None:
    config = json.loads((EXAMPLES / "route_errors.json").read_text())
    config["bootstrap"]["switch"]["variables"]["cases"][0]["when"] = "data.level = 'error'"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(config))
    done = run_cli("validate", "--config", str(path))
    assert done.returncode == 78
    assert "bootstrap.switch.variables.cases" in done.stderr
    assert "cases[0].when: invalid expression \"data.level = 'error'\" at column 12: Unknown token '='" in done.stderr


def test_validate_reports_a_route_no_case_names(tmp_path: Path) -> None:
    config = json.loads((EXAMPLES / "route_errors.json").read_text())
    config["routingtable"]["switch.eror"] = config["routingtable"].pop("switch.errors")
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(config))
    done = run_cli("validate", "--config", str(path))
    assert done.returncode == 78
    assert "routingtable[\"switch.eror\"]: Switch ('switch') emits no queue 'eror'" in done.stderr
    assert "(it emits: outbox, failed, errors)" in done.stderr


def test_validate_reports_a_bad_template_and_a_bad_path(tmp_path: Path) -> None:
    config = json.loads((EXAMPLES / "add_field.json").read_text())
    operations = config["bootstrap"]["enrich"]["variables"]["operations"]
    operations[1]["value"] = "logs-{{ data. }}"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(config))
    done = run_cli("validate", "--config", str(path))
    assert done.returncode == 78
    assert "bootstrap.enrich.variables" in done.stderr
    assert "operations[1].set: invalid template 'logs-{{ data. }}' at column 6" in done.stderr
    operations[1]["value"] = "fine"
    operations[2]["delete"] = "data..debug"
    path.write_text(json.dumps(config))
    done = run_cli("validate", "--config", str(path))
    assert done.returncode == 78
    assert "operations[2].delete: invalid field path 'data..debug' at column 6" in done.stderr
