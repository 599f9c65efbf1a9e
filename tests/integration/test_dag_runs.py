"""End to end: real `dag.test()` runs against a moto S3 server and the InfluxDB engine, counts read back exactly."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from include.lyve_audit.demo import generate
from include.lyve_audit.keys import CONSOLE, IAM, S3, parse_log_key
from tests.conftest import INFLUX_TOKEN, S3_SECRET_KEY
from tests.support.deployment import Deployment, entries_by_kind
from tests.support.pipeline_env import report_of, run_interval, unique_name, upload
from tests.support.s3_reference import read_entry

pytestmark = pytest.mark.integration

FIRST_HOUR = datetime(2026, 1, 31, 22, tzinfo=UTC)  # three hours that cross into February's folder
HOURS = 3


def hour_ends() -> list[datetime]:
    return [FIRST_HOUR + timedelta(hours=offset + 1) for offset in range(HOURS)]


def test_hours_load_exactly_and_rerun_changes_nothing(deployment: Deployment) -> None:
    objects = upload(deployment.s3, deployment.log_bucket, generate(FIRST_HOUR, HOURS, seed=11))
    deployment.s3.put_object(Bucket=deployment.log_bucket, Key="January-2026/README.txt", Body=b"not a log")
    expected = entries_by_kind(objects)
    assert expected[S3] == 3 * 9 * 40 and expected[IAM] > 0 and expected[CONSOLE] > 0

    for end in hour_ends():
        deployment.run(end)
    assert deployment.counts() == expected
    assert deployment.ledger_keys() == sorted(generated.key for generated in objects)
    assert not list(deployment.stage.rglob("*.lpb")), "staged files must be removed after a successful load"

    latency_before = deployment.engine.query(
        'SELECT SUM("auditEntry.api.timeToResponse"), COUNT("auditEntry.api.timeToFirstByte") FROM "audit-01"',
        deployment.database,
    )
    for end in hour_ends():
        deployment.run(end)
    assert deployment.counts() == expected
    assert deployment.ledger_keys() == sorted(generated.key for generated in objects)
    latency_after = deployment.engine.query(
        'SELECT SUM("auditEntry.api.timeToResponse"), COUNT("auditEntry.api.timeToFirstByte") FROM "audit-01"',
        deployment.database,
    )
    assert latency_after == latency_before
    expected_sum = sum(
        read_entry(entry)[1]["auditEntry.api.timeToResponse"]
        for generated in objects
        if parse_log_key(generated.key).kind == S3  # type: ignore[union-attr]
        for entry in generated.entries
    )
    assert latency_after[0]["values"][0][1] == expected_sum


def test_values_read_back_match_the_entry(deployment: Deployment) -> None:
    objects = upload(deployment.s3, deployment.log_bucket, generate(FIRST_HOUR, 1, seed=5))
    deployment.run(FIRST_HOUR + timedelta(hours=1))
    s3_entries = [entry for generated in objects if "/S3-" in generated.key for entry in generated.entries]
    shapes = {
        "bare MinIO": next(entry for entry in s3_entries if "auditEntry" not in entry),
        "MinIO in Lyve's wrapper": next(entry for entry in s3_entries if "accessKey" in entry.get("auditEntry", {})),
        "documented Lyve": next(
            entry for entry in s3_entries if "rx" not in entry.get("auditEntry", {"api": {}})["api"]
        ),
    }
    for shape, entry in shapes.items():
        tags, fields, time_ns = read_entry(entry)
        rows = deployment.engine.rows(
            f'SELECT * FROM "audit-01" WHERE "auditEntry.requestID" = \'{fields["auditEntry.requestID"]}\'',
            deployment.database,
        )
        assert len(rows) == 1, shape
        row = rows[0]
        assert row["time"] == time_ns, shape
        assert orjson.loads(row["message"]) == entry, shape
        written = {name: value for name, value in row.items() if value is not None and value != ""}
        assert written == {
            **tags,
            **fields,
            "entry_bytes": row["entry_bytes"],
            "message": row["message"],
            "time": time_ns,
        }
    bare = read_entry(shapes["bare MinIO"])[0]
    assert bare["serviceAccountName"] == shapes["bare MinIO"]["accessKey"]


def test_late_object_is_loaded_once_by_the_next_run(deployment: Deployment) -> None:
    objects = list(generate(FIRST_HOUR, HOURS, seed=12))
    late = next(generated for generated in objects if generated.key.endswith("22-39-59.gz"))
    on_time = [generated for generated in objects if generated is not late]
    upload(deployment.s3, deployment.log_bucket, on_time)
    for end in hour_ends():
        deployment.run(end)
    assert deployment.counts() == entries_by_kind(on_time)

    upload(deployment.s3, deployment.log_bucket, [late])  # appears after its hour's run has finished
    next_end = hour_ends()[-1] + timedelta(hours=1)
    deployment.run(next_end)
    assert deployment.counts() == entries_by_kind(objects)
    assert deployment.ledger_keys().count(late.key) == 1

    deployment.run(next_end + timedelta(hours=1))  # and the run after that does not take it again
    assert deployment.counts() == entries_by_kind(objects)
    ledger = deployment.engine.rows('SELECT "object", "entries" FROM "lyve-pipeline"', deployment.database)
    assert [row["entries"] for row in ledger if row["object"] == late.key] == [len(late.entries)]


def test_colliding_entries_are_all_kept_and_duplicates_are_one(deployment: Deployment) -> None:
    base = {
        "serviceAccountName": "svc",
        "auditEntry": {
            "time": "2026-01-31T22:10:00.000000007Z",
            "api": {"name": "PutObject", "bucket": "media-assets", "statusCode": 200, "timeToResponse": "5ns"},
            "requestHeader": {"X-Real-Ip": "10.0.0.1:1000"},
        },
    }
    distinct = []
    for index in range(4):
        entry = orjson.loads(orjson.dumps(base))
        entry["auditEntry"]["requestID"] = f"REQ{index}"
        entry["auditEntry"]["requestHeader"]["X-Real-Ip"] = f"10.0.0.1:{1000 + index}"  # same tag after the port
        distinct.append(entry)
    lines = [orjson.dumps(entry) for entry in distinct] + [orjson.dumps(distinct[0])]  # one exact repeat
    body = gzip.compress(b"\n".join(lines) + b"\n")
    key = "January-2026/S3-media-assets-2026-01-31-22-19-59.gz"
    deployment.s3.put_object(Bucket=deployment.log_bucket, Key=key, Body=body)
    deployment.run(FIRST_HOUR + timedelta(hours=1))
    deployment.run(FIRST_HOUR + timedelta(hours=1))
    rows = deployment.engine.rows('SELECT "auditEntry.requestID" FROM "audit-01"', deployment.database)
    assert sorted(row["auditEntry.requestID"] for row in rows) == ["REQ0", "REQ1", "REQ2", "REQ3"]
    assert sorted(row["time"] % 1000 for row in rows) == [7, 8, 9, 10]


def test_bad_lines_are_quarantined_and_the_rest_loaded(deployment: Deployment) -> None:
    objects = list(generate(FIRST_HOUR, 1, seed=13, s3_entries=200))
    target = next(generated for generated in objects if "/S3-" in generated.key)
    good = b"".join(orjson.dumps(entry) + b"\n" for entry in target.entries)
    body = gzip.compress(good + b"{broken json\n")  # 1 bad line of 201: under the 1% threshold
    upload(deployment.s3, deployment.log_bucket, [generated for generated in objects if generated is not target])
    deployment.s3.put_object(Bucket=deployment.log_bucket, Key=target.key, Body=body)
    deployment.run(FIRST_HOUR + timedelta(hours=1))
    assert deployment.counts() == entries_by_kind(objects)
    quarantined = deployment.quarantined()
    assert len(quarantined) == 1
    assert quarantined[0]["object_key"] == target.key
    assert quarantined[0]["line"] == 201
    assert quarantined[0]["reason"].startswith("not JSON")
    ledger = deployment.engine.rows('SELECT "object", "bad" FROM "lyve-pipeline"', deployment.database)
    assert [row["bad"] for row in ledger if row["object"] == target.key] == [1]


def test_too_many_bad_lines_fail_the_run_naming_the_object(deployment: Deployment) -> None:
    key = "January-2026/IAM-2026-01-31-22-59-30.gz"
    deployment.s3.put_object(Bucket=deployment.log_bucket, Key=key, Body=b"this is not gzip")
    run = run_interval(FIRST_HOUR + timedelta(hours=1))
    assert run.state == "failed"
    parse_ti = next(ti for ti in run.get_task_instances() if ti.task_id == "parse_objects")
    assert parse_ti.state == "failed"
    assert parse_ti.try_number == 1, "a bad object must not burn retries"


def test_staging_on_s3_for_workers_on_other_machines(deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> None:
    stage_bucket = unique_name("stage")
    deployment.s3.create_bucket(Bucket=stage_bucket)
    monkeypatch.setenv("AIRFLOW_VAR_LYVE_STAGE_PATH", f"s3://lyve_cloud@{stage_bucket}/staged")
    objects = upload(deployment.s3, deployment.log_bucket, generate(FIRST_HOUR, 1, seed=21))
    deployment.run(FIRST_HOUR + timedelta(hours=1))
    assert deployment.counts() == entries_by_kind(objects)
    left = deployment.s3.list_objects_v2(Bucket=stage_bucket).get("Contents", [])
    assert [item["Key"] for item in left if item["Key"].endswith(".lpb")] == []


def test_secrets_reach_no_log_xcom_or_staged_byte(deployment: Deployment, capfd: pytest.CaptureFixture[str]) -> None:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    objects = upload(deployment.s3, deployment.log_bucket, generate(FIRST_HOUR, 1, seed=22))
    body = gzip.compress(b"{not json\n" + b"".join(orjson.dumps(entry) + b"\n" for entry in objects[0].entries) * 100)
    deployment.s3.put_object(Bucket=deployment.log_bucket, Key=objects[0].key, Body=body)  # leaves a quarantine file
    run = deployment.run(FIRST_HOUR + timedelta(hours=1))
    output = capfd.readouterr()
    with create_session() as session:
        values = [str(row.value) for row in session.query(XComModel).filter(XComModel.run_id == run.run_id)]
    assert any("points" in value for value in values)
    files = [path.read_bytes() for path in Path(os.environ["AIRFLOW_HOME"]).rglob("*") if path.is_file()]
    files += [path.read_bytes() for path in deployment.stage.parent.rglob("*") if path.is_file()]
    assert any(b"not JSON" in data for data in files), "the quarantine file is among the searched files"
    for secret in (INFLUX_TOKEN, S3_SECRET_KEY):
        assert secret not in output.out and secret not in output.err
        assert not any(secret in value for value in values)
        assert not any(secret.encode() in data for data in files)


def test_quarter_hours_across_an_hour_and_a_month_boundary_do_each_object_once(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch
) -> None:
    """15-minute intervals 23:15 → 00:30 across 31 January / 1 February: own objects by key time, one object arriving
    after its interval was planned is loaded once by the next run, and the points written equal the entries."""
    monkeypatch.setenv("LYVE_AUDIT_INTERVAL_MINUTES", "15")
    first = datetime(2026, 1, 31, 23, 15, tzinfo=UTC)
    ends = [first + timedelta(minutes=15 * (index + 1)) for index in range(5)]
    generated = [
        item
        for item in generate(datetime(2026, 1, 31, 23, tzinfo=UTC), 2, seed=15, s3_entries=5)
        if first <= parse_log_key(item.key).timestamp < ends[-1]  # type: ignore[union-attr]
    ]
    late = next(item for item in generated if item.key.endswith("S3-media-assets-2026-01-31-23-39-59.gz"))
    upload(deployment.s3, deployment.log_bucket, [item for item in generated if item is not late])

    runs = []
    for end in ends:
        if end == datetime(2026, 2, 1, 0, 0, tzinfo=UTC):  # after the 23:30–23:45 interval was planned
            upload(deployment.s3, deployment.log_bucket, [late])
        runs.append(deployment.run(end))
    assert deployment.counts() == entries_by_kind(generated)
    assert deployment.ledger_keys() == sorted(item.key for item in generated)

    summaries = [report_of(run) for run in runs]
    written = sum(row["points_written"] for summary in summaries for row in summary["by_kind"].values())
    assert written == sum(entries_by_kind(generated).values())  # amplification 1.00
    assert [summary["objects_late"] for summary in summaries] == [0, 0, 1, 0, 0]
    assert summaries[2]["by_kind"][S3]["objects_late"] == 1
