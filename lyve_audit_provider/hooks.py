"""The hook behind the `lyve_influxdb` connection type: enough for the UI's form and its "Test" button.

The pipeline itself reads the connection's fields in its own glue (`include/lyve_audit_airflow.py`), so this module
needs nothing but Airflow.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

from airflow.sdk import BaseHook

from lyve_audit_provider import CONNECTION_TYPE


class LyveInfluxHook(BaseHook):
    """An InfluxDB 1.x/2.x/3.x server: URL, token or user/password, bucket/database, org, API version."""

    conn_name_attr = "influxdb_conn_id"
    default_conn_name = "influxdb_default"
    conn_type = CONNECTION_TYPE
    hook_name = "InfluxDB (1.x, 2.x, 3.x) for Lyve audit logs"

    def __init__(self, influxdb_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.influxdb_conn_id = influxdb_conn_id

    def get_conn(self) -> Any:
        return self.get_connection(self.influxdb_conn_id)

    def test_connection(self) -> tuple[bool, str]:
        """Ask `/ping`, which every InfluxDB version serves, and report the version it names."""
        conn = self.get_conn()
        host = (conn.host or "").rstrip("/")
        url = host if "://" in host else f"http://{host}:{conn.port or 8086}"
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=10) as response:  # noqa: S310 - the user's URL
                version = response.headers.get("X-Influxdb-Version", "unknown")
        except urllib.error.HTTPError as error:
            return False, f"{url}/ping answered HTTP {error.code}"
        except OSError as error:
            return False, f"{url} unreachable: {error}"
        return True, f"InfluxDB {version} answered at {url}"
