"""Checking a bootstrap file: ``validate`` (every error, then every warning) and ``test``.

Errors (exit 78) are what cannot run: each is printed on its own line with the file and the
JSON path, a JSON syntax error with its line and a caret. Warnings are what runs but looks
like a mistake (see :func:`wishbone.bootstrap.findings`): printed, exit 0, or exit 78 with
``--strict``.

``test`` runs config unit tests (:mod:`wishbone.configtest`) against the file: a report, exit 0
when every test passed, 1 when one failed, 78 when the bootstrap file or a test file is invalid.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from wishbone import bootstrap
from wishbone.bootstrap import EX_CONFIG, BootstrapError

if TYPE_CHECKING:
    from wishbone.server import ParallelServer

__all__ = ["error_lines", "test", "validate"]


def error_lines(exc: BootstrapError) -> list[str]:
    """Every error *exc* carries, one line each, with the lines that show where (a caret)."""
    lines = []
    for error in exc.errors:
        lines.append(str(error))
        if error.detail:
            lines += error.detail.splitlines()
    return lines


def validate(server: ParallelServer, args: argparse.Namespace) -> int:
    """Load the bootstrap file and build every module (nothing starts); exit 0, or 78."""
    from wishbone.pipeline import Pipeline

    shown = args.shown_config  # nothing detaches here: name the file as the user did
    boot = bootstrap.load_file(shown)  # structural errors: all of them, raised as one
    try:
        pipeline = Pipeline(boot)
    except BootstrapError as exc:
        exc.errors = [exc, *_other_refusals(boot, exc)]
        raise
    for warning in boot.warnings:
        print(f"{shown}: warning: {warning}", file=sys.stderr)
    count = len(boot.warnings)
    if args.strict and count:
        print(f"{server.prog}: {shown}: {count} warning(s), which --strict makes errors", file=sys.stderr)
        return EX_CONFIG
    routes = len(boot.routes)
    said = f", {count} warning(s)" if count else ""
    print(f"{shown}: OK ({len(pipeline.modules)} module instance(s), {routes} route(s){said})")
    return 0


def _other_refusals(boot: bootstrap.Bootstrap, first: BootstrapError) -> list[BootstrapError]:
    """The modules after the one that refused its parameters, built one by one: every other refusal."""
    found = []
    after = False
    for name, spec in boot.modules.items():
        path = bootstrap.jpath("bootstrap", name, "variables")
        if not after:
            after = path == first.path  # the ones before it were built already
            continue
        try:
            spec.cls(**spec.variables)
        except Exception as exc:
            found.append(BootstrapError(boot.source, path, f"{spec.cls.__name__} refused its parameters: {exc}"))
    return found


def test(server: ParallelServer, args: argparse.Namespace) -> int:
    """Run every test of the test files against the bootstrap file; exit 0 (all passed), 1, or 78."""
    from wishbone import configtest

    tests = [path for path in args.tests]  # as the user named them, like the bootstrap file
    try:
        return configtest.run_files(args.shown_config, tests, sys.stdout)
    except configtest.ConfigTestError as exc:
        print(f"{server.prog}: {exc}", file=sys.stderr)
        return EX_CONFIG
