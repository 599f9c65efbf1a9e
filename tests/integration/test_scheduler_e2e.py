"""Catch-up the way operators run it: the real scheduler (LocalExecutor, api-server, scheduler and dag-processor as
processes, a PostgreSQL metadata DB of the test's own), 12 hours of logs already in the bucket, the default look-back
(24 h) and 4 active runs.

Every object is parsed and written by one run only (points written over the runs' reports equal the entries), a
manual run of one hour never blocks the schedule, and a load cleared after its writes (alone, or with its report)
succeeds from the ledger with the counts unchanged.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from include.lyve_audit.demo import GeneratedObject, generate
from include.lyve_audit.keys import KINDS, parse_log_key
from include.lyve_audit.schema import MEASUREMENTS
from tests.conftest import ROOT, S3_ACCESS_KEY, S3_SECRET_KEY, configure_suite_airflow
from tests.support.airflow_cluster import AirflowCluster, Postgres
from tests.support.deployment import entries_by_kind
from tests.support.influx_engine import InfluxEngine, V2WriteProxy, free_port, wait_for_http
from tests.support.pipeline_env import s3_client, unique_name, upload

pytestmark = pytest.mark.integration

DAG_ID = "lyve_audit_logs"
HOURS = 12
MAX_ACTIVE_RUNS = 4
RUNS_TIMEOUT_S = 600.0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[AirflowCluster]:
    """A PostgreSQL database of the test's own and the processes that use it; all removed afterwards."""
    postgres = Postgres()
    database = unique_name("lyve_sched").replace("-", "_")
    try:
        postgres.create_database(database)
    except Exception as error:
        pytest.fail(f"PostgreSQL on 127.0.0.1:5432 must run for this test: {error}")
    cluster = AirflowCluster.local(
        tmp_path / "airflow",
        postgres=postgres,
        database=database,
        api_port=free_port(),
        dags_folder=ROOT / "dags",
        project_root=ROOT,
    )
    try:
        yield cluster
    finally:
        cluster.stop_all()
        postgres.drop_database(database)


def clear_load(cluster: AirflowCluster, run_id: str, *flags: str) -> str:
    """`airflow tasks clear` of one run's load_points (the run named by its logical date, as the CLI takes it).

    Airflow 3.3's `-t` matches task ids by substring, not as a regular expression.
    """
    logical = cluster.query("SELECT logical_date FROM dag_run WHERE dag_id = %s AND run_id = %s", [DAG_ID, run_id])
    date = logical[0][0].isoformat()
    return cluster.cli("tasks", "clear", DAG_ID, "-t", "load_points", "-s", date, "-e", date, *flags, "--yes")


def points_written(report: dict[str, Any]) -> int:
    return sum(row["points_written"] for row in report["by_kind"].values())


def in_hour(objects: list[GeneratedObject], start: datetime) -> list[GeneratedObject]:
    return [item for item in objects if start <= parse_log_key(item.key).timestamp < start + timedelta(hours=1)]  # type: ignore[union-attr]


