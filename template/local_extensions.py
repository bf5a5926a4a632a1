"""Jinja filters of the template (cookiecutter's local extensions, listed in ``_extensions``).

``wishbone_name`` checks the module name while the answers are rendered, so a bad name stops
cookiecutter with one clear message and no traceback (a failing pre_gen hook is reported by
cookiecutter with its own traceback). ``git_author`` offers ``git config user.name`` as the
default author.
"""

from __future__ import annotations

import re
import subprocess

from cookiecutter.exceptions import FailedHookException
from cookiecutter.utils import simple_filter


@simple_filter
def wishbone_name(name: str) -> str:
    """*name* if it is a module name that installs (lower case, letters, digits and _); else stop, saying why."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        # cookiecutter prints this exception's message alone and exits 1
        raise FailedHookException(
            f"wishbone template: cannot render: name {name!r}: use lower-case letters, digits and _, "
            "starting with a letter (e.g. 'upper')"
        )
    return name


@simple_filter
def git_author(default: str) -> str:
    """``git config user.name``, or *default* where git or the setting is missing."""
    try:
        done = subprocess.run(["git", "config", "user.name"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return default
    return done.stdout.strip() or default
