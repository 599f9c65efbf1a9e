"""Catch-up under the real scheduler: wall time, task instances and work amplification for a day of small objects.

Both rows run today's code on the same logs, already in the bucket (as after an outage or on a fresh install), with
LocalExecutor, api-server, scheduler and dag-processor as processes, 4 active runs and the default look-back:

- "one task pair per object" sets `lyve_group_bytes` to 1, which gives every object its own parse and load task (up
  to `lyve_max_parallel_groups`), as planning did before objects were grouped by bytes;
- "byte groups" keeps the default (256 MiB of objects per task pair), so a small hour is one parse and one load.

Amplification is the points written over all runs' reports divided by the entries in the bucket (1.00: every object
parsed and written by one run only). `python -m bench.catchup` runs this part alone.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from include.lyve_audit.demo import generate
from tests.support.airflow_cluster import AirflowCluster, Postgres
from tests.support.deployment import entries_by_kind
from tests.support.influx_engine import InfluxEngine, V2WriteProxy, free_port, start_engine_and_proxy, wait_for_http
from tests.support.pipeline_env import configure_airflow, s3_client, unique_name, upload

DAG_ID = "lyve_audit_logs"
MAX_ACTIVE_RUNS = 4
ROOT = Path(__file__).resolve().parents[1]
ACCESS_KEY, SECRET_KEY, TOKEN, ORG = "bench-access", "bench-secret", "bench-token", "bench-org"  # local servers only
SETUPS = {"one task pair per object": {"lyve_group_bytes": "1"}, "byte groups": {}}


def _one_catch_up(
    work: Path,
    *,
    moto_url: str,
    engine: InfluxEngine,
    proxy: V2WriteProxy,
    log_bucket: str,
    first: datetime,
    hours: int,
    entries: int,
    variables: dict[str, str],
) -> dict[str, Any]:
    """One deployment of its own (metadata DB, InfluxDB database) catching up `hours` from `first`."""
    postgres = Postgres()
    database = unique_name("lyve_bench").replace("-", "_")
    influx_database = unique_name("bench")
    postgres.create_database(database)
    engine.create_database(influx_database)
    cluster = AirflowCluster.local(
        work / database,
        postgres=postgres,
        database=database,
        api_port=free_port(),
        dags_folder=ROOT / "dags",
        project_root=ROOT,
    )
    env = {"LYVE_AUDIT_START_DATE": first.strftime("%Y-%m-%dT%H:%M:%SZ"), "LYVE_AUDIT_MAX_ACTIVE_RUNS": "4"}
    configure_airflow(
        env,
        moto_url=moto_url,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        proxy_url=proxy.url,
        token=TOKEN,
        org=ORG,
        log_bucket=log_bucket,
        influx_bucket=influx_database,
        stage=work / database / "stage",
        extra_variables=variables,
    )
    cluster.env.update(env)
    try:
        with cluster.diagnosed():
            cluster.start_control_plane()
            wait_for_http(f"http://127.0.0.1:{cluster.api_port}/api/v2/monitor/health", timeout=120)
            cluster.wait_for_dag(DAG_ID)
            started = time.monotonic()
            cluster.cli("dags", "unpause", DAG_ID)
            runs = cluster.wait_for_runs(DAG_ID, hours, timeout_s=3600)
            seconds = time.monotonic() - started
            instances = cluster.query("SELECT count(*) FROM task_instance WHERE dag_id = %s", [DAG_ID])[0][0]
            written = sum(
                row["points_written"]
                for report in cluster.reports(DAG_ID).values()
                for row in report["by_kind"].values()
            )
    finally:
        cluster.stop_all()
        postgres.drop_database(database)
    return {
        "runs": len(runs),
        "failed_runs": sum(1 for _, _, state in runs if state != "success"),
        "seconds": seconds,
        "task_instances": int(instances),
        "amplification": written / entries,
    }


def catch_up_rows(moto_url: str, hours: int = 24) -> dict[str, dict[str, Any]]:
    """Each setup's catch-up of the same `hours` of small objects (about 11 objects of 10–40 entries an hour)."""
    engine, proxy, engine_root = start_engine_and_proxy()
    s3 = s3_client(moto_url, ACCESS_KEY, SECRET_KEY)
    log_bucket = unique_name("bench-catch-up")
    s3.create_bucket(Bucket=log_bucket)
    first = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=hours)
    objects = upload(s3, log_bucket, generate(first, hours, seed=24, s3_entries=10))
    entries = sum(entries_by_kind(objects).values())
    rows: dict[str, dict[str, Any]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="lyve-bench-catch-up-") as work:
            for name, variables in SETUPS.items():
                sys.stderr.write(f"[bench] catch-up of {hours} hours ({len(objects)} objects), {name}\n")
                rows[name] = _one_catch_up(
                    Path(work),
                    moto_url=moto_url,
                    engine=engine,
                    proxy=proxy,
                    log_bucket=log_bucket,
                    first=first,
                    hours=hours,
                    entries=entries,
                    variables=variables,
                )
                rows[name]["objects"] = len(objects)
    finally:
        proxy.stop()
        engine.stop()
        shutil.rmtree(engine_root, ignore_errors=True)
    return rows


def table_rows(rows: dict[str, dict[str, Any]], hours: int) -> list[tuple[str, str, str]]:
    """(measure, value, compared with) per setup, then the ratio of the two."""
    lines = [
        (
            f"catch-up, {hours} h of small objects, {name}",
            f"{row['seconds']:.0f} s, {row['task_instances']} task instances",
            f"{row['runs']} runs ({row['failed_runs']} failed), amplification {row['amplification']:.2f}",
        )
        for name, row in rows.items()
    ]
    before, after = rows.get("one task pair per object"), rows.get("byte groups")
    if before and after:
        lines.append(
            (
                "catch-up: byte groups vs one task pair per object",
                f"{before['seconds'] / after['seconds']:.2f} x faster",
                f"{before['task_instances'] / after['task_instances']:.2f} x fewer task instances",
            )
        )
    return lines


if __name__ == "__main__":
    from bench.__main__ import start_moto

    hours = int(sys.argv[1]) if len(sys.argv) > 1 else 24
    moto, url = start_moto()
    try:
        print("\n".join(" | ".join(line) for line in table_rows(catch_up_rows(url, hours), hours)))
    finally:
        moto.terminate()
        moto.wait(timeout=15)