def test_catch_up_with_four_active_runs_does_each_object_once(
    cluster: AirflowCluster,
    influx: tuple[InfluxEngine, V2WriteProxy],
    moto_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    engine, proxy = influx
    s3 = s3_client(moto_url, S3_ACCESS_KEY, S3_SECRET_KEY)
    log_bucket, database = unique_name("audit-logs"), unique_name("lyve")
    s3.create_bucket(Bucket=log_bucket)
    engine.create_database(database)
    first = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS)
    # Uploaded in one go, long after their hours: what made concurrent runs take each other's objects as late.
    objects = upload(s3, log_bucket, generate(first, HOURS, seed=61, s3_entries=10))
    expected = entries_by_kind(objects)
    stage = tmp_path / "stage"

    env: dict[str, str] = {
        "LYVE_AUDIT_START_DATE": first.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "LYVE_AUDIT_MAX_ACTIVE_RUNS": str(MAX_ACTIVE_RUNS),
    }
    configure_suite_airflow(
        env, moto_url=moto_url, proxy_url=proxy.url, log_bucket=log_bucket, influx_bucket=database, stage=stage
    )
    cluster.env.update(env)

    def counts() -> dict[str, int]:
        return {kind: engine.count(measurement, database) for kind, measurement in MEASUREMENTS.items()}

    def ledger() -> list[str]:
        return sorted(row["object"] for row in engine.rows('SELECT "object" FROM "lyve-pipeline"', database))

    manual_hour = first + timedelta(hours=5)
    with cluster.diagnosed():
        cluster.start_control_plane()
        wait_for_http(f"http://127.0.0.1:{cluster.api_port}/api/v2/monitor/health", timeout=120)
        cluster.wait_for_dag(DAG_ID)
        # One hour by hand, as the README shows, before the scheduler gets there: it must not block the schedule.
        cluster.cli("dags", "trigger", DAG_ID, "--conf", json.dumps({"interval_start": manual_hour.isoformat()}))
        started = time.monotonic()
        cluster.cli("dags", "unpause", DAG_ID)
        runs = cluster.wait_for_runs(DAG_ID, HOURS + 1, RUNS_TIMEOUT_S)
        seconds = time.monotonic() - started

        scheduled = [run_id for run_id, run_type, _ in runs if run_type == "scheduled"]
        manual = [run_id for run_id, run_type, _ in runs if run_type == "manual"]
        assert len(scheduled) >= HOURS and len(manual) == 1, runs
        assert {state for _, _, state in runs} == {"success"}
        assert counts() == expected
        assert ledger() == sorted(item.key for item in objects)
        assert not list(stage.rglob("*.lpb")), "no staged file is left once the runs are done"

        by_run = cluster.reports(DAG_ID)
        total = sum(expected.values())
        written = sum(points_written(by_run[run_id]) for run_id in scheduled)
        assert written == total, f"amplification {written / total:.2f}"
        own = {kind: sum(by_run[run_id]["by_kind"][kind]["objects_own"] for run_id in scheduled) for kind in KINDS}
        late = {kind: sum(by_run[run_id]["by_kind"][kind]["objects_late"] for run_id in scheduled) for kind in KINDS}
        assert own == {kind: sum(1 for item in objects if parse_log_key(item.key).kind == kind) for kind in KINDS}  # type: ignore[union-attr]
        assert late == dict.fromkeys(KINDS, 0)
        assert points_written(by_run[manual[0]]) == sum(entries_by_kind(in_hour(objects, manual_hour)).values())
        instances = cluster.query(
            "SELECT count(*) FROM task_instance WHERE dag_id = %s AND run_id = ANY(%s)", [DAG_ID, scheduled]
        )[0][0]

        # A load marked failed after its writes (what a lost state update leaves) is cleared without its parse.
        failed_run = scheduled[2]
        cluster.query(
            "UPDATE task_instance SET state = CASE task_id WHEN 'load_points' THEN 'failed' ELSE 'upstream_failed' END "
            "WHERE dag_id = %s AND run_id = %s AND task_id IN ('load_points', 'report')",
            [DAG_ID, failed_run],
        )
        cluster.query("UPDATE dag_run SET state = 'failed' WHERE dag_id = %s AND run_id = %s", [DAG_ID, failed_run])
        clear_load(cluster, failed_run, "--downstream")
        # And one cleared alone at a later time, in a run that had succeeded.
        clear_load(cluster, scheduled[7])
        runs = cluster.wait_for_runs(DAG_ID, HOURS + 1, RUNS_TIMEOUT_S)
        assert {state for _, _, state in runs} == {"success"}
        tries = cluster.query(
            "SELECT run_id, try_number, state FROM task_instance WHERE dag_id = %s AND task_id = 'load_points' "
            "AND run_id = ANY(%s) ORDER BY run_id",
            [DAG_ID, [failed_run, scheduled[7]]],
        )
        assert sorted((try_number, state) for _, try_number, state in tries) == [(2, "success"), (2, "success")]
        assert counts() == expected
        assert ledger() == sorted(item.key for item in objects)
        by_run = cluster.reports(DAG_ID)
        assert sum(points_written(by_run[run_id]) for run_id in scheduled) == total

    with capsys.disabled():
        print(
            f"\n[scheduler catch-up] {HOURS} hourly runs + 1 manual, {MAX_ACTIVE_RUNS} active, look-back 24 h: "
            f"{total} entries, {written} points written (amplification {written / total:.2f}), "
            f"{instances} task instances, {seconds:.0f} s ({os.cpu_count()} CPUs)"
        )


