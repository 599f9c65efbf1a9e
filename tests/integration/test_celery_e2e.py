"""End to end on the CeleryExecutor: the DAG backfilled by two Celery workers, then by one, on real services.

PostgreSQL (metadata DB and Celery result backend, a database of the test's own) and Redis (broker, a DB index of
its own) are the machine's; the api-server, scheduler, dag-processor and workers are processes this test starts
and stops. Staging is on the S3 store, since workers on other machines share no disk. The test checks exact counts
read back from InfluxDB, that both workers ran tasks, and reports entries/s with 2 workers against 1.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from include.lyve_audit.demo import GeneratedObject, generate
from include.lyve_audit.keys import parse_log_key
from include.lyve_audit.schema import MEASUREMENTS
from tests.conftest import ROOT, S3_ACCESS_KEY, S3_SECRET_KEY, configure_suite_airflow
from tests.support.airflow_cluster import AirflowCluster, Postgres
from tests.support.influx_engine import InfluxEngine, V2WriteProxy, free_port, wait_for_http
from tests.support.pipeline_env import s3_client, unique_name, upload

pytestmark = pytest.mark.integration

DAG_ID = "lyve_audit_logs"
FIRST_HOUR = datetime(2026, 10, 31, 21, tzinfo=UTC)  # 12 hours that cross into November's folder
HOURS_PER_PHASE = 6
S3_ENTRIES = 100  # per S3 object: 9 S3 objects + IAM + Console per hour, about 900 entries an hour
MAX_GROUPS = 3  # per run: 1 plan + 3 parse + 3 load + 1 report + 1 record_run = 9 tasks
WORKERS = ("worker-a", "worker-b")
CONCURRENCY = 2
REDIS_URL = "redis://127.0.0.1:6379"
REDIS_DB = 11
BACKFILL_TIMEOUT_S = 600.0


@dataclass
class Phase:
    """One backfill: the entries its hours hold, how long its runs took, and which workers ran its tasks."""

    entries: int
    seconds: float
    hostnames: dict[str, int]

    @property
    def rate(self) -> float:
        return self.entries / self.seconds


def expected_counts(objects: list[GeneratedObject]) -> dict[str, int]:
    """Entries per measurement: what InfluxDB must hold once `objects` are loaded."""
    totals = dict.fromkeys(MEASUREMENTS.values(), 0)
    for generated in objects:
        log_key = parse_log_key(generated.key)
        assert log_key is not None
        totals[MEASUREMENTS[log_key.kind]] += len(generated.entries)
    return totals


def in_hours(objects: list[GeneratedObject], first: datetime, hours: int) -> list[GeneratedObject]:
    chosen = []
    for generated in objects:
        log_key = parse_log_key(generated.key)
        assert log_key is not None
        if first <= log_key.timestamp < first + timedelta(hours=hours):
            chosen.append(generated)
    return chosen


def purge_redis_keys(prefix: str) -> int:
    """Delete this run's keys only: other runs (other checkouts, CI) may share the Redis DB index."""
    import redis

    client = redis.Redis.from_url(f"{REDIS_URL}/{REDIS_DB}")
    keys = list(client.scan_iter(match=f"{prefix}*", count=500))
    if keys:
        client.delete(*keys)
    client.close()
    return len(keys)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[AirflowCluster]:
    """A PostgreSQL database and a Redis DB index of the test's own, and the processes that use them; all removed."""
    postgres = Postgres()
    database = unique_name("lyve_celery").replace("-", "_")
    broker_prefix = f"{database}:"
    try:
        postgres.create_database(database)
        purge_redis_keys(broker_prefix)
    except Exception as error:
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 must run for this test: {error}")
    cluster = AirflowCluster.celery(
        tmp_path / "airflow",
        postgres=postgres,
        database=database,
        broker_url=f"{REDIS_URL}/{REDIS_DB}",
        broker_prefix=broker_prefix,
        api_port=free_port(),
        dags_folder=ROOT / "dags",
        project_root=ROOT,
    )
    try:
        yield cluster
    finally:
        cluster.stop_all()
        postgres.drop_database(database)
        purge_redis_keys(broker_prefix)


def count_points(engine: InfluxEngine, database: str) -> dict[str, int]:
    return {measurement: engine.count(measurement, database) for measurement in MEASUREMENTS.values()}


