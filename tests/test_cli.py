"""The ``wishbone`` command's one-shot commands, run for real: banner, usage, validate, list, show."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

from wishbone.testing.cli import WISHBONE, run_cli, write_bootstrap

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
    assert out.splitlines()[1] == "Kind: input"
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


def test_show_prints_each_parameter_and_queue_once_from_the_class_with_the_docstring_words():
    out = run_cli("show", "testevent").stdout
    assert out.count("Parameters") == 1 and out.count("Queues") == 1  # the docstring's sections are not repeated
    assert out.count("interval") == 1 and out.count("seconds between events") == 1  # printed once
    assert re.search(r"^  interval  float, default 1.0\n {12}seconds between events; 0 generates as fast", out, re.M)
    assert re.search(r"^    outbox  the generated events\.$", out, re.M)
    assert re.search(r"^    failed  events it could not handle", out, re.M)  # the class has it: shown, described
    null = run_cli("show", "null").stdout
    assert "Kind: output" in null and "consumes  inbox" in null
    assert re.search(r"^    inbox   events to discard\.$", null, re.M)
    sink = run_cli("show", "stdout").stdout  # other sections (Metrics) come after, as written
    assert sink.index("Queues (declared by the class):") < sink.index("Metrics:")


def test_every_installed_modules_docstring_agrees_with_its_class():
    # the integration session installs every package of the monorepo: each one's show is complete
    for group in ("wishbone.module", "wishbone.metrics"):
        for ep in entry_points(group=group):
            out = run_cli("show", ep.name, "--group", group).stdout
            assert "the docstring describes" not in out, (ep.name, out)
            assert "(undocumented)" not in out, (ep.name, out)


def test_show_and_bootstrap_errors_say_where_a_module_is():
    result = run_cli("show", "prometheus")
    assert result.returncode == 1
    assert result.stderr.rstrip().endswith("'prometheus' is in group wishbone.metrics: add --group wishbone.metrics")
    assert run_cli("show", "prometheus", "--group", "wishbone.metrics").returncode == 0


def test_validate_reports_every_error_each_with_its_path(tmp_path):
    config = write_bootstrap(
        tmp_path / "bad.json",
        {
            "input": ("testevent", {"interval": "fast", "rate": 1}),
            "output": ("nosuch", {}),
            "relay": ("passthrough", {"colour": "red"}),
        },
        {"input.outbox": ["ghost.inbox"]},
    )
    result = run_cli("validate", "--config", config)
    assert result.returncode == 78
    assert result.stderr.splitlines() == [
        f"wishbone: {config}: bootstrap.input.variables.rate: unknown parameter 'rate' "
        "(parameters: count, interval, payload)",
        f"wishbone: {config}: bootstrap.input.variables.interval: expected float, got str 'fast'",
        f"wishbone: {config}: bootstrap.output.module: no module 'nosuch' in group 'wishbone.module' (available: "
        + ", ".join(sorted(ep.name for ep in entry_points(group="wishbone.module")))
        + ")",
        f"wishbone: {config}: bootstrap.relay.variables.colour: unknown parameter 'colour' (parameters: none)",
        f"wishbone: {config}: routingtable[\"input.outbox\"][0]: no instance 'ghost' in bootstrap "
        "(instances: input, output, relay)",
    ]
    refused = write_bootstrap(
        tmp_path / "refused.json",
        {"a": ("testevent", {"interval": -1}), "b": ("testevent", {"interval": -2}), "out": ("null", {})},
        {"a.outbox": ["out.inbox"], "b.outbox": ["out.inbox"]},
    )
    lines = run_cli("validate", "--config", refused).stderr.splitlines()
    assert [line.split(": ")[2] for line in lines] == ["bootstrap.a.variables", "bootstrap.b.variables"]


def test_validate_warns_and_strict_refuses(tmp_path):
    config = write_bootstrap(
        tmp_path / "loop.json",
        {"input": ("testevent", {}), "a": ("passthrough", {}), "b": ("passthrough", {}), "idle": ("null", {})},
        {"input.outbox": ["a.inbox"], "a.outbox": ["b.inbox"], "b.outbox": ["a.inbox"]},
    )
    result = run_cli("validate", "--config", config)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{config}: OK (4 module instance(s), 3 route(s), 2 warning(s))\n"
    assert result.stderr.splitlines() == [
        f"{config}: warning: bootstrap.idle: nothing is routed to or from 'idle'",
        f'{config}: warning: routingtable["a.outbox"]: a -> b -> a: a loop; events can circle forever, '
        "and at a stop those still circling are dropped",
    ]
    strict = run_cli("validate", "--config", config, "--strict")
    assert strict.returncode == 78 and strict.stdout == ""
    assert strict.stderr.splitlines()[-1] == f"wishbone: {config}: 2 warning(s), which --strict makes errors"

    self_loop = write_bootstrap(
        tmp_path / "self.json",
        {"input": ("testevent", {}), "a": ("passthrough", {})},
        {"input.outbox": ["a.inbox"], "a.outbox": ["a.inbox"]},
    )
    result = run_cli("validate", "--config", self_loop)  # a self-loop is a loop like any other: a warning
    assert result.returncode == 0 and "a -> a: its own input" in result.stderr
    assert run_cli("validate", "--config", self_loop, "--strict").returncode == 78

    none = write_bootstrap(tmp_path / "none.json", {"input": ("testevent", {}), "out": ("null", {})}, {})
    result = run_cli("validate", "--config", none)
    assert result.returncode == 0 and "warning: routingtable: no routes" in result.stderr

    clean = run_cli("validate", "--config", _good(tmp_path), "--strict")
    assert clean.returncode == 0 and clean.stderr == ""
    assert "--strict is an option of validate" in run_cli("list", "--strict").stderr


def test_validate_shows_a_json_syntax_error_with_its_line_and_a_caret(tmp_path):
    path = tmp_path / "syntax.json"
    path.write_text('{\n  "bootstrap": {\n    "input": {"module": "testevent",}\n  }\n}\n')
    result = run_cli("validate", "--config", str(path))
    assert result.returncode == 78
    assert result.stderr.splitlines() == [
        f"wishbone: {path}: invalid JSON at line 3 column 37: Expecting property name enclosed in double quotes",
        '  3 |     "input": {"module": "testevent",}',
        " " * (len("  3 | ") + 36) + "^",  # under the "}" of column 37
    ]


def test_validate_accepts_a_byte_order_mark_and_says_plainly_when_the_file_is_missing(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + Path(_good(tmp_path)).read_bytes())
    result = run_cli("validate", "--config", str(path))
    assert result.returncode == 0, result.stderr
    missing = run_cli("validate", "--config", str(tmp_path / "nope.json"))
    assert missing.returncode == 78 and missing.stderr == f"wishbone: {tmp_path / 'nope.json'}: no such file\n"
    folder = run_cli("debug", "--config", str(tmp_path))
    assert folder.returncode == 78 and "is a directory, not a bootstrap file" in folder.stderr


def test_every_shipped_example_validates_without_a_warning():
    for example in sorted((ROOT / "examples").glob("*.json")):
        relative = str(example.relative_to(ROOT))
        result = subprocess.run(
            [WISHBONE, "validate", "--config", relative, "--strict"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(f"{relative}: OK (") and result.stderr == ""
