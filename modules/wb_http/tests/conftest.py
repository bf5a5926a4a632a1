"""A real HTTP server on 127.0.0.1 (gevent's pywsgi, in the test process) that records what it is
sent and answers with the statuses a test scripts: the peer of http_out's tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gevent.pywsgi import WSGIHandler, WSGIServer


class _Quiet(WSGIHandler):
    def log_request(self) -> None:
        pass


class Sink:
    """Records request bodies and headers; answers ``statuses`` in turn, then 200."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.headers: list[dict] = []
        self.statuses: list[int] = []
        self.server = WSGIServer(("127.0.0.1", 0), self._app, log=None, error_log=None, handler_class=_Quiet)
        self.server.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/in"

    def _app(self, environ, start_response):
        body = environ["wsgi.input"].read()
        status = self.statuses.pop(0) if self.statuses else 200
        if 200 <= status < 300:
            self.bodies.append(body)
            self.headers.append({k: v for k, v in environ.items() if k.startswith("HTTP_") or k == "CONTENT_TYPE"})
        start_response(f"{status} X", [("Content-Length", "2")])
        return [b"ok"]


@pytest.fixture
def http_sink() -> Iterator[Sink]:
    sink = Sink()
    yield sink
    sink.server.stop(timeout=1)


@pytest.fixture
def http_sink_url(http_sink: Sink) -> str:
    return http_sink.url
