"""Glue for end-to-end tests: buckets, databases, Airflow connections/Variables, and real DAG runs."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3

from include.lyve_audit.demo import GeneratedObject


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


def run_interval(interval_end: datetime) -> Any:
    """Run the DAG for the hour ending at `interval_end` with `dag.test()`; returns the finished DagRun."""
    from airflow.models import DagBag

    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    assert not bag.import_errors, bag.import_errors
    dag = bag.dags["lyve_audit_logs"]
    return dag.test(logical_date=interval_end)
