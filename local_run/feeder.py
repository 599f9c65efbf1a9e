"""The local S3 server's feeder: demo logs appear when their key time has come, as Lyve Cloud writes them.

The objects are `include.lyve_audit.demo.generate(first_hour, …, seed)`: the same bytes on every start, so a restarted
(empty, in-memory) S3 server is filled again with exactly what it held, and new ones keep arriving every few minutes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from include.lyve_audit.demo import GeneratedObject, generate
from include.lyve_audit.incidents import incident_objects
from include.lyve_audit.keys import parse_log_key


def _client(endpoint: str) -> Any:
    # The local moto server takes any keys; these are not secrets.
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106
        region_name="us-east-1",
    )


def _keys(client: Any, bucket: str) -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def demo_objects(
    first_hour: datetime, hours: int, seed: int, incident_hour: datetime | None = None
) -> Iterator[GeneratedObject]:
    """The demo logs, plus the security incidents (docs/security.md) in `incident_hour` when one is given; the
    incident that fails its run with bad lines is left out here."""
    yield from generate(first_hour, hours, seed)
    if incident_hour is not None:
        yield from incident_objects(incident_hour, seed, bad_lines=False)


def feed_due(
    client: Any, bucket: str, first_hour: datetime, seed: int, now: datetime, incident_hour: datetime | None = None
) -> dict[str, int]:
    """Upload every generated object whose key time is at or before `now` and that the bucket lacks; entries by kind."""
    hours = int((now - first_hour) / timedelta(hours=1)) + 1
    present = _keys(client, bucket)
    added: dict[str, int] = {}
    for generated in demo_objects(first_hour, hours, seed, incident_hour):
        log_key = parse_log_key(generated.key)
        if log_key is None or log_key.timestamp > now or generated.key in present:
            continue
        client.put_object(Bucket=bucket, Key=generated.key, Body=generated.body())
        added[log_key.kind] = added.get(log_key.kind, 0) + len(generated.entries)
    return added


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def feed_forever(
    endpoint: str, bucket: str, first_hour: str, seed: int, once: bool, every_s: float, incident_hour: str | None = None
) -> int:
    client = _client(endpoint)
    if bucket not in {item["Name"] for item in client.list_buckets().get("Buckets", [])}:
        client.create_bucket(Bucket=bucket)
    start = _utc(first_hour)
    incidents_at = _utc(incident_hour) if incident_hour else None
    while True:
        added = feed_due(client, bucket, start, seed, datetime.now(UTC), incidents_at)
        print(f"bucket {bucket}: entries added by kind {added}", flush=True)
        if once:
            return 0
        time.sleep(every_s)
