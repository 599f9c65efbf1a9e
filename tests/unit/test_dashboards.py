"""The provisioned dashboards hold together: stable uids, known datasource, units, and only defined variables.

Grafana accepts a broken dashboard silently (a panel shows "No data" or a raw number), so these checks stand in
for the review a person would do by opening each panel.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
DATASOURCES = ROOT / "grafana" / "provisioning" / "datasources" / "influxdb.yaml"
PROVIDERS = ROOT / "grafana" / "provisioning" / "dashboards" / "lyve.yaml"
EXPRESSION_UID = "__expr__"
# Grafana's own macros and alias patterns, which are not template variables.
BUILTINS = {"timeFilter", "interval", "col", "m", "measurement"}
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)(?::\w+)?\]\]")


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def datasource_uids() -> set[str]:
    provisioning = yaml.safe_load(DATASOURCES.read_text())
    return {source["uid"] for source in provisioning["datasources"]}


def referenced_variables(text: str) -> set[str]:
    names = {next(group for group in match.groups() if group) for match in VARIABLE.finditer(text)}
    return {name for name in names if name not in BUILTINS and not name.startswith(("__", "tag_"))}


def influx_targets(board: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        (panel, target)
        for panel in board["panels"]
        for target in panel.get("targets", [])
        if target["datasource"]["uid"] != EXPRESSION_UID
    ]


@pytest.fixture(params=DASHBOARDS, ids=lambda path: path.stem)
def board(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load(request.param)


def test_four_dashboards_with_unique_stable_uids() -> None:
    uids = [load(path)["uid"] for path in DASHBOARDS]
    assert sorted(uids) == ["lyve-iam-console", "lyve-pipeline", "lyve-s3-api", "lyve-security"]
    assert [path.stem for path in DASHBOARDS] == sorted(uids)  # file named after its uid, so links stay findable


def test_panel_ids_unique_and_laid_out(board: dict[str, Any]) -> None:
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert panel["title"] and panel["description"], panel["id"]
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24


def test_defaults_time_range_and_utc(board: dict[str, Any]) -> None:
    assert board["time"] == {"from": "now-7d", "to": "now"}
    assert board["timezone"] == "utc"  # per-day panels group by UTC day


def test_every_datasource_is_the_provisioned_one(board: dict[str, Any]) -> None:
    known = datasource_uids()
    assert known == {"lyve-influxdb"}
    for panel in board["panels"]:
        assert panel["datasource"]["uid"] in known
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] in known | {EXPRESSION_UID}, (panel["title"], target["refId"])
    for variable in board["templating"]["list"]:
        assert variable["datasource"]["uid"] in known


def test_targets_are_raw_influxql_on_known_measurements(board: dict[str, Any]) -> None:
    measurements = {'"audit-01"', '"console-01"', '"iam-01"', '"lyve-pipeline"', '"lyve-pipeline-run"'}
    for panel, target in influx_targets(board):
        assert target["rawQuery"] is True
        query = target["query"]
        # The range comes from $timeFilter, or from Grafana's ${__from}/${__to} where a query must reach before it.
        bounded = "$timeFilter" in query or ("${__from}ms" in query and "${__to}ms" in query)
        assert query.startswith("SELECT ") and bounded, panel["title"]
        assert any(f"FROM {name}" in query for name in measurements), panel["title"]
        assert "|>" not in query  # no Flux: InfluxQL runs on 1.8, 2.x (DBRP) and 3.x alike


def test_expressions_only_combine_targets_of_their_panel(board: dict[str, Any]) -> None:
    for panel in board["panels"]:
        refs = {target["refId"] for target in panel.get("targets", [])}
        for target in panel.get("targets", []):
            if target["datasource"]["uid"] == EXPRESSION_UID:
                used = set(re.findall(r"\$(\w+)", target["expression"]))
                assert used and used <= refs - {target["refId"]}, panel["title"]
                hidden = {t["refId"] for t in panel["targets"] if t.get("hide")}
                assert used <= hidden, "inputs of an expression are hidden, only the result is drawn"


def _units(panel: dict[str, Any]) -> set[str]:
    units = {panel["fieldConfig"]["defaults"].get("unit", "")}
    for override in panel["fieldConfig"].get("overrides", []):
        units |= {prop["value"] for prop in override["properties"] if prop["id"] == "unit"}
    return units - {""}


def test_units_on_latency_bytes_lag_and_rates(board: dict[str, Any]) -> None:
    for panel in board["panels"]:
        queries = " ".join(target.get("query", "") for target in panel.get("targets", []))
        units = _units(panel)
        assert units, f"{panel['title']}: no unit"
        if "timeToResponse" in queries or "timeToFirstByte" in queries:
            assert panel["fieldConfig"]["defaults"]["unit"] == "ms", panel["title"]
            assert "/ 1000000" in queries, f"{panel['title']}: latency is stored in ns, the panel shows ms"
        if re.search(r'"auditEntry\.api\.(rx|tx)"|"object_bytes"', queries):
            assert "bytes" in units, panel["title"]
        if "lag_seconds" in queries:
            assert panel["fieldConfig"]["defaults"]["unit"] == "s", panel["title"]
        if any(target["datasource"]["uid"] == EXPRESSION_UID for target in panel.get("targets", [])):
            assert panel["fieldConfig"]["defaults"]["unit"] == "percent", panel["title"]


def test_no_undefined_template_variable(board: dict[str, Any]) -> None:
    defined = {variable["name"] for variable in board["templating"]["list"]}
    for panel, target in influx_targets(board):
        used = referenced_variables(target["query"]) | referenced_variables(target.get("alias", ""))
        assert used <= defined, f"{panel['title']}: {used - defined} not defined"
    for variable in board["templating"]["list"]:
        assert referenced_variables(variable["query"]) <= defined - {variable["name"]}


def test_s3_dashboard_has_bucket_and_api_variables() -> None:
    board = load(ROOT / "grafana" / "dashboards" / "lyve-s3-api.json")
    variables = {variable["name"]: variable for variable in board["templating"]["list"]}
    assert set(variables) == {"bucket", "api"}
    for variable in variables.values():
        assert variable["query"].startswith('SHOW TAG VALUES FROM "audit-01"')
        assert variable["multi"] and variable["includeAll"] and variable["allValue"] == ".*"
    # Every S3 panel follows the selection (the CompleteMultipartUpload panel fixes its API on purpose).
    for panel, target in influx_targets(board):
        assert "=~ /^$bucket$/" in target["query"], panel["title"]
        if "CompleteMultipartUpload" not in panel["title"]:
            assert "=~ /^$api$/" in target["query"], panel["title"]


def test_seed_panels_present() -> None:
    titles = {panel["title"] for panel in load(ROOT / "grafana" / "dashboards" / "lyve-s3-api.json")["panels"]}
    assert {
        "Average response time by API per day",
        "CompleteMultipartUpload time to response by bucket",
        "Error count by bucket per day",
        "API calls by bucket per day",
        "Total API calls by bucket",
        "Max API response time",
    } <= titles


def test_datasource_provisioning_reads_secrets_from_the_environment() -> None:
    text = DATASOURCES.read_text()
    (source,) = yaml.safe_load(text)["datasources"]
    assert source["type"] == "influxdb" and source["jsonData"]["version"] == "InfluxQL"
    assert source["jsonData"]["dbName"] == "${INFLUXDB_BUCKET}"
    assert source["jsonData"]["httpHeaderName1"] == "Authorization"
    assert source["secureJsonData"]["httpHeaderValue1"] == "Token ${INFLUXDB_TOKEN}"


def test_dashboard_provider_points_at_the_mounted_folder() -> None:
    (provider,) = yaml.safe_load(PROVIDERS.read_text())["providers"]
    compose = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in mounts
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
