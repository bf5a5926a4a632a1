"""Makes ``udp_helpers`` importable whatever pytest's import mode (prepend adds this folder to
sys.path by itself, importlib does not; the repository may switch to importlib so that every
package can keep a ``tests/test_conformance.py`` of the same name)."""

import pathlib
import sys

_HERE = str(pathlib.Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
