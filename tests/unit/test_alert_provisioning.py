"""Every provisioned alerting file holds together the way Grafana's file provisioning reads it, the generated files
are what the Python source builds, and the evaluator's pure parts follow Grafana's documented semantics."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from include.lyve_audit.grafana_security import alert_provisioning, security_dashboard
from include.lyve_audit.security import (
    CONFIGURATION_CHANGES,
    CONFIGURATION_FAMILIES,
    DELETES,
    PROTECTION_CHANGES,
    THRESHOLDS,
    name_regex,
)
from tests.support.alert_eval import ERROR, NO_DATA, _compare, _reduce, format_interval, parse_duration, render, run

ROOT = Path(__file__).resolve().parents[2]
ALERTING = ROOT / "grafana" / "provisioning" / "alerting"
NOTIFICATIONS = ROOT / "grafana" / "notifications" / "lyve-notifications.yaml"
RULE_FILES = sorted(ALERTING.glob("*.yaml"))
DASHBOARDS = {
    (board := json.loads(path.read_text()))["uid"]: {panel["id"] for panel in board["panels"]}
    for path in (ROOT / "grafana" / "dashboards").glob("*.json")
}
DATASOURCES = {
    source["uid"]
    for path in (ROOT / "grafana" / "provisioning" / "datasources").glob("*.yaml")
    for source in yaml.safe_load(path.read_text())["datasources"]
}
NO_DATA_STATES = {"Alerting", "NoData", "OK", "KeepLast"}
EXEC_ERR_STATES = {"Alerting", "Error", "OK", "KeepLast"}
REDUCERS = {"last", "mean", "min", "max", "sum", "count"}
THRESHOLD_TYPES = {"gt", "lt", "within_range", "outside_range", "within_range_included", "outside_range_included"}


def rules() -> list[dict[str, Any]]:
    return [
        rule for path in RULE_FILES for group in yaml.safe_load(path.read_text())["groups"] for rule in group["rules"]
    ]


def test_committed_files_are_what_the_source_builds() -> None:
    """Edit include/lyve_audit/grafana_security.py, then `python -m include.lyve_audit grafana`."""
    committed = json.loads((ROOT / "grafana" / "dashboards" / "lyve-security.json").read_text())
    assert committed == security_dashboard()
    assert yaml.safe_load((ALERTING / "lyve-alert-rules.yaml").read_text()) == alert_provisioning({})


def test_rule_files_are_provisioning_v1_with_groups() -> None:
    assert [path.name for path in RULE_FILES] == ["lyve-alert-rules.yaml"]
    for path in RULE_FILES:
        document = yaml.safe_load(path.read_text())
        assert document["apiVersion"] == 1
        for group in document["groups"]:
            assert group["orgId"] == 1 and group["name"] and group["folder"]
            parse_duration(group["interval"])
            assert group["rules"]


def test_uids_unique_and_short() -> None:
    uids = [rule["uid"] for rule in rules()]
    assert len(uids) == len(set(uids)) >= 8
    assert all(len(uid) <= 40 and re.fullmatch(r"[a-zA-Z0-9_-]+", uid) for uid in uids)


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["uid"])
def test_rule_is_complete(rule: dict[str, Any]) -> None:
    refs = [item["refId"] for item in rule["data"]]
    assert len(refs) == len(set(refs))
    assert rule["condition"] in refs
    assert rule["noDataState"] in NO_DATA_STATES and rule["execErrState"] in EXEC_ERR_STATES
    parse_duration(rule["for"])
    for item in rule["data"]:
        model = item["model"]
        assert model["refId"] == item["refId"]
        span = item["relativeTimeRange"]
        assert span["from"] >= span["to"] >= 0
        if item["datasourceUid"] == "__expr__":
            assert model["expression"] in refs and model["expression"] != item["refId"]
            if model["type"] == "reduce":
                assert model["reducer"] in REDUCERS
                assert model["settings"]["mode"] in {"strict", "dropNN", "replaceNN"}
            else:
                assert model["type"] == "threshold"
                assert model["conditions"][0]["evaluator"]["type"] in THRESHOLD_TYPES
        else:
            assert item["datasourceUid"] in DATASOURCES
            assert span["from"] > 0
            # The alerting backend fills $timeFilter (not $__timeFilter) and the interval macros, nothing else.
            render(model["query"], 0, span["from"] * 1000, model)
    assert rule["panelId"] in DASHBOARDS[rule["dashboardUid"]], "the rule links a panel that exists"
    assert rule["annotations"]["panel"] == f"/d/{rule['dashboardUid']}/?viewPanel={rule['panelId']}"
    assert rule["annotations"]["summary"] and rule["labels"]["severity"] in {"warning", "critical"}
    # The summary names the account, bucket, IP or user: labels that the query's GROUP BY gives the series.
    query = next(item["model"]["query"] for item in rule["data"] if item["datasourceUid"] != "__expr__")
    for label in re.findall(r'index \$labels "([^"]+)"', rule["annotations"]["summary"]):
        assert f'"{label}"' in query.split("GROUP BY", 1)[-1], (rule["uid"], label)
    assert rule["labels"]["threshold"] in THRESHOLDS


def test_pipeline_rules_alert_on_silence_only_where_meant() -> None:
    by_uid = {rule["uid"]: rule for rule in rules()}
    assert by_uid["lyve-stale-ingest"]["noDataState"] == "Alerting"
    assert by_uid["lyve-stale-ingest"]["data"][0]["relativeTimeRange"]["from"] == 3 * 3600
    assert all(rule["noDataState"] == "OK" for uid, rule in by_uid.items() if uid != "lyve-stale-ingest")


def test_thresholds_are_overridable_by_environment() -> None:
    overridden = alert_provisioning({"LYVE_ALERT_DELETES_PER_10M": "250", "LYVE_ALERT_STALE_HOURS": "6"})
    by_uid = {rule["uid"]: rule for group in overridden["groups"] for rule in group["rules"]}
    assert by_uid["lyve-delete-burst"]["data"][2]["model"]["conditions"][0]["evaluator"]["params"] == [250]
    assert by_uid["lyve-stale-ingest"]["data"][0]["relativeTimeRange"]["from"] == 6 * 3600
    with pytest.raises(ValueError, match="LYVE_ALERT_P99_MS"):
        alert_provisioning({"LYVE_ALERT_P99_MS": "fast"})


def test_notification_policy_groups_by_rule_and_account() -> None:
    document = yaml.safe_load(NOTIFICATIONS.read_text())
    (point,) = document["contactPoints"]
    (receiver,) = point["receivers"]
    assert receiver["settings"]["url"] == "${LYVE_ALERT_WEBHOOK_URL}"
    (policy,) = document["policies"]
    assert policy["receiver"] == point["name"]
    assert policy["group_by"] == ["alertname", "serviceAccountName"]
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())["services"]["grafana"]
    assert compose["environment"]["LYVE_ALERT_WEBHOOK_URL"] == "${LYVE_ALERT_WEBHOOK_URL:-}"
    assert "./grafana/notifications:/etc/lyve/notifications:ro" in compose["volumes"]
    script = (ROOT / "grafana" / "start.sh").read_text()
    assert 'if [ -n "${LYVE_ALERT_WEBHOOK_URL:-}" ]' in script and "exec /run.sh" in script


def test_api_name_families_cover_both_spellings() -> None:
    assert {"DeleteObject", "DeleteObjects", "DeleteMultipleObjects", "DeleteBucket", "DeleteBucketPolicy"} <= set(
        DELETES
    )
    assert set(CONFIGURATION_FAMILIES) == {
        "policy",
        "lifecycle",
        "versioning",
        "encryption",
        "object lock",
        "acl",
        "tagging",
        "notification",
        "replication",
    }
    assert {"PutObjectLockConfiguration", "PutBucketObjectLockConfig", "PutObjectLegalHold"} <= set(PROTECTION_CHANGES)
    assert set(PROTECTION_CHANGES) <= set(CONFIGURATION_CHANGES)
    assert name_regex(["B", "A.b"]) == r"/^(A\.b|B)$/"


@pytest.mark.parametrize(
    ("values", "reducer", "mode", "expected"),
    [
        pytest.param([1.0, None, 3.0], "last", "dropNN", 3.0, id="last-drop"),
        pytest.param([1.0, None, 3.0], "max", "strict", math.nan, id="strict-null-is-nan"),
        pytest.param([1.0, None, 3.0], "mean", "replaceNN", 4 / 3, id="replace-with-zero"),
        pytest.param([], "sum", "dropNN", 0.0, id="empty-sum-zero"),
        pytest.param([], "last", "dropNN", math.nan, id="empty-last-nan"),
        pytest.param([None, None], "count", "dropNN", 0.0, id="count-after-drop"),
    ],
)
def test_reducers(values: list[float | None], reducer: str, mode: str, expected: float) -> None:
    got = _reduce(values, reducer, {"mode": mode, "replaceWithValue": 0})
    assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected)


def test_thresholds_and_formats() -> None:
    assert _compare(5, "gt", [4]) and not _compare(4, "gt", [4]) and _compare(3, "lt", [4])
    assert _compare(5, "within_range", [4, 6]) and not _compare(4, "within_range", [4, 6])
    assert _compare(4, "within_range_included", [4, 6]) and _compare(7, "outside_range", [4, 6])
    assert not _compare(math.nan, "gt", [0])
    assert [format_interval(ms) for ms in (500, 60_000, 600_000, 7_200_000, 86_400_000)] == [
        "500ms",
        "1m",
        "10m",
        "2h",
        "1d",
    ]
    assert parse_duration("1h30m") == parse_duration("90m")
    assert render("SELECT 1 WHERE $timeFilter GROUP BY time($__interval)", 0, 600_000, {}) == (
        "SELECT 1 WHERE time >= 0ms and time <= 600000ms GROUP BY time(1m)"
    )
    with pytest.raises(ValueError, match="macro"):
        render("SELECT 1 WHERE $__timeFilter", 0, 1, {})


class _Engine:
    """An engine stand-in answering every query with `series`, or failing like an InfluxQL error."""

    def __init__(self, series: list[dict[str, Any]] | None) -> None:
        self.series = series

    def query(self, influxql: str, database: str) -> list[dict[str, Any]]:
        if self.series is None:
            raise RuntimeError("InfluxQL error: database not found")
        return self.series


@pytest.mark.parametrize(
    ("series", "no_data", "exec_err", "expected"),
    [
        pytest.param([], "Alerting", "Error", {NO_DATA: "Alerting"}, id="no-data-alerts"),
        pytest.param([], "OK", "Error", {NO_DATA: "Normal"}, id="no-data-ok"),
        pytest.param(None, "OK", "Error", {ERROR: "Error"}, id="query-error"),
        pytest.param(None, "OK", "Alerting", {ERROR: "Alerting"}, id="query-error-alerts"),
        pytest.param(
            [{"tags": {"a": "x"}, "columns": ["time", "count"], "values": [[0, 3], [1, None], [2, 7]]}],
            "OK",
            "Error",
            {(("a", "x"),): "Pending"},
            id="for-holds-pending",
        ),
    ],
)
def test_states_follow_no_data_exec_error_and_for(
    series: list[dict[str, Any]] | None, no_data: str, exec_err: str, expected: dict[Any, str]
) -> None:
    rule = {
        "uid": "x",
        "condition": "C",
        "for": "5m",
        "noDataState": no_data,
        "execErrState": exec_err,
        "data": [
            {
                "refId": "A",
                "datasourceUid": "lyve-influxdb",
                "relativeTimeRange": {"from": 600, "to": 0},
                "model": {"query": "SELECT count(v) FROM m WHERE $timeFilter GROUP BY a"},
            },
            {
                "refId": "B",
                "datasourceUid": "__expr__",
                "model": {"type": "reduce", "expression": "A", "reducer": "max", "settings": {"mode": "dropNN"}},
            },
            {
                "refId": "C",
                "datasourceUid": "__expr__",
                "model": {
                    "type": "threshold",
                    "expression": "B",
                    "conditions": [{"evaluator": {"type": "gt", "params": [5]}}],
                },
            },
        ],
    }
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert run(rule, _Engine(series), "db", [now]).states == expected  # type: ignore[arg-type]
    if series:  # held for five minutes of evaluations, the firing series becomes Alerting
        later = run(rule, _Engine(series), "db", [now + timedelta(minutes=m) for m in range(6)])  # type: ignore[arg-type]
        assert later.states == {(("a", "x"),): "Alerting"} and later.last is not None
        assert later.last.values["B"] == {(("a", "x"),): 7.0}
