"""A webhook sink on 127.0.0.1 that keeps what Alertmanager posts to it: where
the control plane's /api/v1/alerts/webhook will be (the paging issue)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Sink:
    def __init__(self, url: str) -> None:
        self.url = url
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.authorizations: list[str] = []
        self.lock = threading.Lock()

    def received(self) -> list[tuple[str, dict[str, Any]]]:
        with self.lock:
            return list(self.posts)

    def wait_for(
        self, ok: Callable[[list[tuple[str, dict[str, Any]]]], bool], timeout: float
    ) -> list[tuple[str, dict[str, Any]]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ok(self.received()):
                return self.received()
            time.sleep(0.2)
        raise AssertionError(f"not received within {timeout} s; got {self.received()}")


@contextmanager
def webhook_sink() -> Iterator[Sink]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    sink = Sink(f"http://127.0.0.1:{server.server_address[1]}")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            with sink.lock:
                sink.posts.append((self.path, json.loads(body)))
                sink.authorizations.append(self.headers.get("Authorization", ""))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server.RequestHandlerClass = Handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()