def test_tasks_killed_mid_parse_and_mid_load_are_retried_in_the_same_run(
    cluster: AirflowCluster, influx: tuple[InfluxEngine, V2WriteProxy], moto_url: str, tmp_path: Path
) -> None:
    """A worker SIGKILLed inside a task, under the real scheduler (LocalExecutor): parse_objects dies after 500 staged
    lines (an incomplete staged file) and load_points after 4 write requests (the IAM object loaded, the first S3
    object's points partly written). Each try ends up_for_retry, and the retry of the same run (same run id, so the
    same staging folder) overwrites the incomplete file and writes everything once more: the run succeeds on try 2
    of both tasks, the points and the ledger are exactly one copy, the report counts every entry written once and no
    staged file is left.
    """
    engine, proxy = influx
    s3 = s3_client(moto_url, S3_ACCESS_KEY, S3_SECRET_KEY)
    log_bucket, database = unique_name("audit-logs"), unique_name("lyve")
    s3.create_bucket(Bucket=log_bucket)
    engine.create_database(database)
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)  # one scheduled run
    objects = upload(s3, log_bucket, generate(hour, 1, seed=42, s3_entries=120))
    stage = tmp_path / "stage"
    markers = {task: tmp_path / f"{task}.killed" for task in ("parse", "load")}
    env: dict[str, str] = {
        "LYVE_AUDIT_START_DATE": hour.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "LYVE_AUDIT_RETRY_DELAY_SECONDS": "1",
        "PYTHONPATH": f"{ROOT / 'tests' / 'support' / 'kill_site'}{os.pathsep}{ROOT}",
        "LYVE_TEST_KILL_POINTS": json.dumps(
            {
                "parse": {"after": 500, "marker": str(markers["parse"])},
                "load": {"after": 4, "marker": str(markers["load"])},
            }
        ),
    }
    configure_suite_airflow(
        env,
        moto_url=moto_url,
        proxy_url=proxy.url,
        log_bucket=log_bucket,
        influx_bucket=database,
        stage=stage,
        extra_variables={"lyve_batch_bytes": str(16 << 10)},  # many write requests: the kill lands mid-object
    )
    cluster.env.update(env)

    with cluster.diagnosed():
        cluster.start_control_plane()
        wait_for_http(f"http://127.0.0.1:{cluster.api_port}/api/v2/monitor/health", timeout=120)
        cluster.wait_for_dag(DAG_ID)
        cluster.cli("dags", "unpause", DAG_ID)
        deadline = time.monotonic() + RUNS_TIMEOUT_S
        while time.monotonic() < deadline:  # not wait_for_runs: the retries are the point here
            runs = cluster.query("SELECT run_id, state FROM dag_run WHERE dag_id = %s", [DAG_ID])
            if runs and all(state in ("success", "failed") for _, state in runs):
                break
            cluster.check_alive()
            time.sleep(1)
        [(run_id, state)] = runs
        assert state == "success"
        tries = cluster.query(
            "SELECT task_id, try_number, state FROM task_instance WHERE dag_id = %s AND run_id = %s "
            "AND task_id IN ('parse_objects', 'load_points') ORDER BY task_id",
            [DAG_ID, run_id],
        )
        assert tries == [("load_points", 2, "success"), ("parse_objects", 2, "success")]
        assert markers["parse"].exists() and markers["load"].exists()
        expected = entries_by_kind(objects)
        assert {kind: engine.count(measurement, database) for kind, measurement in MEASUREMENTS.items()} == expected
        ledger = sorted(row["object"] for row in engine.rows('SELECT "object" FROM "lyve-pipeline"', database))
        assert ledger == sorted(item.key for item in objects)
        assert points_written(cluster.reports(DAG_ID)[run_id]) == sum(expected.values())
        assert not list(stage.rglob("*.lpb")), "the retry overwrote the incomplete staged file; the report removed all"
