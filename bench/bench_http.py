"""HTTP input benchmark: http_in -> null with NDJSON bodies of 1,000 lines, next to a bare server.

    python bench/bench_http.py [--requests 1000] [--connections 4] [--repeat 5]

A client process (this script, ``--client``) keeps *connections* keep-alive connections open and
POSTs the same prebuilt request (an NDJSON body of 1,000 short JSON lines) on each, one request
in flight per connection; it checks every answer (status 200, ``{"accepted": 1000}``). It is a
raw socket client, so that it costs little (its CPU time is printed) and the server sets the
pace. Servers, in turns run by run so that machine noise hits both alike:

* baseline: the least a gevent program does for the same job: gevent's pywsgi server whose
  application reads the body, parses each line with orjson and answers 200.
* wishbone: ``http_in`` (``decode: json_lines``, ack on: it answers after null consumed the
  events) into ``null``.

Both servers set ``TCP_NODELAY``: pywsgi writes an answer's headers and body in two sends, and
without it the body waits for the client's delayed acknowledgement of the headers (40 ms on
Linux), which bounds any server at 1,000 lines x connections / 40 ms (~90,000 events/s with 4
connections) however fast it is. Figures: events/s per wall-clock second, and the server's CPU
microseconds per event (this process's ``time.process_time``: the steadier figure on a shared
machine), with the part of it spent in Python's cyclic garbage collector; medians and the ratios
are what to quote.

Where the server's time goes is printed beside: pywsgi alone (a server that reads the body and
answers without parsing it), http_in again after ``gc.freeze()`` (the heap made at start out of
the collector's reach, what a worker process could do), and http_in's own steps timed in this
process (decoding the body; making its tracked events and letting go of them).
"""

from __future__ import annotations

import argparse
import gc
import os
import socket
import statistics
import subprocess
import sys
import time

import gevent
import gevent.subprocess
import orjson
from gevent.pywsgi import WSGIHandler, WSGIServer
from report import result
from wb_http.http_in import HTTPIn, _Request
from wishbone import Pipeline
from wishbone import codec as codecs

LINES = 1000


def body() -> bytes:
    """The NDJSON body every request carries: 1,000 lines of ~45 bytes."""
    return b"".join(b'{"host": "web-1", "level": "info", "n": %d}\n' % i for i in range(LINES))


def client(port: int, requests: int, connections: int) -> None:
    """The client process: *requests* POSTs over *connections* keep-alive connections.

    Prints the wall-clock seconds from the first request to the last answer and this
    process's CPU seconds in that span.
    """
    from gevent import socket as gsocket

    payload = body()
    request = (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-ndjson\r\n"
        b"Content-Length: %d\r\n\r\n" % len(payload) + payload
    )
    expected = b'{"accepted": %d}' % LINES

    def run(count: int) -> None:
        sock = gsocket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        for _ in range(count):
            sock.sendall(request)
            while (end := buffer.find(b"\r\n\r\n")) < 0:
                chunk = sock.recv(65536)
                assert chunk, "the server closed the connection"
                buffer += chunk
            head = buffer[:end].lower()
            assert head.startswith(b"http/1.1 200"), head
            start = head.index(b"content-length:") + 15
            length = int(head[start : head.index(b"\r\n", start)])
            while len(buffer) < end + 4 + length:
                buffer += sock.recv(65536)
            answer, buffer = buffer[end + 4 : end + 4 + length], buffer[end + 4 + length :]
            assert answer == expected, answer
        sock.close()

    per = requests // connections
    wall, cpu = time.perf_counter(), time.process_time()
    gevent.joinall([gevent.spawn(run, per) for _ in range(connections)], raise_error=True)
    print(per * connections, time.perf_counter() - wall, time.process_time() - cpu, flush=True)


class _CollectorTime:
    """CPU seconds this process spent in the cyclic garbage collector (``gc.callbacks``) while inside."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds += time.process_time() - self._started

    def __enter__(self) -> _CollectorTime:
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self)


def drive(port: int, requests: int, connections: int) -> dict:
    """Run the client process against *port*: events/s, CPU us/event of server and client, and
    of the server's share spent in the cyclic garbage collector."""
    with _CollectorTime() as collector:
        figures = _drive(port, requests, connections)
    figures["gc_us"] = collector.seconds / figures["events"] * 1e6
    return figures


def _drive(port: int, requests: int, connections: int) -> dict:
    proc = gevent.subprocess.Popen(
        [sys.executable, __file__, "--client", str(port), str(requests), str(connections)],
        stdout=subprocess.PIPE,
        text=True,
    )
    cpu = time.process_time()
    out, _ = proc.communicate(timeout=600)
    server_cpu = time.process_time() - cpu  # includes the client's start, which costs this process nothing
    assert proc.returncode == 0, "the client failed"
    sent, wall, client_cpu = out.split()
    events = int(sent) * LINES
    return {
        "events": events,
        "rate": events / float(wall),
        "server_us": server_cpu / events * 1e6,
        "client_us": float(client_cpu) / events * 1e6,
    }


