"""Real HTTP on loopback for status tests: a target serving metrics text written by the server's own
`ServingMetrics`, and a webhook receiver that records what it is sent."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mmp.serving.metrics import ServingMetrics


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _TargetHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        owner: FakeTarget = self.server.owner  # type: ignore[attr-defined]
        status, body, kind = owner.answer()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class FakeTarget(_Server):
    """A model server stand-in: `/metrics` from a real ServingMetrics registry you feed directly."""

    def __init__(self, name: str = "churn", version: str = "1") -> None:
        self.metrics = ServingMetrics()
        self.name = name
        self.serve_version(version)
        self.override: tuple[int, bytes, str] | None = None
        super().__init__(_TargetHandler)

    def serve_version(self, version: str) -> None:
        self.version = version
        self.metrics.model_info.clear()
        self.metrics.model_info.labels(self.name, version, "run").set(1)

    def observe(self, seconds: float, n: int = 1, status: int = 200) -> None:
        hist = self.metrics.requests.labels("/predict", "POST", str(status), self.name, self.version)
        for _ in range(n):
            hist.observe(seconds)

    def answer(self) -> tuple[int, bytes, str]:
        if self.override is not None:
            return self.override
        body, kind = self.metrics.render()
        return 200, body, kind


class _HookHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        owner: WebhookReceiver = self.server.owner  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length", "0"))
        owner.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


class WebhookReceiver(_Server):
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        super().__init__(_HookHandler)
