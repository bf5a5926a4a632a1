"""The config unit tests of tests/pipeline.json, run by the real ``wishbone test`` command."""

from pathlib import Path

from wishbone.testing.cli import run_cli

HERE = Path(__file__).parent


def test_the_pipeline_config_tests_pass():
    done = run_cli("test", "--config", str(HERE / "pipeline.json"), str(HERE / "pipeline.test.yaml"), timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "passed" in done.stdout
