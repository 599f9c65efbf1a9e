"""Lyve Cloud audit logs → InfluxDB, one hourly interval per run. Wiring only: the logic is in include/lyve_audit."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, TriggerRule, dag, get_current_context, task

# A dedicated pool (e.g. `airflow pools set influxdb_writes 4 "InfluxDB writers"`) caps concurrent writes to
# InfluxDB however many workers run; the default pool keeps a fresh install working without any set-up.
LOAD_POOL = os.environ.get("LYVE_AUDIT_LOAD_POOL", "default_pool")
INFLUX_ASSET = Asset(name="lyve_audit_influxdb", uri="influxdb://influxdb_default/lyve-audit")

DOC = """
### Lyve Cloud audit logs → InfluxDB

Each run takes the audit-log objects (S3 API, IAM, Console) whose **key timestamp** falls in its hour, plus late
objects of the look-back window that the load ledger does not show as loaded, and writes one point per entry to
InfluxDB (`audit-01`, `iam-01`, `console-01`). Reruns and backfills rewrite the same points: nothing doubles.

* Connections: `lyve_cloud` (aws), `influxdb_default` (lyve_influxdb, or influxdb: token and org in extra).
* Variables: `lyve_log_bucket`, `influxdb_bucket` (wins over the connection's bucket), optional `lyve_*` settings.
* History: `airflow backfill create --dag-id lyve_audit_logs --from-date … --to-date …`.
"""


def _interval() -> tuple[pendulum.DateTime, pendulum.DateTime, str, str]:
    context = get_current_context()
    start, end = context["data_interval_start"], context["data_interval_end"]
    return start, end, context["run_id"], start.strftime("%Y-%m-%dT%H")


@dag(
    dag_id="lyve_audit_logs",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=pendulum.parse(os.environ.get("LYVE_AUDIT_START_DATE", "2026-11-01T00:00:00Z")),
    catchup=True,
    max_active_runs=int(os.environ.get("LYVE_AUDIT_MAX_ACTIVE_RUNS", "4")),
    default_args={
        "retries": 3,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
    },
    doc_md=DOC,
    tags=["lyve-cloud", "audit-logs", "influxdb"],
)
def lyve_audit_logs() -> None:
    @task
    def plan_objects() -> list[list[dict[str, Any]]]:
        """List the interval's month folders and group its objects for parallel parsing."""
        from include import lyve_audit_airflow as glue
        from include.lyve_audit.pipeline import ledger_reader, plan_interval

        start, end, _, _ = _interval()
        ledger = ledger_reader(glue.influx_target())
        with glue.failing_fast():
            plan = plan_interval(glue.s3_lister(glue.log_bucket()), start, end, glue.settings(), ledger)
        get_current_context()["ti"].xcom_push(key="counts", value=plan["counts"])
        return plan["groups"]

    @task
    def parse_objects(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Stream each object, encode its entries, stage the line protocol; quarantine bad lines."""
        from include import lyve_audit_airflow as glue
        from include.lyve_audit.pipeline import parse_objects

        _, _, run_id, label = _interval()
        opener = glue.s3_opener(glue.log_bucket())
        with glue.failing_fast():
            return parse_objects(
                objects, opener, glue.stage_root(), glue.quarantine_root(label), run_id, glue.settings()
            )

    @task(outlets=[INFLUX_ASSET], pool=LOAD_POOL)
    def load_points(refs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Write the staged points, record each object in the ledger, delete what was staged."""
        from airflow.sdk import ObjectStoragePath

        from include import lyve_audit_airflow as glue
        from include.lyve_audit.pipeline import load_staged

        with glue.failing_fast():
            return load_staged(refs, glue.influx_target(), ObjectStoragePath)

    @task(trigger_rule=TriggerRule.NONE_FAILED)
    def report(parsed: list[Any], loaded: list[Any]) -> dict[str, Any]:
        """Log and return the run's counts per kind."""
        import logging

        from include.lyve_audit.pipeline import format_summary, summarize

        plan_counts = get_current_context()["ti"].xcom_pull(task_ids="plan_objects", key="counts")
        summary = summarize(plan_counts, list(parsed[:]), list(loaded[:]))  # one slice read, no probing past the end
        logging.getLogger(__name__).info("run counts:\n%s", format_summary(summary))
        return summary

    parsed = parse_objects.expand(objects=plan_objects())
    loaded = load_points.expand(refs=parsed)
    report(parsed, loaded)


lyve_audit_logs()
