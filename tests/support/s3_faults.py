"""A fault-injecting HTTP proxy in front of the moto S3 server.

moto answers every request correctly; real S3 (and Lyve Cloud) also answers 503 SlowDown, 403 AccessDenied, 404
NoSuchKey for an object deleted after it was listed, hangs, and drops connections mid-body. This proxy injects those
answers by rule, so the real S3Hook/botocore client sees them exactly as it would see them from the store.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.influx_engine import free_port, relay_head

ERROR_MESSAGES = {
    "SlowDown": "Please reduce your request rate.",
    "AccessDenied": "Access Denied",
    "NoSuchKey": "The specified key does not exist.",
    "InternalError": "We encountered an internal error. Please try again.",
}


@dataclass
class Fault:
    """One rule: which requests it hits and what it does to them.

    action: an S3 error code answered with `status` (`SlowDown`, `AccessDenied`, `NoSuchKey`, …), `hang` (answer after
    `delay` seconds, to make the client time out), or `cut` (send half the body, then drop the connection).
    """

    action: str
    status: int = 503
    method: str | None = None
    path_contains: str | None = None
    times: int | None = None
    once_per_request: bool = False
    delay: float = 0.0
    seen: set[str] = field(default_factory=set)

    def applies(self, method: str, path: str) -> bool:
        if self.method is not None and method != self.method:
            return False
        if self.path_contains is not None and self.path_contains not in path:
            return False
        if self.times is not None and self.times <= 0:
            return False
        if self.once_per_request:
            if f"{method} {path}" in self.seen:
                return False
            self.seen.add(f"{method} {path}")
        if self.times is not None:
            self.times -= 1
        return True


class FaultyS3Proxy:
    """Forwards to moto, except for requests a rule hits; records (method, path, action or "") for every request."""

    def __init__(self, upstream_url: str, faults: list[Fault] | None = None) -> None:
        self.faults = list(faults or [])
        self.requests: list[tuple[str, str, str]] = []
        self.lock = threading.Lock()
        host, port = upstream_url.removeprefix("http://").split(":")
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
                return

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length", "0") or 0)
                body = self.rfile.read(length) if length else None
                with proxy.lock:
                    fault = next((rule for rule in proxy.faults if rule.applies(self.command, self.path)), None)
                    proxy.requests.append((self.command, self.path, fault.action if fault else ""))
                if fault is not None and fault.action not in ("hang", "cut"):
                    self._error(fault)
                    return
                if fault is not None and fault.action == "hang":
                    time.sleep(fault.delay)
                connection = http.client.HTTPConnection(host, int(port), timeout=60)
                try:
                    connection.request(self.command, self.path, body=body, headers=dict(self.headers.items()))
                    response = connection.getresponse()
                    payload = response.read()
                finally:
                    connection.close()
                relay_head(self, response, len(payload))
                try:
                    if fault is not None and fault.action == "cut" and self.command == "GET":
                        self.wfile.write(payload[: len(payload) // 2])
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return
                    if self.command != "HEAD":
                        self.wfile.write(payload)
                except OSError:
                    self.close_connection = True  # the client gave up (timed out) first

            def _error(self, fault: Fault) -> None:
                xml = (
                    '<?xml version="1.0" encoding="UTF-8"?>\n'
                    f"<Error><Code>{fault.action}</Code><Message>{ERROR_MESSAGES.get(fault.action, fault.action)}"
                    "</Message><RequestId>FAULT</RequestId></Error>"
                ).encode()
                self.send_response(fault.status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(0 if self.command == "HEAD" else len(xml)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(xml)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle  # noqa: N815 - stdlib naming

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def injected(self, action: str | None = None) -> list[tuple[str, str, str]]:
        """The requests a rule hit (of one action, or all)."""
        return [request for request in self.requests if request[2] and (action is None or request[2] == action)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
