"""HTTP input benchmark: http_in -> null with NDJSON bodies of 1,000 lines, next to a bare server.

    python bench/bench_http.py [--requests 300] [--repeat 3]

A client process (geventhttpclient, 4 keep-alive connections) POSTs the same NDJSON bodies of
1,000 short JSON lines to each server in turn, in the same run. The baseline is the least a
gevent program does for the same job: gevent's pywsgi server parsing each line with orjson and
answering 200. Wishbone runs ``http_in`` (ack on: it answers after null consumed the events)
into ``null``. Figures are events per second (medians); the ratio is what to quote.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import textwrap
import time

import gevent
import gevent.subprocess
import orjson
from gevent.pywsgi import WSGIHandler, WSGIServer
from report import result
from wishbone import Pipeline

LINES = 1000
CLIENT = textwrap.dedent(
    """
    import sys, time, gevent
    from geventhttpclient import HTTPClient
    port, requests = int(sys.argv[1]), int(sys.argv[2])
    body = b"".join(b'{"host": "web-1", "level": "info", "n": %d}\\n' % i for i in range(LINES))
    client = HTTPClient("127.0.0.1", port, concurrency=4, network_timeout=60)
    def post():
        r = client.request("POST", "/", body=body)
        assert r.status_code == 200, r.status_code
        r.read()
    start = time.perf_counter()
    gevent.joinall([gevent.spawn(lambda: [post() for _ in range(requests // 4)]) for _ in range(4)], raise_error=True)
    print(time.perf_counter() - start)
    """
).replace("LINES", str(LINES))


class _Quiet(WSGIHandler):
    def log_request(self) -> None:
        pass


def free_port() -> int:
    from gevent import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def drive(port: int, requests: int) -> float:
    """Run the client process against *port*; return events per second."""
    proc = gevent.subprocess.Popen(
        [sys.executable, "-c", CLIENT, str(port), str(requests)], stdout=subprocess.PIPE, text=True
    )
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0
    return (requests // 4 * 4) * LINES / float(out)


def bare(requests: int) -> float:
    loads = orjson.loads

    def app(environ, start_response):
        body = environ["wsgi.input"].read()
        n = len([loads(line) for line in body.splitlines() if line])
        answer = b'{"accepted": %d}' % n
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
        return [answer]

    port = free_port()
    server = WSGIServer(("127.0.0.1", port), app, log=None, error_log=None, handler_class=_Quiet)
    server.start()
    try:
        return drive(port, requests)
    finally:
        server.stop()


def wishbone(requests: int) -> float:
    port = free_port()
    p = Pipeline.from_dict(
        {
            "bootstrap": {
                "input": {"module": "http_in", "variables": {"port": port, "decode": "json_lines"}},
                "output": {"module": "null"},
            },
            "routingtable": {"input.outbox": ["output.inbox"]},
        },
        load_entry_points=False,
    )
    p.start()
    try:
        return drive(port, requests)
    finally:
        p.stop(10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rates: dict[str, list[float]] = {"bare gevent pywsgi + orjson": [], "http_in -> null": []}
    for _ in range(args.repeat):
        rates["bare gevent pywsgi + orjson"].append(bare(args.requests))
        rates["http_in -> null"].append(wishbone(args.requests))
        time.sleep(0.2)
    base = statistics.median(rates["bare gevent pywsgi + orjson"])
    print(f"python {sys.version.split()[0]}, {args.requests} requests of {LINES} NDJSON lines, {args.repeat} runs")
    print(f"{'server':36} {'events/s (median)':>18} {'of baseline':>12}")
    for name, values in rates.items():
        print(f"{name:36} {statistics.median(values):18,.0f} {statistics.median(values) / base:12.0%}")
    ours = statistics.median(rates["http_in -> null"])
    result(
        f"http_in -> null, NDJSON bodies of {LINES} lines",
        ours,
        "events/s",
        ">= 100,000 events/s",
        ours >= 100_000,
        base,
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
