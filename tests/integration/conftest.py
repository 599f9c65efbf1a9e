"""Fixtures shared by the end-to-end tests: an isolated deployment wired to the session's moto S3 and InfluxDB."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from include.lyve_audit.influx import InfluxTarget
from tests.conftest import INFLUX_ORG, INFLUX_TOKEN, S3_ACCESS_KEY, S3_SECRET_KEY, configure_suite_airflow
from tests.support.deployment import Deployment
from tests.support.influx_engine import InfluxEngine, V2WriteProxy
from tests.support.pipeline_env import s3_client, unique_name


@pytest.fixture
def deployment(
    influx: tuple[InfluxEngine, V2WriteProxy],
    moto_url: str,
    airflow_db: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Deployment]:
    """Its own log bucket, database and staging folder; connections and Variables as environment variables."""
    engine, proxy = influx
    s3 = s3_client(moto_url, S3_ACCESS_KEY, S3_SECRET_KEY)
    log_bucket, database = unique_name("audit-logs"), unique_name("lyve")
    s3.create_bucket(Bucket=log_bucket)
    engine.create_database(database)
    env: dict[str, str] = {"LYVE_AUDIT_START_DATE": "2025-01-01T00:00:00Z"}
    configure_suite_airflow(
        env,
        moto_url=moto_url,
        proxy_url=proxy.url,
        log_bucket=log_bucket,
        influx_bucket=database,
        stage=tmp_path / "stage",
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    target = InfluxTarget(url=proxy.url, org=INFLUX_ORG, bucket=database, token=INFLUX_TOKEN)
    yield Deployment(engine, s3, log_bucket, database, tmp_path / "stage", target)
