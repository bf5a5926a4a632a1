"""The module template, end to end: render each kind with the real cookiecutter, check the
files, lint them, install them into a fresh venv against the local core, run their tests
untouched, and find them with ``wishbone list``.

One venv serves the three kinds (their names differ), so the whole file runs in seconds when
``uv`` is there (it is in the dev venv and in nox), and in about a minute with venv + pip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template"
KINDS = ("module", "input", "output")

pytest.importorskip("cookiecutter", reason="the template tests need cookiecutter (pip install cookiecutter)")


def files_for(package: str, name: str) -> set[str]:
    """The exact set of files the template renders, for every kind."""
    return {
        "README.md",
        "pyproject.toml",
        f"src/{package}/__init__.py",
        f"src/{package}/module.py",
        f"src/{package}/py.typed",
        "tests/test_conformance.py",
        f"tests/test_{name}.py",
        "tests/pipeline.json",
        "tests/pipeline.test.yaml",
        "tests/test_pipeline.py",
    }


def cookiecutter(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """The real cookiecutter command line, in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "cookiecutter", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def rendered_files(directory: Path) -> set[str]:
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, Path]:
    """Each kind rendered from its saved answers (``template/answers/KIND.yaml``)."""
    out = tmp_path_factory.mktemp("rendered")
    found = {}
    for kind in KINDS:
        done = cookiecutter(
            "--no-input",
            "--config-file",
            str(TEMPLATE / "answers" / f"{kind}.yaml"),
            "-o",
            str(out),
            str(TEMPLATE),
            cwd=out,
        )
        assert done.returncode == 0, done.stderr
        found[kind] = out / f"wb_sample_{kind}"
    return found


def _uv() -> str | None:
    beside = Path(sys.executable).with_name("uv")
    return str(beside) if beside.exists() else shutil.which("uv")


