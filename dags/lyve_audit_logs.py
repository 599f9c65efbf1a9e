"""Lyve Cloud audit logs → InfluxDB, one interval (hourly by default) per run. Wiring only: the logic is in
include/lyve_audit."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, Param, TriggerRule, dag, get_current_context, task

from include.lyve_audit import schedule

if TYPE_CHECKING:  # the XCom shapes, for the task signatures only
    from include.lyve_audit.contracts import LoadedObject, ObjectRef, ParsedObject, PlanCounts, RunResult, RunSummary

# A dedicated pool (e.g. `airflow pools set influxdb_writes 4 "InfluxDB writers"`) caps concurrent writes to
# InfluxDB however many workers run; the default pool keeps a fresh install working without any set-up.
LOAD_POOL = os.environ.get("LYVE_AUDIT_LOAD_POOL", "default_pool")
INFLUX_ASSET = Asset(name="lyve_audit_influxdb", uri="influxdb://influxdb_default/lyve-audit")
INTERVAL_MINUTES = schedule.interval_minutes(os.environ)
START_DATE = schedule.start_date(os.environ)

DOC = """
### Lyve Cloud audit logs → InfluxDB

Each run takes the audit-log objects (S3 API, IAM, Console) whose **key timestamp** falls in its interval, plus late
objects of the look-back window that the load ledger does not show as loaded, and writes one point per entry to
InfluxDB (`audit-01`, `iam-01`, `console-01`). Reruns and backfills rewrite the same points: nothing doubles.