def run_phase(cluster: AirflowCluster, first: datetime, objects: list[GeneratedObject]) -> Phase:
    """Backfill HOURS_PER_PHASE hours from `first` and wait for every run to succeed."""
    backfill_id = cluster.backfill(
        DAG_ID, first, first + timedelta(hours=HOURS_PER_PHASE - 1), max_active_runs=HOURS_PER_PHASE
    )
    runs = cluster.wait_for_backfill(backfill_id, timeout_s=BACKFILL_TIMEOUT_S)
    assert [state for _, state, _, _ in runs] == ["success"] * HOURS_PER_PHASE, runs
    started = min(run[2] for run in runs)
    ended = max(run[3] for run in runs)
    entries = sum(len(generated.entries) for generated in in_hours(objects, first, HOURS_PER_PHASE))
    return Phase(entries, (ended - started).total_seconds(), cluster.hostnames(backfill_id))


def test_backfill_on_two_celery_workers_loads_exactly(
    cluster: AirflowCluster,
    influx: tuple[InfluxEngine, V2WriteProxy],
    moto_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine, proxy = influx
    s3 = s3_client(moto_url, S3_ACCESS_KEY, S3_SECRET_KEY)
    log_bucket, stage_bucket, database = unique_name("audit-logs"), unique_name("stage"), unique_name("lyve")
    s3.create_bucket(Bucket=log_bucket)
    s3.create_bucket(Bucket=stage_bucket)
    engine.create_database(database)
    objects = upload(s3, log_bucket, generate(FIRST_HOUR, 2 * HOURS_PER_PHASE, seed=31, s3_entries=S3_ENTRIES))
    second = FIRST_HOUR + timedelta(hours=HOURS_PER_PHASE)

    env: dict[str, str] = {
        # Scheduled runs start tomorrow: while the test runs only the backfills make runs.
        "LYVE_AUDIT_START_DATE": (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z"),
    }
    configure_suite_airflow(
        env,
        moto_url=moto_url,
        proxy_url=proxy.url,
        log_bucket=log_bucket,
        influx_bucket=database,
        stage=tmp_path / "unused-stage",
        extra_variables={
            "lyve_max_parallel_groups": str(MAX_GROUPS),
            # Groups of at least one byte: every hour spreads over MAX_GROUPS parse/load pairs, as a big hour would.
            "lyve_group_bytes": "1",
        },
    )
    env["AIRFLOW_VAR_LYVE_STAGE_PATH"] = f"s3://lyve_cloud@{stage_bucket}/stage"
    cluster.env.update(env)

    with cluster.diagnosed():
        cluster.start_control_plane()
        for name in WORKERS:
            cluster.start_worker(name, concurrency=CONCURRENCY, log_server_port=free_port())
        wait_for_http(f"http://127.0.0.1:{cluster.api_port}/api/v2/monitor/health", timeout=120)
        cluster.wait_for_dag(DAG_ID)
        cluster.cli("dags", "unpause", DAG_ID)

        two = run_phase(cluster, FIRST_HOUR, objects)
        assert count_points(engine, database) == expected_counts(in_hours(objects, FIRST_HOUR, HOURS_PER_PHASE))
        assert set(two.hostnames) == set(WORKERS), f"both workers must run tasks: {two.hostnames}"
        assert sum(two.hostnames.values()) == HOURS_PER_PHASE * (3 + 2 * MAX_GROUPS)

        cluster.stop("worker-b")
        one = run_phase(cluster, second, objects)
        assert count_points(engine, database) == expected_counts(objects)
        assert set(one.hostnames) == {"worker-a"}, one.hostnames

        # Parse and load met through the S3 store (the workers share no folder), which holds nothing staged now.
        staged = [ref["stage"] for refs in cluster.xcom_values(DAG_ID, "parse_objects") for ref in refs]
        assert len(staged) == len(objects)
        assert all(path.startswith(f"s3://lyve_cloud@{stage_bucket}/stage/") for path in staged), staged[:3]
        ledger = engine.rows('SELECT "object" FROM "lyve-pipeline"', database)
        assert sorted(row["object"] for row in ledger) == sorted(generated.key for generated in objects)
        left: list[dict[str, Any]] = s3.list_objects_v2(Bucket=stage_bucket).get("Contents", [])
        assert [item["Key"] for item in left if item["Key"].endswith(".lpb")] == []

    ratio = two.rate / one.rate
    with capsys.disabled():
        print(
            f"\n[celery e2e] {two.entries + one.entries} entries in {2 * HOURS_PER_PHASE} hourly runs; "
            f"tasks per worker with 2 workers: {two.hostnames}; "
            f"entries/s with 2 workers / with 1 worker = {ratio:.2f} "
            f"({two.seconds:.1f} s vs {one.seconds:.1f} s for {two.entries} vs {one.entries} entries; "
            f"{os.cpu_count()} CPUs)"
        )
