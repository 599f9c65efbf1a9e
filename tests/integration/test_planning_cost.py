"""Planning cost against the S3 server: a month folder of 20,000 keys, LIST requests counted at a proxy in front of it.

A plan that knows the folder's key prefixes lists each prefix from its window's start (StartAfter) and stops past its
end: its LIST requests follow the prefixes and the window, not the month, and it chooses the same objects as a plan
that lists the folder whole.
"""

from __future__ import annotations

import http.client
import json
import math
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from include.lyve_audit.keys import PastPlans
from include.lyve_audit.pipeline import RangeListing, Settings, plan_interval
from tests.conftest import S3_ACCESS_KEY, S3_SECRET_KEY
from tests.support.deployment import Deployment
from tests.support.s3_faults import FaultyS3Proxy

pytestmark = pytest.mark.integration

PREFIXES = [f"S3-bucket-{index:02d}-" for index in range(10)] + ["IAM-", "Console-"]
KEYS_PER_PREFIX = 1667  # one object every 5 minutes for 5.8 days: 20,004 keys in November's folder
FOLDER_START = datetime(2026, 11, 1, tzinfo=UTC)
START = datetime(2026, 11, 5, 12, tzinfo=UTC)
END = START + timedelta(hours=1)


class NoHistory:
    """No earlier plans: both listings are judged on the same past."""

    def past(self, start: datetime, end: datetime) -> PastPlans:
        return PastPlans()

    def record(self, lines: list[bytes]) -> None:
        return None


@pytest.fixture
def counted_s3(deployment: Deployment, moto_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultyS3Proxy]:
    """Connection `lyve_cloud` through a proxy (no faults) that records every request."""
    proxy = FaultyS3Proxy(moto_url)
    extra = {"endpoint_url": proxy.url, "region_name": "us-east-1"}
    conn = {"conn_type": "aws", "login": S3_ACCESS_KEY, "password": S3_SECRET_KEY, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_LYVE_CLOUD", json.dumps(conn))
    yield proxy
    proxy.close()


def put_empty_objects(moto_url: str, bucket: str, keys: list[str], connections: int = 4) -> None:
    """PUT empty objects straight to the S3 server over a few kept-alive connections (the server checks no signature):
    20,000 uploads through boto3 would take most of this test's time."""
    host, port = moto_url.removeprefix("http://").split(":")

    def put_all(share: list[str]) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            for key in share:
                connection.request("PUT", f"/{bucket}/{urllib.parse.quote(key)}", body=b"")
                response = connection.getresponse()
                response.read()
                assert response.status == 200, (key, response.status)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=connections) as pool:
        list(pool.map(put_all, [keys[index::connections] for index in range(connections)]))


def list_requests(proxy: FaultyS3Proxy) -> int:
    return sum(1 for method, path, _ in proxy.requests if method == "GET" and "list-type=2" in path)


def test_known_prefixes_list_the_window_not_the_month(
    deployment: Deployment, counted_s3: FaultyS3Proxy, moto_url: str, tmp_path: Path
) -> None:
    from airflow.sdk import ObjectStoragePath

    from include import lyve_audit_airflow as glue

    keys = [
        f"November-2026/{prefix}{(FOLDER_START + timedelta(minutes=5 * step)).strftime('%Y-%m-%d-%H-%M-%S')}.gz"
        for prefix in PREFIXES
        for step in range(KEYS_PER_PREFIX)
    ]
    put_empty_objects(moto_url, deployment.log_bucket, keys)
    assert len(keys) == 20_004

    bucket, settings = deployment.log_bucket, Settings()
    catalog = glue.StagedPrefixCatalog(ObjectStoragePath(f"file://{tmp_path}/stage"))

    def plan(start: datetime, ranges: RangeListing | None) -> tuple[int, list[str]]:
        before = list_requests(counted_s3)
        planned = plan_interval(
            glue.s3_lister(bucket), start, start + timedelta(hours=1), settings, NoHistory(), "r", ranges
        )
        chosen = sorted(item["key"] for group in planned["groups"] for item in group)
        return list_requests(counted_s3) - before, chosen

    def ranged(now: datetime) -> RangeListing:
        return RangeListing(glue.s3_range_lister(bucket), catalog, now)

    # The first plan knows no prefix: it lists the folder whole (1,000 keys a page) and keeps the prefixes it found.
    full_requests, full_chosen = plan(START, ranged(START))
    assert full_requests == math.ceil(len(keys) / 1000)
    assert catalog.known("November-2026/") == (START, sorted(f"November-2026/{prefix}" for prefix in PREFIXES))

    window_keys = 25 * 12  # look-back 24 h + the hour, one key per 5 minutes per prefix
    ranged_requests, ranged_chosen = plan(START, ranged(START + timedelta(hours=1)))
    assert ranged_requests == len(PREFIXES) * math.ceil(window_keys / 1000)
    assert ranged_chosen == full_chosen
    assert len(full_chosen) == len(PREFIXES) * 12  # the hour's own; earlier hours are left to their own runs

    print(f"\n[planning cost] {len(keys)} keys in the folder: {full_requests} LIST requests listing it whole, "
          f"{ranged_requests} by {len(PREFIXES)} known prefixes")  # fmt: skip
