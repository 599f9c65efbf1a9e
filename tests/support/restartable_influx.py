"""An InfluxDB engine of a test's own that can be SIGKILLed and started again on the same ports and data folder.

The v2 write proxy in front of it stops and starts with it, so that a client sees what it sees when InfluxDB itself
is down: connection refused.
"""

from __future__ import annotations

import signal
from pathlib import Path

from tests.support.influx_engine import InfluxEngine, V2WriteProxy, free_port


class RestartableInflux:
    """`kill()` = SIGKILL the engine (no clean shutdown) and close the write port; `start()` brings both back."""

    def __init__(self, root: Path) -> None:
        self.engine = InfluxEngine(root)
        self.proxy_port = free_port()
        self.proxy: V2WriteProxy | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def running(self) -> bool:
        return self.proxy is not None

    def start(self) -> RestartableInflux:
        self.engine.start()
        self.proxy = V2WriteProxy(self.engine, port=self.proxy_port).start()
        return self

    def kill(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        process = self.engine.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        self.engine.stop()