@pytest.fixture(scope="module")
def venv(rendered, tmp_path_factory) -> Path:
    """A fresh venv holding the local core and the three rendered packages (editable)."""
    path = tmp_path_factory.mktemp("venv") / "venv"
    python = path / "bin" / "python"
    packages = ["-e", str(ROOT / "core"), *[a for p in rendered.values() for a in ("-e", str(p))]]
    tools = ["pytest>=7.4", "pytest-timeout>=2.2"]
    uv = _uv()
    if uv:
        subprocess.run([uv, "venv", "-q", str(path)], check=True, timeout=60)
        install = [uv, "pip", "install", "-q", "--python", str(python), *packages, *tools]
    else:
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=60)
        install = [str(python), "-m", "pip", "install", "-q", *packages, *tools]
    done = subprocess.run(install, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    return path


@pytest.mark.parametrize("kind", KINDS)
def test_renders_exactly_these_files(rendered, kind):
    name = f"sample_{kind}"
    assert rendered_files(rendered[kind]) == files_for(f"wb_{name}", name)


@pytest.mark.parametrize("kind", KINDS)
def test_the_kind_shapes_the_module(rendered, kind):
    source = (rendered[kind] / "src" / f"wb_sample_{kind}" / "module.py").read_text()
    shape = {
        "module": 'event["data"] = self.prefix + data',
        "input": "self.spawn_producer(self._read, sock)",
        "output": "def end_of_batch(self)",
    }
    base = {"module": "Processor", "input": "Input", "output": "Output"}[kind]  # the kinds of wishbone.module
    assert f"class Sample{kind.capitalize()}({base}):" in source
    assert shape[kind] in source
    assert all(shape[other] not in source for other in KINDS if other != kind)


@pytest.mark.parametrize("kind", KINDS)
def test_pyproject_names_and_entry_point(rendered, kind):
    pyproject = (rendered[kind] / "pyproject.toml").read_text()
    assert f'name = "wb-sample-{kind}"' in pyproject
    assert 'dependencies = ["wishbone>=4,<5"]' in pyproject
    assert f'sample_{kind} = "wb_sample_{kind}:Sample{kind.capitalize()}"' in pyproject
    assert f'packages = ["src/wb_sample_{kind}"]' in pyproject


@pytest.mark.parametrize("kind", KINDS)
def test_readme_documents_what_the_docstring_does(rendered, kind):
    readme = (rendered[kind] / "README.md").read_text()
    source = (rendered[kind] / "src" / f"wb_sample_{kind}" / "module.py").read_text()
    section = readme.split("## Documentation", 1)[1].split("## Develop", 1)[0]
    summary = source.split('"""', 3)[3].strip().splitlines()[0]  # the class docstring's first line
    assert summary in section
    for word in ("Parameters:", "Queues:"):
        assert word in section
    assert "pip install wb-sample-" in readme and f"wishbone show sample_{kind}" in readme


def test_ruff_finds_nothing_to_change(rendered):
    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists() and not shutil.which(ruff):
        pytest.skip("ruff is not installed")
    config = str(ROOT / "pyproject.toml")
    dirs = [str(p) for p in rendered.values()]
    check = subprocess.run([ruff, "check", "--config", config, *dirs], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout
    fmt = subprocess.run(
        [ruff, "format", "--check", "--config", config, *dirs], capture_output=True, text=True, timeout=60
    )
    assert fmt.returncode == 0, fmt.stdout


@pytest.mark.parametrize("kind", KINDS)
def test_its_tests_pass_untouched(venv, rendered, kind):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=rendered[kind],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout


def test_wishbone_list_shows_each_kind(venv):
    done = subprocess.run([str(venv / "bin" / "wishbone"), "list"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines()[3:] if line.strip()}
    for kind in KINDS:
        assert rows[f"sample_{kind}"][1:3] == [{"module": "processor"}.get(kind, kind), f"wb-sample-{kind}"]
    shown = subprocess.run(
        [str(venv / "bin" / "wishbone"), "show", "sample_input"], capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0 and "Reads text datagrams from a UDP port" in shown.stdout


def test_one_answer_renders_the_package(tmp_path):
    """``cookiecutter template/ --no-input name=foo -o modules/``: the documented command."""
    done = cookiecutter(str(TEMPLATE), "--no-input", "name=foo", "-o", "modules/", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    package = tmp_path / "modules" / "wb_foo"
    assert rendered_files(package) == files_for("wb_foo", "foo")
    assert 'foo = "wb_foo:Foo"' in (package / "pyproject.toml").read_text()
    assert "class Foo(Processor):" in (package / "src" / "wb_foo" / "module.py").read_text()


@pytest.mark.parametrize("name", ["Foo", "foo-bar", "1foo", "foo bar"])
def test_a_name_that_would_not_install_is_refused_with_one_clear_message(tmp_path, name):
    done = cookiecutter(str(TEMPLATE), "--no-input", f"name={name}", "-o", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 1
    said = (done.stdout + done.stderr).strip()
    assert said == (
        f"wishbone template: cannot render: name {name!r}: use lower-case letters, digits and _, "
        "starting with a letter (e.g. 'upper')"
    )  # and nothing else: no traceback
    assert not any(tmp_path.iterdir())


def _git_env(home: Path, user: str | None) -> dict:
    """An environment whose git knows *user* as user.name (None: no name at all)."""
    home.mkdir()
    if user is not None:
        (home / ".gitconfig").write_text(f"[user]\n\tname = {user}\n")
    keep = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return {**keep, "HOME": str(home), "XDG_CONFIG_HOME": str(home), "GIT_CONFIG_NOSYSTEM": "1"}


def test_the_author_defaults_to_git_user_name_or_nothing(tmp_path):
    for user, expected in (("Ada Lovelace", 'authors = [{ name = "Ada Lovelace" }]'), (None, None)):
        out = tmp_path / f"out-{user is None}"
        done = subprocess.run(
            [sys.executable, "-m", "cookiecutter", "--no-input", "-o", str(out), str(TEMPLATE), "name=foo"],
            cwd=tmp_path,  # outside any repository: no repository config
            env=_git_env(tmp_path / f"home-{user is None}", user),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        pyproject = (out / "wb_foo" / "pyproject.toml").read_text()
        if expected:
            assert expected in pyproject
        else:
            assert "authors" not in pyproject
        assert "The Wishbone developers" not in pyproject


@pytest.mark.parametrize("kind", KINDS)
def test_the_readme_does_not_send_readers_to_the_unrelated_pypi_wishbone(rendered, kind):
    readme = (rendered[kind] / "README.md").read_text()
    assert "pypi.org/project/wishbone" not in readme
    assert "wishbone>=4,<5" in readme
