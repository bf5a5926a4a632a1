"""Run the benchmarks and write docs/performance.md: one command for the whole table.

    python bench/run.py [--quick] [--only NAME ...]

Each ``bench/bench_*.py`` runs in its own process (a fresh interpreter and gevent hub),
prints its own table with its baseline measured in the same run, and one ``RESULT`` line
per row of the performance table (see ``bench/report.py``). This script gathers the rows
into a summary, keeps every script's full output below it, and records the machine, the
Python and gevent versions, and when each script ran with the load average then (the
machine is shared). ``--quick`` passes smaller sizes, for a smoke run.

``--only`` runs the scripts named and keeps every other script's section, and its rows,
as the file last recorded them (each section carries its RESULT lines as HTML comments):
a change that touches one benchmark re-measures that one.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import subprocess
import sys

MET = {True: "yes", False: "**no**", None: "—"}
HERE = pathlib.Path(__file__).resolve().parent
OUTPUT = HERE.parent / "docs" / "performance.md"
QUICK_ARGS = {
    "bench_core.py": ["--events", "200000", "--repeat", "3"],
    "bench_latency.py": ["--events", "100000", "--long", "2000000", "--repeat", "3"],
    "bench_stdout.py": ["--events", "200000", "--repeat", "3"],
    "bench_processing.py": ["--events", "100000", "--repeat", "3"],
}


def versions() -> str:
    code = "import gevent, pluggy; print(gevent.__version__, pluggy.__version__)"
    gevent_v, pluggy_v = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.split()
    try:
        import pika

        pika_v = pika.__version__
    except ImportError:
        pika_v = "not installed"
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"- Machine: {platform.machine()}, {os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}\n"
        f"- Python {platform.python_version()}, gevent {gevent_v}, pluggy {pluggy_v}, pika {pika_v}\n"
        f"- Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC"
    )


def run_script(script: pathlib.Path, quick: bool) -> tuple[str, list[dict], int]:
    args = QUICK_ARGS.get(script.name, []) if quick else []
    print(f"== {script.name} {' '.join(args)}", flush=True)
    proc = subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        cwd=HERE,
        env={**os.environ, "PYTHONPATH": str(HERE)},
    )
    rows = []
    lines = []
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            rows.append(json.loads(line[len("RESULT ") :]))
        else:
            lines.append(line)
    text = "\n".join(lines)
    if proc.returncode:
        text += f"\n(exit status {proc.returncode})\n" + proc.stderr[-2000:]
    print(text, flush=True)
    return text, rows, proc.returncode


def load_average() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def measured_line() -> str:
    now = datetime.datetime.now(datetime.timezone.utc)
    return f"Measured {now:%Y-%m-%d %H:%M} UTC, load average {load_average()} before it ran."


SECTION = re.compile(r"^### `bench/(bench_[A-Za-z0-9_]+\.py)`$", re.M)
COMMENT = re.compile(r"^<!-- RESULT (\{.*\}) -->$", re.M)


def recorded(path: pathlib.Path) -> dict[str, tuple[str, list[dict]]]:
    """The sections of an existing performance file: {script: (section text, its rows)}."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    found = {}
    starts = list(SECTION.finditer(text))
    for i, match in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        body = text[match.end() : end].strip("\n")
        rows = [json.loads(m.group(1)) for m in COMMENT.finditer(body)]
        found[match.group(1)] = (COMMENT.sub("", body).strip("\n"), rows)
    return found


def section(text: str, rows: list[dict]) -> str:
    """One script's section body: when it ran, its output, its rows kept as comments."""
    return "\n".join([text, *(f"<!-- RESULT {json.dumps(r)} -->" for r in rows)])


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit in ("events/s", "messages/s", "datagrams/s"):
        return f"{value:,.0f} {unit}"
    return f"{value:.3g} {unit}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--only", nargs="*", help="run only these scripts (e.g. bench_core.py)")
    parser.add_argument("--output", default=str(OUTPUT))
    args = parser.parse_args(argv)
    scripts = sorted(HERE.glob("bench_*.py"))
    keep = recorded(pathlib.Path(args.output)) if args.only else {}
    if args.only:
        unknown = set(args.only) - {s.name for s in scripts}
        if unknown:
            parser.error(f"no such benchmark: {', '.join(sorted(unknown))}")
    sections: dict[str, tuple[str, list[dict]]] = {}
    failed = 0
    for script in scripts:
        if args.only and script.name not in args.only:
            if script.name in keep:
                sections[script.name] = keep[script.name]
            continue
        when = measured_line()
        text, found, status = run_script(script, args.quick)
        sections[script.name] = (f"{when}\n\n```\n{text.strip()}\n```", found)
        failed += bool(status)
    rows = [row for _, found in sections.values() for row in found]
    summary = [
        "| pipeline | measured (median) | baseline, same run | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = f"{r['value'] / r['baseline']:.0%}" if r.get("baseline") else "—"
        summary.append(
            f"| {r['row']} | {fmt(r['value'], r['unit'])} | {fmt(r.get('baseline'), r['unit'])} | {ratio} "
            f"| {r['target']} | {MET[r['met']]} |"
        )
    body = [
        "# Performance",
        "",
        "Written by `python bench/run.py` (or `nox -s bench`); do not edit by hand. Every figure is the",
        "median of several runs, next to a baseline measured in the same run on the same machine, which",
        "is shared and noisy: quote the ratios. Benchmarks are scripts in `bench/`, never timed tests.",
        "`python bench/run.py --only bench_X.py` re-measures one script and keeps the other sections.",
        "",
        versions(),
        "",
        "## Summary",
        "",
        *summary,
        "",
        "## Each benchmark's output",
    ]
    for name, (text, found) in sections.items():
        body += ["", f"### `bench/{name}`", "", section(text, found)]
    pathlib.Path(args.output).write_text("\n".join(body) + "\n")
    print(f"wrote {args.output}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