* Connections: `lyve_cloud` (aws), `influxdb_default` (lyve_influxdb, or influxdb: token and org in extra).
* Variables: `lyve_log_bucket`, `influxdb_bucket` (wins over the connection's bucket), optional `lyve_*` settings.
* History: `airflow backfill create --dag-id lyve_audit_logs --from-date … --to-date …` (dates = interval starts).
* One interval by hand: trigger with `interval_start` (e.g. `2026-12-01T15:00:00Z`) and no logical date; such a run
  never takes a date the scheduler needs.
"""


def _interval() -> tuple[datetime, datetime, str]:
    """The run's interval: the one asked for by a manual run's `interval_start`, else the run's data interval."""
    from include.lyve_audit.errors import SettingError

    context = get_current_context()
    requested = context["params"].get("interval_start")
    if requested:
        return (*schedule.manual_interval(str(requested), INTERVAL_MINUTES), context["run_id"])
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    if start is None or end is None:
        raise SettingError("a run without a logical date needs the interval_start param")
    return start, end, context["run_id"]


@dag(
    dag_id="lyve_audit_logs",
    schedule=CronDataIntervalTimetable(schedule.cron(INTERVAL_MINUTES), timezone="UTC"),
    start_date=pendulum.instance(START_DATE),
    catchup=True,
    max_active_runs=int(os.environ.get("LYVE_AUDIT_MAX_ACTIVE_RUNS", "4")),
    default_args={
        "retries": 3,
        "retry_delay": timedelta(seconds=float(os.environ.get("LYVE_AUDIT_RETRY_DELAY_SECONDS", "60"))),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
    },
    params={
        "interval_start": Param(
            None,
            type=["null", "string"],
            description="Manual runs only: start of the interval to load (UTC, e.g. 2026-12-01T15:00:00Z).",
        ),
        "discover_prefixes": Param(
            False, type="boolean", description="List the month folders whole to find new logged buckets now."
        ),
    },
    doc_md=DOC,
    tags=["lyve-cloud", "audit-logs", "influxdb"],
)
def lyve_audit_logs() -> None:
    @task
    def plan_objects() -> list[list[ObjectRef]]:
        """List the interval's objects (and late ones), record what this run claims, group them by bytes.

        Returns the groups, which parse_objects is mapped over (Airflow maps only over a return value); the counts go
        to report and record_run under the XCom key `counts`.
        """
        from include import lyve_audit_airflow as glue
        from include.lyve_audit.pipeline import plan_interval

        start, end, run_id = _interval()
        settings, params = glue.settings(), get_current_context()["params"]
        if params.get("interval_start"):
            settings = replace(settings, lookback=timedelta(0))  # by hand: this interval's objects, no late ones
        if params.get("discover_prefixes"):
            settings = replace(settings, prefix_discovery=timedelta(0))  # list the month folders whole
        bucket = glue.log_bucket()
        with glue.failing_fast():
            ledger, ranges = glue.plan_ledger(), glue.range_listing(bucket)
            plan = plan_interval(glue.s3_lister(bucket), start, end, settings, ledger, run_id, ranges)
        get_current_context()["ti"].xcom_push(key="counts", value=plan["counts"])
        return plan["groups"]

    @task
    def parse_objects(objects: list[ObjectRef]) -> list[ParsedObject]:
        """Stream each object, encode its entries, stage the line protocol; quarantine bad lines."""
        from include import lyve_audit_airflow as glue
        from include.lyve_audit.errors import TooManyBadLines
        from include.lyve_audit.outcome import parse_outcome
        from include.lyve_audit.pipeline import parse_objects
        from include.lyve_audit.stage import quarantine_folder

        start, _, run_id = _interval()
        opener = glue.s3_opener(glue.log_bucket())
        quarantine = quarantine_folder(glue.quarantine_root(), start, INTERVAL_MINUTES)
        ti = get_current_context()["ti"]
        with glue.failing_fast():
            try:
                refs = parse_objects(objects, opener, glue.stage_root(), quarantine, run_id, glue.settings())
            except TooManyBadLines as error:  # the run's outcome record still counts these lines
                ti.xcom_push(key="outcome", value=parse_outcome(error.refs))
                raise
        ti.xcom_push(key="outcome", value=parse_outcome(refs))
        return refs

    @task(outlets=[INFLUX_ASSET], pool=LOAD_POOL)
    def load_points(refs: list[ParsedObject]) -> list[LoadedObject]:
        """Write the staged points, record each object in the ledger, delete what was staged."""
        from airflow.sdk import ObjectStoragePath

        from include import lyve_audit_airflow as glue
        from include.lyve_audit.pipeline import load_staged

        with glue.failing_fast():
            return load_staged(refs, glue.influx_target(), ObjectStoragePath)

    # multiple_outputs=False: a task returning a (Typed)dict would also push each key as an XCom of its own
    @task(trigger_rule=TriggerRule.NONE_FAILED, multiple_outputs=False)
    def report(
        plan_counts: PlanCounts, parsed: Sequence[list[ParsedObject]], loaded: Sequence[list[LoadedObject]]
    ) -> RunSummary:
        """Log and return the run's counts per kind; remove what is left of the run's staging folder."""
        import logging

        from include import lyve_audit_airflow as glue
        from include.lyve_audit.pipeline import format_summary, summarize
        from include.lyve_audit.stage import remove_run_stage

        summary = summarize(plan_counts, parsed[:], loaded[:])  # one slice read, no probing past the end
        logging.getLogger(__name__).info("run counts:\n%s", format_summary(summary))
        remove_run_stage(glue.stage_root(), get_current_context()["run_id"])
        return summary

    @task(trigger_rule=TriggerRule.ALL_DONE, multiple_outputs=False)
    def record_run() -> RunResult:
        """Write the run's outcome (`lyve-pipeline-run`) whatever happened, then fail if any task failed.

        This task is the DAG's leaf, and a leaf's state is the run's: after recording, a failed run must fail here.
        It pulls the plan counts and parse outcomes itself rather than taking them as arguments: it runs when those
        tasks failed too, and an argument whose XCom is absent fails to resolve (the parse outcome of a task that
        failed on bad lines is pushed under its own key for this reason).
        """
        from airflow.sdk.exceptions import AirflowFailException

        from include import lyve_audit_airflow as glue
        from include.lyve_audit.outcome import run_record, unrecognised_count, write_run_record

        start, end, run_id = _interval()
        ti = get_current_context()["ti"]
        states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[run_id]).get(run_id, {})
        others = {task: state for task, state in states.items() if task != ti.task_id}
        outcomes = ti.xcom_pull(task_ids="parse_objects", key="outcome")
        outcomes = outcomes if isinstance(outcomes, list) else [outcomes]  # one mapped task gives a single value
        unrecognised = unrecognised_count(ti.xcom_pull(task_ids="plan_objects", key="counts"))
        record = run_record((start, end), pendulum.now("UTC"), others, outcomes, unrecognised)
        with glue.failing_fast():
            write_run_record(glue.influx_target(), record)
        if record.failed_tasks:
            failed = sorted(task for task, state in others.items() if state in ("failed", "upstream_failed"))
            raise AirflowFailException(f"run recorded as failed; failed tasks: {', '.join(failed)}")
        return {"state": record.state, "objects": record.objects, "entries": record.entries, "bad": record.bad}

    plan = plan_objects()  # its return value: the groups; plan["counts"]: its XCom of key `counts`
    parsed = parse_objects.expand(objects=plan)
    loaded = load_points.expand(refs=parsed)
    # TaskFlow's typing sees a task's call as returning the XComArg base class (keys are its subclass's) and takes a
    # task's parameters as the values they resolve to at run time; here they are still XComArgs.
    report(plan["counts"], parsed, loaded) >> record_run()  # type: ignore[index, arg-type]


lyve_audit_logs()
