"""Glue for end-to-end tests: buckets, databases, Airflow connections/Variables, and real DAG runs."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3

from include.lyve_audit.demo import GeneratedObject

if TYPE_CHECKING:
    from airflow.models import DagRun

    from include.lyve_audit.contracts import RunSummary


def s3_client(moto_url: str, access_key: str, secret_key: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=moto_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
    )


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def upload(client: Any, bucket: str, objects: Iterable[GeneratedObject]) -> list[GeneratedObject]:
    uploaded = []
    for generated in objects:
        client.put_object(Bucket=bucket, Key=generated.key, Body=generated.body())
        uploaded.append(generated)
    return uploaded


def configure_airflow(
    env: dict[str, str],
    *,
    moto_url: str,
    access_key: str,
    secret_key: str,
    proxy_url: str,
    token: str,
    org: str,
    log_bucket: str,
    influx_bucket: str,
    stage: Path,
    extra_variables: dict[str, str] | None = None,
) -> None:
    """Connections and Variables as environment variables, the way a deployment's secrets provide them."""
    host, port = proxy_url.removeprefix("http://").split(":")
    env["AIRFLOW_CONN_LYVE_CLOUD"] = json.dumps(
        {
            "conn_type": "aws",
            "login": access_key,
            "password": secret_key,
            "extra": {"endpoint_url": moto_url, "region_name": "us-east-1"},
        }
    )
    env["AIRFLOW_CONN_INFLUXDB_DEFAULT"] = json.dumps(
        {
            "conn_type": "influxdb",
            "host": host,
            "port": int(port),
            "schema": "http",
            "extra": {"token": token, "org": org},
        }
    )
    env["AIRFLOW_VAR_LYVE_LOG_BUCKET"] = log_bucket
    env["AIRFLOW_VAR_INFLUXDB_BUCKET"] = influx_bucket
    env["AIRFLOW_VAR_LYVE_STAGE_PATH"] = f"file://{stage}"
    for name, value in (extra_variables or {}).items():
        env[f"AIRFLOW_VAR_{name.upper()}"] = value


def _dag() -> Any:
    """The DAG as Airflow parses it from the DAG folder (read again each time: settings read at parse time apply)."""
    from airflow.models import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert not bag.import_errors, bag.import_errors
    return bag.dags["lyve_audit_logs"]


def run_interval(interval_end: datetime, mark_success: str | None = None) -> DagRun:
    """Run the DAG for the hour ending at `interval_end` with `dag.test()`, as the scheduler's run of that hour (its
    data interval; late objects of the look-back taken); returns the finished DagRun.

    dag.test() replaces an earlier run of the same logical date by a new one with the same run id (so the same
    staging folder): running an hour again is what a cleared and rerun run does.
    """
    run: DagRun = _dag().test(logical_date=interval_end, mark_success_pattern=mark_success)
    return run


def run_manual(interval_start: datetime, logical_date: datetime | None = None) -> DagRun:
    """A manual run of the interval starting at `interval_start` (the `interval_start` param; a run id of its own).

    Without a logical date, dag.test() clears every task instance of the DAG and replaces any other run without one:
    a manual run alongside another run gets a `logical_date` of its own (its interval still comes from the param).
    """
    conf = {"interval_start": interval_start.isoformat()}
    run: DagRun = _dag().test(logical_date=logical_date, run_conf=conf)
    return run


def task_results(run: DagRun, task_id: str) -> list[Any]:
    """What a task of the run returned, one value per map index (a task that is not mapped: one value)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(XComModel)
            .filter(XComModel.run_id == run.run_id, XComModel.task_id == task_id, XComModel.key == "return_value")
            .order_by(XComModel.map_index)
        )
        return [XComModel.deserialize_value(row) for row in rows]


def report_of(run: DagRun) -> RunSummary:
    """What the run's report task returned (its counts per kind)."""
    [summary] = task_results(run, "report")
    return summary


@contextmanager
def airflow_variables(variables: Mapping[str, str] | None) -> Iterator[None]:
    """Airflow Variables set for the duration (as `AIRFLOW_VAR_*`, the way the suite provides them)."""
    saved = {name: os.environ.get(f"AIRFLOW_VAR_{name.upper()}") for name in variables or {}}
    os.environ.update({f"AIRFLOW_VAR_{name.upper()}": value for name, value in (variables or {}).items()})
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(f"AIRFLOW_VAR_{name.upper()}", None)
            else:
                os.environ[f"AIRFLOW_VAR_{name.upper()}"] = value
