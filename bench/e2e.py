"""End-to-end worker: S3 → parse → stage → load → InfluxDB with the package's own steps, as one mapped task would.

Runs in a worker process (one per object when objects are processed in parallel, like Airflow's mapped tasks).
"""

from __future__ import annotations

import resource
import time
from contextlib import AbstractContextManager, closing
from pathlib import Path
from typing import IO, Any

import boto3

from include.lyve_audit.influx import InfluxTarget
from include.lyve_audit.pipeline import Settings, load_staged, parse_objects


def warm_up() -> float:
    """Imports done, nothing measured: lets the pool start before the clock does."""
    return time.perf_counter()


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def moto_client(s3_url: str) -> Any:
    """A boto3 S3 client for the benchmark's moto server (which accepts any keys)."""
    return boto3.client(
        "s3",
        endpoint_url=s3_url,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 - moto accepts anything
        region_name="us-east-1",
    )


def run_object(
    described: dict[str, Any], s3_url: str, s3_bucket: str, influx_url: str, database: str, work: str
) -> dict[str, Any]:
    """Parse and load one object; returns counts, phase times and this process's CPU seconds."""
    s3 = moto_client(s3_url)

    def open_object(key: str) -> AbstractContextManager[IO[bytes]]:
        return closing(s3.get_object(Bucket=s3_bucket, Key=key)["Body"])

    target = InfluxTarget(url=influx_url, org="bench", bucket=database, token="bench")  # noqa: S106 - no auth
    settings = Settings()
    root = Path(work)
    cpu = _cpu_s()
    started = time.perf_counter()
    refs = parse_objects([described], open_object, root / "stage", root / "quarantine", "bench", settings)
    parsed = time.perf_counter()
    results = load_staged(refs, target, Path)
    loaded = time.perf_counter()
    return {
        "entries": sum(ref["entries"] for ref in refs),
        "points": sum(ref["points"] for ref in refs),
        "bad": sum(ref["bad"] for ref in refs),
        "written": sum(result["written"] for result in results),
        "parse_s": parsed - started,
        "load_s": loaded - parsed,
        "cpu_s": _cpu_s() - cpu,
    }