class _Quiet(WSGIHandler):
    def handle(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().handle()

    def log_request(self) -> None:
        pass


def bare(requests: int, connections: int, parse: bool = True) -> dict:
    """The baseline; without *parse*, pywsgi alone: the body is read, not parsed (the floor)."""
    loads = orjson.loads

    def app(environ, start_response):
        data = environ["wsgi.input"].read()
        n = len([loads(line) for line in data.splitlines() if line]) if parse else LINES
        answer = b'{"accepted": %d}' % n
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(answer)))])
        return [answer]

    server = WSGIServer(("127.0.0.1", 0), app, log=None, error_log=None, handler_class=_Quiet)
    server.start()
    try:
        return drive(server.server_port, requests, connections)
    finally:
        server.stop()


def wishbone(requests: int, connections: int, freeze: bool = False) -> dict:
    """http_in -> null; with *freeze*, the heap made at start is moved out of the collector's
    reach (``gc.freeze()``, what a worker process could do once its pipeline runs)."""
    p = Pipeline.from_dict(
        {
            "bootstrap": {
                "input": {"module": "http_in", "variables": {"port": 0, "decode": "json_lines"}},
                "output": {"module": "null"},
            },
            "routingtable": {"input.outbox": ["output.inbox"]},
        },
        load_entry_points=False,
    )
    p.start()
    if freeze:
        gc.collect()
        gc.freeze()
    try:
        figures = drive(p.modules["input"].bound_port, requests, connections)
        assert p.modules["output"].consumed == requests // connections * connections * LINES
        return figures
    finally:
        p.stop(10)
        gc.unfreeze()


def split(rounds: int = 300) -> dict:
    """CPU us per event of http_in's own steps on the benchmark's body, in this process, with the
    collector on as in a server: decoding it (``json_lines``, next to bare orjson per line), and
    making its tracked events and letting go of them (what null does). Medians of 5 tries of
    *rounds* bodies each."""
    payload, nd = body(), codecs.get("json_lines")
    items = nd.decode(payload)
    http = {"method": "POST", "path": "/", "query": "", "remote_addr": "127.0.0.1", "content_type": ""}
    steps = {
        "orjson per line (the baseline's parse)": lambda: [orjson.loads(line) for line in payload.splitlines()],
        "json_lines decode (wishbone.codec)": lambda: nd.decode(payload),
        "tracked events made and let go (http_in)": lambda: HTTPIn._events(items, http, _Request()),
    }
    figures = {}
    for name, step in steps.items():
        tries = []
        for _ in range(5):
            cpu = time.process_time()
            for _ in range(rounds):
                step()
            tries.append((time.process_time() - cpu) / rounds / LINES * 1e6)
        figures[name] = statistics.median(tries)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--client", nargs=3, type=int, metavar=("PORT", "REQUESTS", "CONNECTIONS"))
    args = parser.parse_args(argv)
    if args.client:
        client(*args.client)
        return 0
    names = {
        "bare": "bare gevent pywsgi + orjson",
        "floor": "pywsgi only (body not parsed)",
        "wishbone": "http_in -> null",
        "frozen": "http_in -> null, gc.freeze()",
    }
    runs: dict[str, list[dict]] = {key: [] for key in names}
    for _ in range(args.repeat):
        runs["bare"].append(bare(args.requests, args.connections))
        runs["floor"].append(bare(args.requests, args.connections, parse=False))
        runs["wishbone"].append(wishbone(args.requests, args.connections))
        runs["frozen"].append(wishbone(args.requests, args.connections, freeze=True))
        time.sleep(0.2)
    fields = ("rate", "server_us", "gc_us", "client_us")
    median = {key: {f: statistics.median(r[f] for r in values) for f in fields} for key, values in runs.items()}
    print(
        f"python {sys.version.split()[0]}, {args.requests} requests of {LINES} NDJSON lines over "
        f"{args.connections} connections, {args.repeat} runs; load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'server':29} {'events/s':>10} {'of base':>8} {'server CPU us/ev':>17} {'of it GC':>9} {'client':>7}  runs")
    for key, name in names.items():
        m = median[key]
        each = " ".join(f"{r['rate']:,.0f}" for r in runs[key])
        print(
            f"{name:29} {m['rate']:10,.0f} {m['rate'] / median['bare']['rate']:8.0%} "
            f"{m['server_us']:17.2f} {m['gc_us']:9.2f} {m['client_us']:7.2f}   {each}"
        )
    print("http_in's own steps, in this process (CPU us/event):")
    for name, figure in split().items():
        print(f"  {name:44} {figure:6.2f}")
    ours, base = median["wishbone"], median["bare"]
    result(
        f"http_in -> null, NDJSON bodies of {LINES} lines ({ours['rate'] / base['rate']:.0%} of baseline)",
        ours["rate"],
        "events/s",
        ">= 100,000 events/s",
        ours["rate"] >= 100_000,
        base["rate"],
    )
    result(
        f"http_in -> null, server CPU per event ({ours['server_us'] / base['server_us']:.1f}x baseline)",
        ours["server_us"],
        "us/event",
        "reported",
        None,
        base["server_us"],
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
