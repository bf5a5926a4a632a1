"""Makes ``syslog_helpers`` importable whatever pytest's import mode."""

import pathlib
import sys

_HERE = str(pathlib.Path(__file__).parent)
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)
