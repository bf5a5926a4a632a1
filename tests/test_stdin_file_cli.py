"""stdin and file_in through the real ``wishbone debug``: a finite input ends, the pipeline drains, exit 0."""

from __future__ import annotations

import shlex
import subprocess

from wishbone.testing.cli import WISHBONE, write_bootstrap


def test_printf_into_stdin_to_stdout_prints_both_lines_and_exits_0(tmp_path):
    config = write_bootstrap(
        tmp_path / "b.json", {"in": ("stdin", {}), "out": ("stdout", {})}, {"in.outbox": ["out.inbox"]}
    )
    command = f"printf 'a\\nb\\n' | {shlex.quote(WISHBONE)} debug --config {shlex.quote(config)}"
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == "a\nb\n", done.stdout


def test_a_file_read_to_its_end_exits_0(tmp_path):
    source = tmp_path / "in.log"
    source.write_text("".join(f"line {i}\n" for i in range(10_000)))
    config = write_bootstrap(
        tmp_path / "b.json",
        {"in": ("file_in", {"paths": [str(source)], "mode": "read"}), "out": ("stdout", {})},
        {"in.outbox": ["out.inbox"]},
    )
    done = subprocess.run(
        [WISHBONE, "debug", "--config", config], capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.splitlines() == [f"line {i}" for i in range(10_000)]
