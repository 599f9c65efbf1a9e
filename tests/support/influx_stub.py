"""A stand-in for the InfluxDB 2 and 3 answers that the InfluxDB 1.6 engine cannot give (401/403/404, 413, 422,
429/503 with Retry-After, InfluxDB 3's 400 listing rejected lines): no InfluxDB 2 or 3 server can run here. Answers
are JSON as each API documents (2.x: `code` and `message`; 3.x: `error` and `data`, one entry per rejected line).
`/ping` answers 204 with the `X-Influxdb-Version` header the stub is given.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from include.lyve_audit.influx import InfluxTarget
from tests.support.influx_engine import free_port


class StubInflux2:
    """Answers `/api/v2/write` with a scripted list of (status, headers, body); records every request."""

    def __init__(self, answers: list[tuple[int, dict[str, str], dict[str, Any]]], version: str = "v2.7.11") -> None:
        self.answers = list(answers)
        self.requests: list[tuple[float, str, dict[str, str], bytes]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return

            def do_GET(self) -> None:
                self.send_response(204)
                self.send_header("X-Influxdb-Version", version)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                stub.requests.append((time.monotonic(), self.path, dict(self.headers), body))
                status, headers, payload = stub.answers.pop(0) if stub.answers else (204, {}, {})
                data = orjson.dumps(payload) if payload else b""
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def target(self) -> InfluxTarget:
        return InfluxTarget(
            url=f"http://127.0.0.1:{self.server.server_address[1]}", org="acme", bucket="audit", token="s3cr3t-token"
        )

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
