"""A real InfluxDB engine for the tests, plus the InfluxDB 2 write endpoint it lacks.

Debian ships InfluxDB 1.6 (`influxd`). It stores points exactly like InfluxDB 2 (same line protocol, same point
identity: measurement + tag set + time, a second write overwrites) and answers InfluxQL on `/query`. It has no
`/api/v2/write`, which InfluxDB 1.8 added natively; `V2WriteProxy` maps `/api/v2/write?bucket=B&precision=P` to
`/write?db=B&precision=P`, as 1.8 does, so that influxdb-client writes to it unchanged.
"""

from __future__ import annotations

import http.client
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson

from local_run.stack import INFLUXD_CONFIG
from tests.support.processes import stop_process


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_http(url: str, timeout: float = 30.0) -> None:
    """Poll `url` until it answers (any HTTP status) or raise after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@dataclass
class InfluxEngine:
    """One `influxd` process with its own config, data folder and loopback ports."""

    root: Path
    http_port: int = field(default_factory=free_port)
    rpc_port: int = field(default_factory=free_port)
    auth_enabled: bool = False
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def start(self) -> InfluxEngine:
        binary = shutil.which("influxd")
        if binary is None:
            raise RuntimeError("influxd not found: `make test` installs Debian's influxdb package")
        config = self.root / "influxdb.conf"
        config.write_text(
            INFLUXD_CONFIG.format(
                root=self.root,
                http_port=self.http_port,
                rpc_port=self.rpc_port,
                auth_enabled=str(self.auth_enabled).lower(),
            )
        )
        log = (self.root / "influxd.log").open("ab")
        self.process = subprocess.Popen([binary, "-config", str(config)], stdout=log, stderr=log)
        wait_for_http(f"{self.url}/ping")
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)

    def query(
        self, influxql: str, database: str | None = None, method: str = "GET", user: tuple[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Run InfluxQL (as `user`, a name and password, on an engine with authentication) and return the `series`
        of the first statement (empty list when none); an error in the answer raises."""
        params = {"q": influxql, "epoch": "ns"}
        if database:
            params["db"] = database
        if user:
            params["u"], params["p"] = user
        url = f"{self.url}/query?{urllib.parse.urlencode(params)}"
        request = urllib.request.Request(url, method=method)
        with urllib.request.urlopen(request, timeout=60) as response:
            body = orjson.loads(response.read())
        result = body["results"][0]
        if "error" in result:
            raise RuntimeError(f"InfluxQL error for {influxql!r}: {result['error']}")
        return list(result.get("series", []))

    def create_database(self, name: str, user: tuple[str, str] | None = None) -> None:
        """Create a database and wait until the engine lists it (a busy engine can answer before it is usable)."""
        deadline = time.monotonic() + 30
        while True:
            self.query(f'CREATE DATABASE "{name}"', method="POST", user=user)
            listed = self.query("SHOW DATABASES", user=user)
            if any(row == [name] for series in listed for row in series.get("values", [])):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"database {name!r} not listed 30 s after it was created")
            time.sleep(0.2)

    def rows(self, influxql: str, database: str) -> list[dict[str, Any]]:
        """Run InfluxQL and flatten every series into dicts (tags merged in)."""
        flat: list[dict[str, Any]] = []
        for series in self.query(influxql, database):
            tags = series.get("tags", {})
            for values in series["values"]:
                row = dict(zip(series["columns"], values, strict=True))
                row.update(tags)
                flat.append(row)
        return flat

    def count(self, measurement: str, database: str, field: str = "message") -> int:
        """Number of points in `measurement`, counted on a field every point carries."""
        series = self.query(f'SELECT COUNT("{field}") FROM "{measurement}"', database)
        return int(series[0]["values"][0][1]) if series else 0


def relay_head(handler: BaseHTTPRequestHandler, response: http.client.HTTPResponse, length: int) -> None:
    """Send an upstream answer's status and headers back through a proxy (the body follows, `length` bytes)."""
    handler.send_response(response.status)
    for name, value in response.getheaders():
        if name.lower() not in {"content-length", "connection", "transfer-encoding"}:
            handler.send_header(name, value)
    handler.send_header("Content-Length", str(length))
    handler.end_headers()


class ProxyHandler(BaseHTTPRequestHandler):
    """Forward requests to the engine; rewrite the InfluxDB 2 write path to the 1.x one."""

    upstream: tuple[str, int] = ("127.0.0.1", 8086)
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return

    def _forward(self, method: str) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        path = parsed.path
        query = urllib.parse.parse_qs(parsed.query)
        if path == "/api/v2/write":
            upstream_query = {"db": query.get("bucket", [""])[0], "precision": query.get("precision", ["ns"])[0]}
            path = "/write"
            query_string = urllib.parse.urlencode(upstream_query)
        else:
            query_string = parsed.query
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(length) if length else None
        headers = {
            name: value
            for name, value in self.headers.items()
            if name.lower() in {"content-type", "content-encoding", "accept", "accept-encoding"}
        }
        connection = http.client.HTTPConnection(*self.upstream, timeout=120)
        try:
            connection.request(method, f"{path}?{query_string}", body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            relay_head(self, response, len(payload))
            self.wfile.write(payload)
        finally:
            connection.close()

    def do_GET(self) -> None:
        self._forward("GET")

    def do_POST(self) -> None:
        self._forward("POST")


class V2WriteProxy:
    """A threaded loopback HTTP server that speaks InfluxDB 2's write path in front of the engine."""

    def __init__(self, engine: InfluxEngine, port: int | None = None) -> None:
        handler = type("Handler", (ProxyHandler,), {"upstream": ("127.0.0.1", engine.http_port)})
        self.server = ThreadingHTTPServer(("127.0.0.1", port or free_port()), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> V2WriteProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_engine_and_proxy() -> tuple[InfluxEngine, V2WriteProxy, Path]:
    """Start an engine in a fresh temp folder and a proxy in front of it (used by fixtures and the benchmark)."""
    root = Path(tempfile.mkdtemp(prefix="lyve-influx-"))
    engine = InfluxEngine(root).start()
    return engine, V2WriteProxy(engine).start(), root
