"""Stopping the service processes the tests start (engines, browser, Airflow components)."""

from __future__ import annotations

import subprocess


def stop_process(process: subprocess.Popen[bytes], grace_s: float = 15.0) -> int | None:
    """SIGTERM, and SIGKILL when it is still running after `grace_s`; returns its exit code (None if not started)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
    return process.returncode
