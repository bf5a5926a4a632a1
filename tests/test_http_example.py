"""wb-http's README example runs as shipped: the real CLI, a real curl-like POST, stdout shows it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "modules" / "wb_http" / "example.json"
WISHBONE = os.path.join(os.path.dirname(sys.executable), "wishbone")


def test_the_example_takes_two_lines_and_prints_them(tmp_path):
    proc = subprocess.Popen(
        [WISHBONE, "debug", "--config", str(EXAMPLE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                answer = urllib.request.urlopen(
                    urllib.request.Request(
                        "http://127.0.0.1:8080/", data=b'{"msg": "hello"}\n{"msg": "world"}\n', method="POST"
                    ),
                    timeout=5,
                ).read()
                break
            except OSError:
                assert time.monotonic() < deadline, "the example did not start listening"
                time.sleep(0.2)
        assert answer == b'{"accepted": 2}'
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
    assert b'"msg":"hello"' in out.replace(b" ", b"") and b"world" in out
