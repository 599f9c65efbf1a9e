"""The Security dashboard and the security alert rules on the real engine, over generated logs with every incident
injected at a known time: each panel query gives the numbers computed in Python from the entries, and each rule,
evaluated as Grafana would (tests/support/alert_eval.py), fires for the incident window and not for a quiet one.

Expected values are computed from the generated entries themselves (parsed here, not from the encoder's output).
"""

from __future__ import annotations

import io
import json
import math
import re
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from include.lyve_audit import incidents
from include.lyve_audit.demo import LOGGED_BUCKETS, GeneratedObject, generate
from include.lyve_audit.encode import ObjectCounts, encode_lines
from include.lyve_audit.influx import InfluxTarget, open_client, write_lines
from include.lyve_audit.keys import parse_log_key
from include.lyve_audit.outcome import RunRecord, run_line
from include.lyve_audit.parse import line_batches
from include.lyve_audit.security import (
    CONFIGURATION_CHANGES,
    CONSOLE_LOGIN_EVENTS,
    DELETES,
    PROTECTION_CHANGES,
    THRESHOLDS,
)
from tests.support.alert_eval import run
from tests.support.influx_engine import InfluxEngine, V2WriteProxy
from tests.support.s3_reference import Bad, read_entry

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
BOARD = json.loads((ROOT / "grafana" / "dashboards" / "lyve-security.json").read_text())
PANELS = {panel["title"]: panel for panel in BOARD["panels"]}
RULES = {
    rule["uid"]: rule
    for group in yaml.safe_load((ROOT / "grafana" / "provisioning" / "alerting" / "lyve-alert-rules.yaml").read_text())[
        "groups"
    ]
    for rule in group["rules"]
}
START = datetime(2026, 1, 10, tzinfo=UTC)
HOURS = 4
SEED = 7
INCIDENT_HOUR = START + timedelta(hours=3)
QUIET_AT = INCIDENT_HOUR  # the two hours before the incidents: ordinary traffic only
INCIDENT_AT = INCIDENT_HOUR + timedelta(hours=1, minutes=10)  # the incident hour loaded, ten minutes later
DAY_MS = (int(START.timestamp() * 1000), int((START + timedelta(days=1)).timestamp() * 1000) - 1)
HOUR_NS = 3600 * 10**9
GRAFANA_REGEX_SPECIALS = re.compile(r"[\\^$*+?.()|\[\]{}/]")


@dataclass(frozen=True, slots=True)
class S3Row:
    time_ns: int
    bucket: str
    api: str
    code: str
    ip: str
    account: str
    obj: str | None
    latency_ns: int | None
    batch_objects: int | None
    access_key: str | None
    parent_user: str | None
    request_path: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class ConsoleRow:
    time_ns: int
    user: str
    ip: str
    event: str
    status: str
    code: int


@dataclass(frozen=True, slots=True)
class IamRow:
    time_ns: int
    user: str
    ip: str
    client: str
    source: str
    action: str | None


@dataclass
class Data:
    engine: InfluxEngine
    database: str
    s3: list[S3Row] = field(default_factory=list)
    console: list[ConsoleRow] = field(default_factory=list)
    iam: list[IamRow] = field(default_factory=list)
    runs: list[RunRecord] = field(default_factory=list)


