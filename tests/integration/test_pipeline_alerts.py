"""The pipeline's own alert rules, fed by real `dag.test()` runs: each run records its outcome in
`lyve-pipeline-run`, and the provisioned rules, evaluated as Grafana would, fire on a run failed by bad lines and on
silence, and not on a successful empty hour."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from include.lyve_audit.demo import generate
from include.lyve_audit.outcome import RUN_MEASUREMENT
from tests.support.alert_eval import NO_DATA, run
from tests.support.deployment import Deployment
from tests.support.pipeline_env import run_interval

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RULES = {
    rule["uid"]: rule
    for group in yaml.safe_load((ROOT / "grafana" / "provisioning" / "alerting" / "lyve-alert-rules.yaml").read_text())[
        "groups"
    ]
    for rule in group["rules"]
}
HOUR = datetime(2026, 2, 3, 10, tzinfo=UTC)


def _runs(deployment: Deployment) -> list[dict[str, Any]]:
    return deployment.engine.rows(f'SELECT * FROM "{RUN_MEASUREMENT}"', deployment.database)


def test_bad_line_failure_fires_its_rule_and_silence_fires_stale(deployment: Deployment) -> None:
    # In the bucket from the start (so planning knows its key prefix), an object of the second hour: IAM entries
    # followed by 5 bad lines, far above the 1% share.
    objects = list(generate(HOUR + timedelta(hours=1), 1, seed=31))
    iam = next(generated for generated in objects if "/IAM-" in generated.key)
    lines = len(iam.entries) + 5
    body = b"".join(orjson.dumps(entry) + b"\n" for entry in iam.entries) + b"{cut off\n" * 5
    deployment.s3.put_object(Bucket=deployment.log_bucket, Key=iam.key, Body=gzip.compress(body))
    # Two keys that look like log objects but are not ones the pipeline loads: counted in the first run's record.
    for key in ("February-2026/Account-audit-2026-02-03-10-15-00.gz", "February-2026/S3-2026-02-03-10-20-00.gz"):
        deployment.s3.put_object(Bucket=deployment.log_bucket, Key=key, Body=gzip.compress(b"{}\n"))

    # A successful empty hour: recorded as a success, so stale ingest stays quiet, and no bad lines.
    empty = deployment.run(HOUR + timedelta(hours=1))
    assert empty.state == "success"
    (record,) = _runs(deployment)
    assert (record["state"], record["objects"], record["entries"], record["bad"]) == ("success", 0, 0, 0)
    assert record["unrecognised_keys"] == 2
    after_empty = datetime.now(UTC)
    stale = run(RULES["lyve-stale-ingest"], deployment.engine, deployment.database, [after_empty])
    assert stale.states == {(): "Normal"}
    assert stale.last is not None and stale.last.values["B"] == {(): 1.0}
    bad_share = run(RULES["lyve-bad-line-share"], deployment.engine, deployment.database, [after_empty])
    assert bad_share.alerting() == set()

    # The second hour's run fails on the bad lines.
    failed = run_interval(HOUR + timedelta(hours=2))
    assert failed.state == "failed", "a run failed by bad lines stays failed after its outcome is recorded"
    states = {ti.task_id: ti.state for ti in failed.get_task_instances()}
    assert states["parse_objects"] == "failed" and states["record_run"] == "failed"
    runs = {row["state"]: row for row in _runs(deployment)}
    assert (runs["failed"]["objects"], runs["failed"]["entries"], runs["failed"]["bad"]) == (1, lines, 5)
    assert runs["failed"]["failed_tasks"] == 3  # parse_objects failed, load_points and report upstream_failed
    assert runs["failed"]["interval_start"] == (HOUR + timedelta(hours=1)).isoformat()
    assert deployment.ledger_keys() == [], "the failed object never reached the ledger"

    now = datetime.now(UTC)
    bad_share = run(RULES["lyve-bad-line-share"], deployment.engine, deployment.database, [now])
    assert bad_share.alerting() == {()}
    assert bad_share.last is not None and bad_share.last.values["B"] == {(): pytest.approx(5 / lines)}
    # Still a successful run within the stale window: not stale.
    assert run(RULES["lyve-stale-ingest"], deployment.engine, deployment.database, [now]).alerting() == set()

    # The runs stop: once the stale window has passed with no successful run, the rule fires (no data → Alerting),
    # and the bad-line rule, whose hour has passed, resolves.
    later = now + timedelta(hours=3, minutes=1)
    stale = run(RULES["lyve-stale-ingest"], deployment.engine, deployment.database, [later])
    assert stale.states == {NO_DATA: "Alerting"}
    assert run(RULES["lyve-bad-line-share"], deployment.engine, deployment.database, [later]).alerting() == set()
