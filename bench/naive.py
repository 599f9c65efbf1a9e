"""The naive encoder the benchmark compares against (not product code): flatten, `Point.from_dict`, serialize.

This is what a first version usually looks like: every nested key becomes a dotted field, the six tags are picked by
name, and influxdb-client's `Point` does escaping and time conversion.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from influxdb_client import Point, WritePrecision

TAG_KEYS = (
    "auditEntry.api.bucket",
    "auditEntry.api.name",
    "auditEntry.api.statusCode",
    "auditEntry.requestHeader.X-Real-Ip",
    "serviceAccountCreatorId",
    "serviceAccountName",
)
TIME_KEY = "auditEntry.time"


def flatten(entry: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects → one dict of dotted keys."""
    flat: dict[str, Any] = {}
    for key, value in entry.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def naive_line(raw: bytes) -> str:
    """One entry's line the naive way (message included, like the product's default)."""
    entry = orjson.loads(raw)
    flat = flatten(entry if "auditEntry" in entry else {"auditEntry": entry})  # a bare MinIO entry
    tags = {key: str(flat.pop(key)) for key in TAG_KEYS if key in flat}
    time = flat.pop(TIME_KEY)
    fields = {key: value for key, value in flat.items() if value is not None and not isinstance(value, list)}
    fields["message"] = raw.decode()
    record = {"measurement": "audit-01", "tags": tags, "fields": fields, "time": time}
    return Point.from_dict(record, write_precision=WritePrecision.NS).to_line_protocol()


def naive_lines(lines: Iterator[bytes]) -> Iterator[str]:
    for raw in lines:
        yield naive_line(raw)
