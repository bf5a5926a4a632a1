"""Refuse answers that would render a package that cannot install or be found."""

import keyword
import re
import sys

NAME = "{{ cookiecutter.name }}"
PACKAGE = "{{ cookiecutter.package }}"
DISTRIBUTION = "{{ cookiecutter.distribution }}"
CLASS_NAME = "{{ cookiecutter.class_name }}"

problems = []
if not re.fullmatch(r"[a-z][a-z0-9_]*", NAME):
    problems.append(f"name {NAME!r}: use lower-case letters, digits and _, starting with a letter (e.g. 'upper')")
if not PACKAGE.isidentifier() or keyword.iskeyword(PACKAGE):
    problems.append(f"package {PACKAGE!r} is not a Python identifier")
if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?", DISTRIBUTION):
    problems.append(f"distribution {DISTRIBUTION!r} is not a valid distribution name")
if not CLASS_NAME.isidentifier() or keyword.iskeyword(CLASS_NAME):
    problems.append(f"class_name {CLASS_NAME!r} is not a Python identifier")
if problems:
    print("wishbone template: cannot render:\n  " + "\n  ".join(problems), file=sys.stderr)
    sys.exit(1)
