"""Airflow provider metadata of the Lyve Cloud audit-log pipeline: the `lyve_influxdb` connection type.

Airflow finds `get_provider_info` through the `apache_airflow_provider` entry point of the `lyve-audit-logs`
distribution and builds the connection form from it without importing any hook. The type has its own name, so it
does not clash with the official provider's `influxdb` type; connections of that type keep working too.
"""

from __future__ import annotations

from typing import Any

CONNECTION_TYPE = "lyve_influxdb"


def get_provider_info() -> dict[str, Any]:
    return {
        "package-name": "lyve-audit-logs",
        "name": "Lyve Cloud audit logs",
        "description": "Lyve Cloud audit logs (S3 API, IAM, Console) into InfluxDB 1.x, 2.x or 3.x.",
        "connection-types": [
            {
                "connection-type": CONNECTION_TYPE,
                "hook-class-name": "lyve_audit_provider.hooks.LyveInfluxHook",
                "hook-name": "InfluxDB (1.x, 2.x, 3.x) for Lyve audit logs",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port"],
                    "relabeling": {"host": "URL", "login": "Username (1.x only)", "password": "Token or password"},
                    "placeholders": {
                        "host": "http://localhost:8086",
                        "login": "empty when the password field holds a token",
                        "password": "API token (2.x, 3.x), or the 1.x user's password",
                    },
                },
                "conn-fields": {
                    "bucket": {
                        "label": "Bucket / database",
                        "description": "2.x bucket, or 1.x/3.x database. The Variable influxdb_bucket wins if set.",
                        "schema": {"type": ["string", "null"]},
                    },
                    "org": {
                        "label": "Organization",
                        "description": "2.x only (name or ID).",
                        "schema": {"type": ["string", "null"]},
                    },
                    "api_version": {
                        "label": "API version",
                        "description": "auto asks the server's /ping; 1 = /write and /query, 2 = /api/v2/write.",
                        "schema": {"type": ["string", "null"], "enum": ["auto", "1", "2"], "default": "auto"},
                    },
                    "retention_policy": {
                        "label": "Retention policy",
                        "description": "1.x only; empty = the database's default.",
                        "schema": {"type": ["string", "null"]},
                    },
                },
            }
        ],
    }