def _ns(text: str) -> int:
    """An entry time (`2026-01-10T03:05:00.123456789Z` or `2026-01-10 03:05:00.123456 +0000 UTC`) in epoch ns."""
    whole = datetime.strptime(text[:19].replace(" ", "T"), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    fraction = re.match(r"\.(\d+)", text[19:])
    nanos = int(fraction.group(1).ljust(9, "0")) if fraction else 0
    return int(whole.timestamp()) * 10**9 + nanos


def _host(address: str) -> str:
    return address.rsplit(":", 1)[0]


def _record(data: Data, kind: str, entry: dict[str, Any]) -> None:
    if kind == "s3":  # the independent reading of an S3 API entry in any shape
        try:
            tags, fields, time_ns = read_entry(entry)
        except Bad:
            return
        latency = fields.get("auditEntry.api.timeToResponse")
        count = fields.get("auditEntry.api.objectCount")

        def text(name: str) -> str | None:
            value = fields.get(name)
            return str(value) if value is not None else None

        data.s3.append(
            S3Row(
                time_ns,
                tags.get("auditEntry.api.bucket", ""),
                tags.get("auditEntry.api.name", ""),
                tags.get("auditEntry.api.statusCode", ""),
                tags.get("auditEntry.requestHeader.X-Real-Ip", ""),
                tags.get("serviceAccountName", ""),
                text("auditEntry.api.object"),
                int(latency) if latency is not None else None,
                int(count) if count is not None else None,
                text("auditEntry.accessKey"),
                text("auditEntry.parentUser"),
                text("auditEntry.requestPath"),
                text("auditEntry.error"),
            )
        )
    elif kind == "console":
        identity, event = entry["UserIdentity"], entry["ConsoleEvent"]
        data.console.append(
            ConsoleRow(
                _ns(event["EventTime"]),
                identity["UserName"],
                _host(identity["IPAddress"]),
                event["Eventname"],
                event["Status"],
                event["StatusCode"],
            )
        )
    else:
        content = entry["content"]
        data.iam.append(
            IamRow(
                _ns(entry["date"]),
                content["user_name"],
                _host(content["ip"]),
                content["client_name"],
                entry["source"],
                content.get("action") or None,
            )
        )


@pytest.fixture(scope="module")
def data(influx: tuple[InfluxEngine, V2WriteProxy]) -> Data:
    """Four hours of generated logs, the incidents in the last one, and three run records, in a database of its own."""
    engine, proxy = influx
    loaded = Data(engine, f"security_{uuid.uuid4().hex[:10]}")
    engine.create_database(loaded.database)
    objects: list[GeneratedObject] = [
        *generate(START, HOURS, seed=SEED),
        *incidents.incident_objects(INCIDENT_HOUR, SEED),
    ]
    lines: list[bytes] = []
    for generated in objects:
        log_key = parse_log_key(generated.key)
        assert log_key is not None
        counts = ObjectCounts()
        body = io.BytesIO(generated.body())
        lines.extend(
            line.encode()
            for line in encode_lines(line_batches(body, generated.key), log_key.kind, generated.key, counts, print)
        )
        assert counts.points == len(generated.entries)
        for entry in generated.entries:
            _record(loaded, log_key.kind, entry)
    for hour, failed in ((1, 0), (2, 3), (3, 0)):
        start = START + timedelta(hours=hour - 1)
        loaded.runs.append(
            RunRecord(
                start, start + timedelta(hours=1), start + timedelta(hours=1, minutes=7), failed, 11, 400 + hour, hour
            )
        )
    lines.extend(run_line(record) for record in loaded.runs)
    target = InfluxTarget(url=proxy.url, org="test-org", bucket=loaded.database, token="x")
    with open_client(target) as client:
        assert write_lines(client, target, lines) == len(lines)
    return loaded


# ---------------------------------------------------------------------------------------------------------------------
# Running panel queries the way Grafana's dashboard renders them


def regex_value(values: list[str] | None) -> str:
    if values is None:
        return ".*"
    escaped = [GRAFANA_REGEX_SPECIALS.sub(lambda match: "\\" + match.group(0), value) for value in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def panel_rows(
    data: Data,
    title: str,
    interval: str = "1d",
    span_ms: tuple[int, int] = DAY_MS,
    bucket: list[str] | None = None,
    account: list[str] | None = None,
) -> list[dict[str, Any]]:
    (target,) = PANELS[title]["targets"]
    text = target["query"].replace("$timeFilter", f"time >= {span_ms[0]}ms and time <= {span_ms[1]}ms")
    text = text.replace("${__from}", str(span_ms[0])).replace("${__to}", str(span_ms[1]))
    text = text.replace("$__interval", interval)
    text = text.replace("$bucket", regex_value(bucket)).replace("$account", regex_value(account))
    assert not re.search(r"\$[\w{]", text), text
    return data.engine.rows(text, data.database)


def by(rows: list[dict[str, Any]], *keys: str, value: str) -> dict[Any, Any]:
    """Rows indexed by tag values (missing tag = ''), to one column's value."""
    index: dict[Any, Any] = {}
    for row in rows:
        key = tuple(row.get(name) or "" for name in keys)
        key = key[0] if len(key) == 1 else key
        assert key not in index, key
        index[key] = row[value]
    return index


def counted(rows: Iterable[Any], key: Callable[[Any], Any]) -> dict[Any, int]:
    return dict(Counter(key(row) for row in rows))


def in_day(time_ns: int) -> bool:
    return DAY_MS[0] * 10**6 <= time_ns <= DAY_MS[1] * 10**6


def hour_of(time_ns: int) -> int:
    return time_ns - time_ns % HOUR_NS


# ---------------------------------------------------------------------------------------------------------------------
# Panels


def test_every_security_panel_is_checked() -> None:
    assert set(PANELS) == set(PANEL_CHECKS)


def _deletes(data: Data) -> list[S3Row]:
    return [row for row in data.s3 if row.api in DELETES]


def check_deletes_by_account(data: Data) -> None:
    for account in (None, ["cleanup-bot"]):
        rows = panel_rows(data, "Deletes by account", interval="1h", account=account)
        got = {(row.get("serviceAccountName") or "", row["time"]): row["deletes"] for row in rows}
        selected = [row for row in _deletes(data) if account is None or row.account in account]
        assert got == counted(selected, lambda row: (row.account, hour_of(row.time_ns)))
    assert got[("cleanup-bot", int(INCIDENT_HOUR.timestamp()) * 10**9)] == 143


def _stored(data: Data, name: str) -> bool:
    """Whether the encoder writes this optional field of an S3 API entry (the MinIO-era fields)."""
    keys = data.engine.rows('SHOW FIELD KEYS FROM "audit-01"', data.database)
    return any(row["fieldKey"] == name for row in keys)


OPTIONAL_COLUMNS = {
    "auditEntry.accessKey": "access_key",
    "auditEntry.parentUser": "parent_user",
    "auditEntry.requestPath": "request_path",
    "auditEntry.error": "error",
}


def check_who(data: Data, rows: list[dict[str, Any]], expected: list[S3Row]) -> None:
    """The access key, parent user, request path and error columns: the entry's values once the encoder writes them
    (incident entries carry them), empty before."""
    for column, attribute in OPTIONAL_COLUMNS.items():
        if column not in rows[0]:
            continue
        got = [row[column] for row in rows]
        if _stored(data, column):
            assert got == [getattr(row, attribute) for row in expected], column
            assert any(got), column
        else:
            assert set(got) == {None}, column


def check_deletes_table(data: Data) -> None:
    rows = panel_rows(data, "Deletes by account, bucket and API")
    groups: dict[tuple[str, str, str], list[S3Row]] = defaultdict(list)
    for row in _deletes(data):
        groups[(row.account, row.bucket, row.api)].append(row)
    calls = by(rows, "serviceAccountName", "auditEntry.api.bucket", "auditEntry.api.name", value="calls")
    assert calls == {key: len(items) for key, items in groups.items()}
    assert calls[("cleanup-bot", "media-assets", "DeleteObjects")] == incidents.BATCH_DELETES
    batches = by(rows, "serviceAccountName", "auditEntry.api.bucket", "auditEntry.api.name", value="batch_objects")
    if _stored(data, "auditEntry.api.objectCount"):
        expected = {
            key: sum(row.batch_objects for row in items if row.batch_objects is not None)
            if any(row.batch_objects is not None for row in items)
            else None
            for key, items in groups.items()
        }
        assert batches == expected
        assert batches[("cleanup-bot", "media-assets", "DeleteObjects")] == 750
    else:  # the object count comes with the encoder's DeleteObjects support; until then the column is empty
        assert set(batches.values()) == {None}


def _latest(rows: list[S3Row], limit: int = 200) -> list[S3Row]:
    return sorted(rows, key=lambda row: row.time_ns, reverse=True)[:limit]


def _row_key(row: dict[str, Any]) -> tuple[Any, ...]:
    tags = ("auditEntry.api.name", "auditEntry.api.bucket", "serviceAccountName", "auditEntry.requestHeader.X-Real-Ip")
    return (row["time"], *(row[tag] or "" for tag in tags), row["auditEntry.api.statusCode"] or "")


def _entry_key(row: S3Row) -> tuple[Any, ...]:
    return (row.time_ns, row.api, row.bucket, row.account, row.ip, row.code)


def check_latest_deletes(data: Data) -> None:
    rows = panel_rows(data, "Latest deletes")
    expected = _latest(_deletes(data))
    assert len(_deletes(data)) > 200 == len(rows)
    assert [_row_key(row) for row in rows] == [_entry_key(row) for row in expected]
    assert [row["auditEntry.api.object"] for row in rows] == [row.obj for row in expected]
    check_who(data, rows, expected)


def _denied(data: Data) -> list[S3Row]:
    return [row for row in data.s3 if row.code == "403"]


def check_denied_by_account(data: Data) -> None:
    rows = panel_rows(data, "Access denied (403) by account", interval="1h")
    got = {(row.get("serviceAccountName") or "", row["time"]): row["denied"] for row in rows}
    assert got == counted(_denied(data), lambda row: (row.account, hour_of(row.time_ns)))
    incident_hour_ns = int(INCIDENT_HOUR.timestamp()) * 10**9
    assert got[("", incident_hour_ns)] >= incidents.ENUMERATION["guesses"]  # anonymous: no account tag


def check_denied_by_ip(data: Data) -> None:
    rows = panel_rows(data, "Access denied (403) by client IP")
    got = by(rows, "auditEntry.requestHeader.X-Real-Ip", "serviceAccountName", value="denied")
    assert got == counted(_denied(data), lambda row: (row.ip, row.account))
    assert got[(incidents.INTRUDER_IP, "")] == 60


def check_other_4xx(data: Data) -> None:
    rows = panel_rows(data, "Other 4xx by account and client IP", bucket=["media-assets"])
    got = by(
        rows, "serviceAccountName", "auditEntry.requestHeader.X-Real-Ip", "auditEntry.api.statusCode", value="answers"
    )
    other = [row for row in data.s3 if row.code.startswith("4") and row.code != "403" and row.bucket == "media-assets"]
    assert got == counted(other, lambda row: (row.account, row.ip, row.code)) and got


def check_anonymous(data: Data) -> None:
    rows = panel_rows(data, "Anonymous requests (no account)")
    keys = (
        "auditEntry.api.bucket",
        "auditEntry.api.name",
        "auditEntry.api.statusCode",
        "auditEntry.requestHeader.X-Real-Ip",
    )
    got = by(rows, *keys, value="requests")
    anonymous = [row for row in data.s3 if not row.account]
    assert got == counted(anonymous, lambda row: (row.bucket, row.api, row.code, row.ip))
    assert sum(n for key, n in got.items() if key[3] == incidents.INTRUDER_IP) == incidents.ENUMERATION["guesses"]


def check_configuration_changes(data: Data) -> None:
    rows = panel_rows(data, "Configuration and permission changes")
    expected = _latest([row for row in data.s3 if row.api in CONFIGURATION_CHANGES])
    assert [_row_key(row) for row in rows] == [_entry_key(row) for row in expected]
    assert {row["auditEntry.api.name"] for row in rows} == set(incidents.CONFIG_CHANGES["apis"])
    assert {row["auditEntry.requestHeader.X-Real-Ip"] for row in rows} == {incidents.NEW_ADMIN_IP}
    check_who(data, rows, expected)


def check_denied_latest(data: Data) -> None:
    rows = panel_rows(data, "Denied calls (latest)", account=["analytics"])
    expected = _latest([row for row in data.s3 if row.code.startswith("4") and row.account == "analytics"])
    assert [_row_key(row) for row in rows] == [_entry_key(row) for row in expected]
    assert len(rows) == min(200, len(expected)) > incidents.DENIED_CALLS
    check_who(data, rows, expected)


def check_new_ips(data: Data) -> None:
    hour_ms = int(INCIDENT_HOUR.timestamp() * 1000)
    span = (hour_ms, hour_ms + 3_600_000 - 1)
    rows = panel_rows(data, "New client IPs per account", span_ms=span)
    got = by(rows, "serviceAccountName", "auditEntry.requestHeader.X-Real-Ip", value="seen")
    start_ns, end_ns = span[0] * 10**6, span[1] * 10**6
    before = {(row.account, row.ip) for row in data.s3 if start_ns - 7 * 24 * HOUR_NS <= row.time_ns < start_ns}
    in_range = [row for row in data.s3 if start_ns <= row.time_ns <= end_ns]
    expected = {key: n for key, n in counted(in_range, lambda row: (row.account, row.ip)).items() if key not in before}
    assert got == expected
    assert got[("media-uploader", incidents.NEW_ADMIN_IP)] == len(incidents.CONFIG_CHANGES["apis"])
    assert len(before & {(row.account, row.ip) for row in in_range}) > 0, "some pairs were seen before and left out"


def check_iam_events(data: Data) -> None:
    rows = panel_rows(data, "IAM events by user and client IP")
    got = by(rows, "content.user_name", "content.ip", "content.client_name", value="events")
    assert got == counted(data.iam, lambda row: (row.user, row.ip, row.client))


def check_iam_latest(data: Data) -> None:
    rows = panel_rows(data, "IAM changes (latest)")
    expected = sorted(data.iam, key=lambda row: row.time_ns, reverse=True)[:200]
    assert [
        (r["time"], r["action"], r["content.user_name"], r["content.ip"], r["content.client_name"]) for r in rows
    ] == [(row.time_ns, row.action, row.user, row.ip, row.client) for row in expected]
    assert {"DeleteUser", "AttachPolicy", "CreateAccessKey"} <= {row["action"] for row in rows}


def _login_failures(data: Data) -> list[ConsoleRow]:
    return [
        row
        for row in data.console
        if row.event in CONSOLE_LOGIN_EVENTS and (row.status == "Failure" or row.code >= 400)
    ]


def check_login_failures(data: Data) -> None:
    rows = panel_rows(data, "Console login failures by user and IP")
    got = by(rows, "UserIdentity.UserName", "UserIdentity.IPAddress", value="failures")
    assert got == counted(_login_failures(data), lambda row: (row.user, row.ip))
    assert got[(incidents.LOGIN_GUESSING["user"], incidents.INTRUDER_IP)] == incidents.LOGIN_GUESSING["failures"]


def check_console_events(data: Data) -> None:
    rows = panel_rows(data, "Console events by user and IP")
    got = by(rows, "UserIdentity.UserName", "UserIdentity.IPAddress", "ConsoleEvent.Eventname", value="events")
    assert got == counted(data.console, lambda row: (row.user, row.ip, row.event))


def check_runs_by_outcome(data: Data) -> None:
    rows = panel_rows(data, "Pipeline runs by outcome", interval="1h")
    got = {(row["state"], row["time"]): row["runs"] for row in rows}
    expected = counted(data.runs, lambda r: (r.state, hour_of(int(r.finished.timestamp()) * 10**9)))
    assert (
        got
        == expected
        == {
            ("success", int((START + timedelta(hours=1)).timestamp()) * 10**9): 1,
            ("failed", int((START + timedelta(hours=2)).timestamp()) * 10**9): 1,
            ("success", int((START + timedelta(hours=3)).timestamp()) * 10**9): 1,
        }
    )


def check_runs_lines(data: Data) -> None:
    rows = panel_rows(data, "Pipeline runs: lines read and bad")
    got = {row["state"]: (row["objects"], row["lines"], row["bad"]) for row in rows}
    sums: dict[str, tuple[int, int, int]] = {}
    for record in data.runs:
        objects, lines, bad = sums.get(record.state, (0, 0, 0))
        sums[record.state] = (objects + record.objects, lines + record.entries, bad + record.bad)
    assert got == sums == {"success": (22, 804, 4), "failed": (11, 402, 2)}


PANEL_CHECKS: dict[str, Callable[[Data], None]] = {
    "Deletes by account": check_deletes_by_account,
    "Deletes by account, bucket and API": check_deletes_table,
    "Latest deletes": check_latest_deletes,
    "Access denied (403) by account": check_denied_by_account,
    "Access denied (403) by client IP": check_denied_by_ip,
    "Other 4xx by account and client IP": check_other_4xx,
    "Anonymous requests (no account)": check_anonymous,
    "Configuration and permission changes": check_configuration_changes,
    "Denied calls (latest)": check_denied_latest,
    "New client IPs per account": check_new_ips,
    "IAM events by user and client IP": check_iam_events,
    "IAM changes (latest)": check_iam_latest,
    "Console login failures by user and IP": check_login_failures,
    "Console events by user and IP": check_console_events,
    "Pipeline runs by outcome": check_runs_by_outcome,
    "Pipeline runs: lines read and bad": check_runs_lines,
}


@pytest.mark.parametrize("title", sorted(PANEL_CHECKS))
def test_panel_numbers(data: Data, title: str) -> None:
    PANEL_CHECKS[title](data)


def test_variables_list_logged_buckets_and_accounts(data: Data) -> None:
    variables = {item["name"]: item["query"] for item in BOARD["templating"]["list"]}
    buckets = {row["value"] for row in data.engine.rows(variables["bucket"], data.database)}
    accounts = {row["value"] for row in data.engine.rows(variables["account"], data.database)}
    assert buckets == {row.bucket for row in data.s3} == set(LOGGED_BUCKETS)
    assert accounts == {row.account for row in data.s3} - {""}


# ---------------------------------------------------------------------------------------------------------------------
# Alert rules: each fires for its incident window and not for the quiet one


def _window(rule: dict[str, Any], now: datetime) -> tuple[int, int]:
    span = rule["data"][0]["relativeTimeRange"]
    now_ms = int(now.timestamp() * 1000)
    return (now_ms - span["from"] * 1000) * 10**6, (now_ms - span["to"] * 1000) * 10**6


def _bucket_max(
    rows: Iterable[Any], window: tuple[int, int], minutes: int, label: Callable[[Any], tuple[tuple[str, str], ...]]
) -> dict[tuple[tuple[str, str], ...], float]:
    """Per label set, the largest count in one `minutes` bucket (epoch-aligned, as GROUP BY time) in the window."""
    size = minutes * 60 * 10**9
    counts = Counter(
        (label(row), row.time_ns - row.time_ns % size) for row in rows if window[0] <= row.time_ns <= window[1]
    )
    best: dict[tuple[tuple[str, str], ...], float] = {}
    for (labels, _), count in counts.items():
        best[labels] = max(best.get(labels, 0), float(count))
    return best


def _nearest_rank(values: list[int], percent: float) -> int:
    ordered = sorted(values)
    return ordered[math.floor(len(ordered) * percent / 100 + 0.5) - 1]


def expected_values(uid: str, data: Data, now: datetime) -> dict[tuple[tuple[str, str], ...], float]:
    """The number each series of a rule reduces to at `now`, computed from the entries."""
    window = _window(RULES[uid], now)

    def account(row: S3Row) -> tuple[tuple[str, str], ...]:
        return (("serviceAccountName", row.account),)

    if uid == "lyve-delete-burst":
        return _bucket_max(_deletes(data), window, 10, account)
    if uid == "lyve-denied-account":
        return _bucket_max(_denied(data), window, 10, account)
    if uid == "lyve-denied-ip":
        return _bucket_max(_denied(data), window, 10, lambda row: (("auditEntry.requestHeader.X-Real-Ip", row.ip),))
    if uid == "lyve-protection-change":
        changes = [row for row in data.s3 if row.api in PROTECTION_CHANGES and window[0] <= row.time_ns <= window[1]]
        return {
            (
                ("auditEntry.api.bucket", row.bucket),
                ("auditEntry.api.name", row.api),
                ("auditEntry.requestHeader.X-Real-Ip", row.ip),
                ("serviceAccountName", row.account),
            ): float(count)
            for row, count in Counter(changes).items()
        }
    if uid == "lyve-login-failures":
        return _bucket_max(_login_failures(data), window, 15, lambda row: (("UserIdentity.UserName", row.user),))
    assert uid == "lyve-latency-p99"
    size = 15 * 60 * 10**9
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    for row in data.s3:
        if window[0] <= row.time_ns <= window[1] and row.latency_ns is not None:
            groups[(row.api, row.time_ns - row.time_ns % size)].append(row.latency_ns)
    best: dict[tuple[tuple[str, str], ...], float] = {}
    for (api, _), latencies in groups.items():
        labels = (("auditEntry.api.name", api),)
        best[labels] = max(best.get(labels, 0.0), _nearest_rank(latencies, 99) / 1e6)
    return best


SECURITY_RULES = {
    "lyve-delete-burst": {(("serviceAccountName", incidents.DELETE_BURST["account"]),)},
    "lyve-denied-account": {
        (("serviceAccountName", incidents.DENIED_ACCOUNT["account"]),),
        (("serviceAccountName", ""),),  # the anonymous enumeration is denied too
    },
    "lyve-denied-ip": {(("auditEntry.requestHeader.X-Real-Ip", incidents.INTRUDER_IP),)},
    "lyve-protection-change": {
        (
            ("auditEntry.api.bucket", incidents.CONFIG_CHANGES["bucket"]),
            ("auditEntry.api.name", api),
            ("auditEntry.requestHeader.X-Real-Ip", incidents.NEW_ADMIN_IP),
            ("serviceAccountName", incidents.CONFIG_CHANGES["account"]),
        )
        for api in ("PutBucketPolicy", "PutObjectLockConfiguration", "PutBucketLifecycleConfiguration")
    },
    "lyve-login-failures": {(("UserIdentity.UserName", incidents.LOGIN_GUESSING["user"]),)},
    "lyve-latency-p99": {(("auditEntry.api.name", "GetObject"),)},
}


def _threshold(uid: str) -> float:
    return float(RULES[uid]["data"][2]["model"]["conditions"][0]["evaluator"]["params"][0])


@pytest.mark.parametrize("uid", sorted(SECURITY_RULES))
def test_rule_fires_for_its_incident_and_not_for_a_quiet_window(data: Data, uid: str) -> None:
    rule = RULES[uid]
    hold = [timedelta(minutes=minutes) for minutes in range(0, 6)] if rule["for"] == "5m" else [timedelta(0)]
    incident = run(rule, data.engine, data.database, [INCIDENT_AT + step for step in hold])
    assert incident.last is not None
    expected = expected_values(uid, data, INCIDENT_AT + hold[-1])
    assert incident.last.values["B"] == pytest.approx(expected, rel=1e-12)
    assert incident.alerting() == {labels for labels, value in expected.items() if value > _threshold(uid)}
    assert incident.alerting() == SECURITY_RULES[uid]

    quiet = run(rule, data.engine, data.database, [QUIET_AT + step for step in hold])
    assert quiet.last is not None
    assert quiet.last.values["B"] == pytest.approx(expected_values(uid, data, QUIET_AT + hold[-1]), rel=1e-12)
    assert quiet.alerting() == set()
    if uid not in {"lyve-protection-change", "lyve-login-failures"}:  # no such calls in ordinary traffic
        assert quiet.last.values["B"], "the quiet window has ordinary traffic the rule looked at"


def test_latency_rule_is_pending_before_its_for_duration(data: Data) -> None:
    pending = run(RULES["lyve-latency-p99"], data.engine, data.database, [INCIDENT_AT])
    assert {labels: state for labels, state in pending.states.items() if state != "Normal"} == {
        (("auditEntry.api.name", "GetObject"),): "Pending"
    }


def test_thresholds_sit_between_quiet_traffic_and_the_incidents(data: Data) -> None:
    """Each default is above everything ordinary traffic reached and below its incident (the docs' reasoning)."""
    for uid in SECURITY_RULES:
        threshold = _threshold(uid)
        quiet = expected_values(uid, data, QUIET_AT)
        assert max(quiet.values(), default=0) <= threshold, uid
    assert THRESHOLDS["delete_burst"].default < 143
