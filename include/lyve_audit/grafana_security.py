# ruff: noqa: S608 - every query here is built from this module's own constants, never from input
"""The "Lyve Cloud · Security" dashboard and the provisioned Grafana alert rules, built from one Python source.

`python -m include.lyve_audit grafana --out grafana` writes `dashboards/lyve-security.json` and
`provisioning/alerting/lyve-alert-rules.yaml` (thresholds from `security.THRESHOLDS`, each overridable by its
environment variable); a test holds the committed files equal to what this module builds with the defaults. The
contact point and notification policy are a separate, hand-written file that Grafana loads only when a webhook URL
is set (see docs/security.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from include.lyve_audit.outcome import RUN_MEASUREMENT
from include.lyve_audit.security import (
    CONFIGURATION_CHANGES,
    CONSOLE_LOGIN_EVENTS,
    DELETES,
    PROTECTION_CHANGES,
    THRESHOLDS,
    name_regex,
)

DATASOURCE = {"type": "influxdb", "uid": "lyve-influxdb"}
EXPRESSION = {"type": "__expr__", "uid": "__expr__"}
DASHBOARD_UID = "lyve-security"
S3_DASHBOARD_UID = "lyve-s3-api"
S3_LATENCY_PANEL_ID = 9  # "Latency p95 / p99 by API" on the S3 API dashboard
FOLDER = "Lyve Cloud audit logs"

S3 = '"audit-01"'
ACCOUNT = '"serviceAccountName"'
BUCKET = '"auditEntry.api.bucket"'
API = '"auditEntry.api.name"'
CODE = '"auditEntry.api.statusCode"'
IP = '"auditEntry.requestHeader.X-Real-Ip"'
SELECTED = f"{BUCKET} =~ /^$bucket$/ AND {ACCOUNT} =~ /^$account$/"
"""The dashboard's variables; "All" is `.*`, which also matches entries with no account (anonymous)."""
CONSOLE_FAILURE = '("ConsoleEvent.Status" = \'Failure\' OR "StatusCode" >= 400)'
WHO_AND_WHERE = (
    f'"entry_bytes", "auditEntry.api.object", "auditEntry.api.objectCount", {API}, {BUCKET}, {ACCOUNT}, '
    f'"serviceAccountCreatorId", "auditEntry.accessKey", "auditEntry.parentUser", {IP}, {CODE}'
)
"""Columns of the "latest …" tables: what, where, who (account, its creator, access key, parent user), from where.
`entry_bytes` is selected so that a row with none of the optional fields is still returned (hidden in the table)."""


def _target(query: str, ref: str = "A", fmt: str = "table", alias: str | None = None) -> dict[str, Any]:
    target: dict[str, Any] = {
        "refId": ref,
        "datasource": DATASOURCE,
        "rawQuery": True,
        "resultFormat": fmt,
        "query": query,
    }
    if alias:
        target["alias"] = alias
    return target


def _table(title: str, description: str, query: str, sort: str | None = None) -> dict[str, Any]:
    transformations: list[dict[str, Any]] = [
        {"id": "organize", "options": {"excludeByName": {"entry_bytes": True} if "entry_bytes" in query else {}}}
    ]
    if sort:
        transformations.append({"id": "sortBy", "options": {"sort": [{"field": sort, "desc": True}]}})
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {"defaults": {"unit": "short"}, "overrides": []},
        "options": {"showHeader": True},
        "targets": [_target(query)],
        "transformations": transformations,
    }


def _bars(title: str, description: str, query: str, alias: str) -> dict[str, Any]:
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "fieldConfig": {
            "defaults": {"unit": "short", "decimals": 0, "custom": {"drawStyle": "bars", "fillOpacity": 100}},
            "overrides": [],
        },
        "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["sum"]}},
        "targets": [_target(query, fmt="time_series", alias=alias)],
    }


def _latest(what: str, where: str) -> str:
    return f"SELECT {what} FROM {S3} WHERE $timeFilter AND {where} AND {SELECTED} ORDER BY time DESC LIMIT 200"


DELETES_RE = name_regex(DELETES)
CONFIG_RE = name_regex(CONFIGURATION_CHANGES)
PROTECTION_RE = name_regex(PROTECTION_CHANGES)
LOGIN_RE = name_regex(CONSOLE_LOGIN_EVENTS)
NEW_IPS = (
    f'SELECT "seen" FROM (SELECT first("n") AS "before", last("n") AS "seen" FROM ('
    f'SELECT count("entry_bytes") AS "n" FROM {S3} WHERE time >= ${{__from}}ms - 7d AND time <= ${{__to}}ms '
    f"AND {SELECTED} GROUP BY time(7d, ${{__from}}ms), {ACCOUNT}, {IP} fill(0)) GROUP BY {ACCOUNT}, {IP}) "
    f'WHERE "before" = 0 AND "seen" > 0 GROUP BY {ACCOUNT}, {IP}'
)
"""Per account and client IP, requests counted in two 7-day buckets whose boundary is the range's start
(`GROUP BY time(7d, <from>)`): the 7 days before the range, and the range. A pair is new when the first count is 0
and the second is not. InfluxQL has no anti-join and gives a subquery the outer query's time range, so this is the
closest it can do: exact for ranges up to 7 days; for longer ranges "seen" counts only the range's first 7 days."""

PANELS: list[dict[str, Any]] = [
    _bars(
        "Deletes by account",
        "Delete calls (objects, batches, buckets, bucket configuration) per account and interval.",
        f'SELECT count("entry_bytes") AS "deletes" FROM {S3} WHERE $timeFilter AND {API} =~ {DELETES_RE} '
        f"AND {SELECTED} GROUP BY time($__interval), {ACCOUNT} fill(none)",
        f"[[tag_{ACCOUNT.strip(chr(34))}]]",
    ),
    _table(
        "Deletes by account, bucket and API",
        "Delete calls over the range, and the objects named by DeleteObjects batches (auditEntry.api.objectCount).",
        f'SELECT count("entry_bytes") AS "calls", sum("auditEntry.api.objectCount") AS "batch_objects" '
        f"FROM {S3} WHERE $timeFilter AND {API} =~ {DELETES_RE} AND {SELECTED} GROUP BY {ACCOUNT}, {BUCKET}, {API}",
        sort="calls",
    ),
    _table(
        "Latest deletes",
        "The last 200 delete calls: when, which object or bucket, who (account, access key, parent user), "
        "from which client IP, and the answer.",
        _latest(WHO_AND_WHERE, f"{API} =~ {DELETES_RE}"),
    ),
    _bars(
        "Access denied (403) by account",
        "403 answers per account and interval; an empty account is an anonymous request.",
        f'SELECT count("entry_bytes") AS "denied" FROM {S3} WHERE $timeFilter AND {CODE} = \'403\' '
        f"AND {SELECTED} GROUP BY time($__interval), {ACCOUNT} fill(none)",
        f"[[tag_{ACCOUNT.strip(chr(34))}]]",
    ),
    _table(
        "Access denied (403) by client IP",
        "403 answers over the range per client IP and account: many from one IP across buckets is enumeration.",
        f'SELECT count("entry_bytes") AS "denied" FROM {S3} WHERE $timeFilter AND {CODE} = \'403\' '
        f"AND {SELECTED} GROUP BY {IP}, {ACCOUNT}",
        sort="denied",
    ),
    _table(
        "Other 4xx by account and client IP",
        "4xx answers other than 403 (404 on guessed keys, 400, 409…) per account, client IP and status code.",
        f'SELECT count("entry_bytes") AS "answers" FROM {S3} WHERE $timeFilter AND {CODE} =~ /^4/ '
        f"AND {CODE} != '403' AND {SELECTED} GROUP BY {ACCOUNT}, {IP}, {CODE}",
        sort="answers",
    ),
    _table(
        "Anonymous requests (no account)",
        "Requests whose entry names no service account, per bucket, API, status code and client IP.",
        f'SELECT count("entry_bytes") AS "requests" FROM {S3} WHERE $timeFilter AND {ACCOUNT} = \'\' '
        f"AND {BUCKET} =~ /^$bucket$/ GROUP BY {BUCKET}, {API}, {CODE}, {IP}",
        sort="requests",
    ),
    _table(
        "Configuration and permission changes",
        "The last 200 bucket policy, lifecycle, versioning, encryption, object lock / retention / legal hold, ACL, "
        "tagging, notification and replication calls: who made them and from where.",
        _latest(WHO_AND_WHERE, f"{API} =~ {CONFIG_RE}"),
    ),
    _table(
        "Denied calls (latest)",
        "The last 200 4xx answers with the caller's access key, parent user, request path and error text.",
        _latest(
            f'"entry_bytes", {API}, {BUCKET}, {ACCOUNT}, "auditEntry.accessKey", "auditEntry.parentUser", '
            f'"auditEntry.requestPath", "auditEntry.error", {IP}, {CODE}',
            f"{CODE} =~ /^4/",
        ),
    ),
    _table(
        "New client IPs per account",
        "Client IPs that an account used in the range and not in the 7 days before it (exact for ranges up to "
        "7 days; see docs/security.md). 'seen' counts the account's requests from that IP in the range.",
        NEW_IPS,
        sort="seen",
    ),
    _table(
        "IAM events by user and client IP",
        "IAM audit events over the range per user, client IP and client.",
        'SELECT count("entry_bytes") AS "events" FROM "iam-01" WHERE $timeFilter '
        'GROUP BY "content.user_name", "content.ip", "content.client_name"',
        sort="events",
    ),
    _table(
        "IAM changes (latest)",
        "The last 200 IAM events with their action (field `action`), user, client IP and client.",
        'SELECT "entry_bytes", "action", "content.user_name", "content.ip", "content.client_name", "source" '
        'FROM "iam-01" WHERE $timeFilter ORDER BY time DESC LIMIT 200',
    ),
    _table(
        "Console login failures by user and IP",
        "Failed Console logins (status Failure or a 4xx/5xx code) over the range per user and client IP.",
        'SELECT count("entry_bytes") AS "failures" FROM "console-01" WHERE $timeFilter '
        f'AND "ConsoleEvent.Eventname" =~ {LOGIN_RE} AND {CONSOLE_FAILURE} '
        'GROUP BY "UserIdentity.UserName", "UserIdentity.IPAddress"',
        sort="failures",
    ),
    _table(
        "Console events by user and IP",
        "Console events over the range per user, client IP, event and status.",
        'SELECT count("entry_bytes") AS "events" FROM "console-01" WHERE $timeFilter '
        'GROUP BY "UserIdentity.UserName", "UserIdentity.IPAddress", "ConsoleEvent.Eventname"',
        sort="events",
    ),
    _bars(
        "Pipeline runs by outcome",
        f"Runs of the DAG per outcome ({RUN_MEASUREMENT}): the stale-ingest rule fires when no successful run "
        "is recorded for hours.",
        f'SELECT count("entries") AS "runs" FROM "{RUN_MEASUREMENT}" WHERE $timeFilter '
        'GROUP BY time($__interval), "state" fill(none)',
        "[[tag_state]]",
    ),
    _table(
        "Pipeline runs: lines read and bad",
        "Objects, lines read and bad lines of the runs in the range, per outcome; the bad-line rule compares "
        "bad / lines with its share.",
        f'SELECT sum("objects") AS "objects", sum("entries") AS "lines", sum("bad") AS "bad" '
        f'FROM "{RUN_MEASUREMENT}" WHERE $timeFilter GROUP BY "state"',
    ),
]
PANEL_IDS = {panel["title"]: index for index, panel in enumerate(PANELS, start=1)}


def _variable(name: str, label: str, key: str) -> dict[str, Any]:
    query = f'SHOW TAG VALUES FROM {S3} WITH KEY = "{key}"'
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": query,
        "definition": query,
        "refresh": 2,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
        "hide": 0,
        "options": [],
    }


def security_dashboard() -> dict[str, Any]:
    """The dashboard JSON: panels in the order of `PANELS`, two to a row, the long tables across the full width."""
    wide = {"Latest deletes", "Configuration and permission changes", "Denied calls (latest)"}
    panels = []
    x = y = 0
    for index, panel in enumerate(PANELS, start=1):
        width = 24 if panel["title"] in wide else 12
        if x + width > 24:
            x, y = 0, y + 8
        panels.append({**panel, "id": index, "gridPos": {"h": 8, "w": width, "x": x, "y": y}})
        x += width
    return {
        "uid": DASHBOARD_UID,
        "title": "Lyve Cloud · Security",
        "description": "Who did what: deletes, denied and anonymous requests, configuration and permission changes, "
        "new client IPs, IAM changes and Console logins; the pipeline's own runs.",
        "tags": ["lyve-cloud", "audit-logs", "security"],
        "timezone": "utc",
        "editable": True,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "5m",
        "time": {"from": "now-7d", "to": "now"},
        "timepicker": {},
        "annotations": {"list": []},
        "links": [{"type": "dashboards", "tags": ["lyve-cloud"], "asDropdown": True, "title": "Lyve Cloud dashboards"}],
        "templating": {
            "list": [
                _variable("bucket", "Logged bucket", "auditEntry.api.bucket"),
                _variable("account", "Account", "serviceAccountName"),
            ]
        },
        "panels": panels,
    }


# ---------------------------------------------------------------------------------------------------------------------
# Alert rules


def _query(ref: str, query: str, seconds: int) -> dict[str, Any]:
    return {
        "refId": ref,
        "relativeTimeRange": {"from": seconds, "to": 0},
        "datasourceUid": DATASOURCE["uid"],
        "model": {
            "refId": ref,
            "datasource": DATASOURCE,
            "rawQuery": True,
            "resultFormat": "time_series",
            "query": query,
            "intervalMs": 60000,
            "maxDataPoints": 43200,
        },
    }


def _expression(ref: str, source: str, kind: str, **settings: Any) -> dict[str, Any]:
    """A server-side expression (`__expr__`) of `kind` on the result of `source`."""
    return {
        "refId": ref,
        "relativeTimeRange": {"from": 0, "to": 0},
        "datasourceUid": EXPRESSION["uid"],
        "model": {"refId": ref, "datasource": EXPRESSION, "type": kind, "expression": source, **settings},
    }


def _reduce(ref: str, source: str, reducer: str) -> dict[str, Any]:
    return _expression(ref, source, "reduce", reducer=reducer, settings={"mode": "dropNN"})


def _threshold(ref: str, source: str, kind: str, value: float) -> dict[str, Any]:
    return _expression(ref, source, "threshold", conditions=[{"evaluator": {"type": kind, "params": [value]}}])


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def _rule(
    uid: str,
    title: str,
    query: str,
    seconds: int,
    threshold: str,
    *,
    kind: str = "gt",
    reducer: str = "last",
    for_: str = "0s",
    no_data: str = "OK",
    summary: str,
    dashboard: str = DASHBOARD_UID,
    panel: str | int,
    severity: str = "warning",
    environ: Mapping[str, str] | None = None,
    compare_with: float | None = None,
) -> dict[str, Any]:
    """One rule: query A over the last `seconds`, B = A reduced per series, C = B compared with the threshold
    (or with `compare_with` where the threshold sets the window instead, as for stale ingest)."""
    value = _number(THRESHOLDS[threshold].value(environ))
    limit = value if compare_with is None else compare_with
    panel_id = panel if isinstance(panel, int) else PANEL_IDS[panel]
    return {
        "uid": uid,
        "title": title,
        "condition": "C",
        "data": [_query("A", query, seconds), _reduce("B", "A", reducer), _threshold("C", "B", kind, limit)],
        "dashboardUid": dashboard,
        "panelId": panel_id,
        "noDataState": no_data,
        "execErrState": "Error",
        "for": for_,
        "isPaused": False,
        "labels": {"product": "lyve-audit", "severity": severity, "threshold": threshold},
        "annotations": {
            "summary": summary,
            "description": f"Threshold {value} ({THRESHOLDS[threshold].unit}); override with "
            f"{THRESHOLDS[threshold].env}. See docs/security.md.",
            "panel": f"/d/{dashboard}/?viewPanel={panel_id}",
        },
    }


def _label(tag: str) -> str:
    """A Go template reading a label whose name has dots or dashes."""
    return '{{ index $labels "' + tag + '" }}'


def alert_rules(environ: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The rule groups: security rules every minute, the pipeline's own every five minutes."""
    account, ip = _label("serviceAccountName"), _label("auditEntry.requestHeader.X-Real-Ip")
    bucket, api, user = _label("auditEntry.api.bucket"), _label("auditEntry.api.name"), _label("UserIdentity.UserName")
    lookback = int(THRESHOLDS["lookback_hours"].value(environ) * 3600)
    per_10m, per_15m = "GROUP BY time(10m),", "GROUP BY time(15m),"
    security = [
        _rule(
            "lyve-delete-burst",
            "Burst of deletes by one account",
            f'SELECT count("entry_bytes") FROM {S3} WHERE $timeFilter AND {API} =~ {DELETES_RE} '
            f"{per_10m} {ACCOUNT} fill(none)",
            lookback,
            "delete_burst",
            reducer="max",
            summary=f"Account '{account}' made {{{{ $values.B.Value }}}} delete calls in 10 minutes",
            panel="Latest deletes",
            environ=environ,
        ),
        _rule(
            "lyve-denied-account",
            "Burst of 403s for one account",
            f"SELECT count(\"entry_bytes\") FROM {S3} WHERE $timeFilter AND {CODE} = '403' "
            f"{per_10m} {ACCOUNT} fill(none)",
            lookback,
            "denied_account",
            reducer="max",
            summary=f"Account '{account}' was denied {{{{ $values.B.Value }}}} times in 10 minutes",
            panel="Access denied (403) by account",
            environ=environ,
        ),
        _rule(
            "lyve-denied-ip",
            "Burst of 403s from one client IP (enumeration)",
            f"SELECT count(\"entry_bytes\") FROM {S3} WHERE $timeFilter AND {CODE} = '403' {per_10m} {IP} fill(none)",
            lookback,
            "denied_ip",
            reducer="max",
            summary=f"Client IP {ip} was denied {{{{ $values.B.Value }}}} times in 10 minutes",
            panel="Access denied (403) by client IP",
            environ=environ,
        ),
        _rule(
            "lyve-protection-change",
            "Bucket policy, ACL, object lock or lifecycle changed",
            f'SELECT count("entry_bytes") FROM {S3} WHERE $timeFilter AND {API} =~ {PROTECTION_RE} '
            f"GROUP BY {ACCOUNT}, {BUCKET}, {API}, {IP}",
            lookback,
            "protection_change",
            summary=f"{api} on bucket '{bucket}' by account '{account}' from {ip}",
            panel="Configuration and permission changes",
            severity="critical",
            environ=environ,
        ),
        _rule(
            "lyve-login-failures",
            "Burst of Console login failures",
            'SELECT count("entry_bytes") FROM "console-01" WHERE $timeFilter '
            f'AND "ConsoleEvent.Eventname" =~ {LOGIN_RE} AND {CONSOLE_FAILURE} '
            f'{per_15m} "UserIdentity.UserName" fill(none)',
            lookback,
            "login_failures",
            reducer="max",
            summary=f"User '{user}' failed {{{{ $values.B.Value }}}} Console logins in 15 minutes",
            panel="Console login failures by user and IP",
            environ=environ,
        ),
        _rule(
            "lyve-latency-p99",
            "p99 latency of an API above its threshold",
            f'SELECT percentile("auditEntry.api.timeToResponse", 99) / 1000000 FROM {S3} '
            f"WHERE $timeFilter {per_15m} {API} fill(none)",
            lookback,
            "latency_p99",
            reducer="max",
            for_="5m",
            summary=f"p99 response time of {api} reached {{{{ $values.B.Value }}}} ms in 15 minutes",
            dashboard=S3_DASHBOARD_UID,
            panel=S3_LATENCY_PANEL_ID,
            environ=environ,
        ),
    ]
    stale_seconds = int(THRESHOLDS["stale_hours"].value(environ) * 3600)
    pipeline = [
        _rule(
            "lyve-stale-ingest",
            "Stale ingest: no successful pipeline run",
            f'SELECT count("entries") FROM "{RUN_MEASUREMENT}" WHERE $timeFilter AND "state" = \'success\'',
            stale_seconds,
            "stale_hours",
            kind="lt",
            compare_with=1,  # fewer than one successful run in the window; none at all is no data, which alerts too
            no_data="Alerting",
            summary="No successful run of the lyve_audit_logs DAG recorded in the last "
            f"{_number(THRESHOLDS['stale_hours'].value(environ))} hours",
            panel="Pipeline runs by outcome",
            severity="critical",
            environ=environ,
        ),
        _rule(
            "lyve-bad-line-share",
            "Bad lines above their share of the lines read",
            f'SELECT sum("bad") / sum("entries") FROM "{RUN_MEASUREMENT}" WHERE $timeFilter',
            3600,
            "bad_share",
            summary="Pipeline runs of the last hour read {{ $values.B.Value }} of their lines as bad",
            panel="Pipeline runs: lines read and bad",
            severity="critical",
            environ=environ,
        ),
    ]
    return [
        {"orgId": 1, "name": "lyve-security", "folder": FOLDER, "interval": "1m", "rules": security},
        {"orgId": 1, "name": "lyve-pipeline", "folder": FOLDER, "interval": "5m", "rules": pipeline},
    ]


def alert_provisioning(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": 1, "groups": alert_rules(environ)}


HEADER = (
    "# Generated by `python -m include.lyve_audit grafana` from include/lyve_audit/grafana_security.py:\n"
    "# edit that, not this file. Thresholds: docs/security.md (LYVE_ALERT_* variables override the defaults).\n"
)


class _PlainDumper(yaml.SafeDumper):
    """YAML without anchors and aliases: each rule reads on its own."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def write_files(root: Path, environ: Mapping[str, str] | None = None) -> list[Path]:
    """Write the dashboard and the alert rules under `root` (the repository's `grafana/` folder)."""
    dashboard = root / "dashboards" / f"{DASHBOARD_UID}.json"
    rules = root / "provisioning" / "alerting" / "lyve-alert-rules.yaml"
    rules.parent.mkdir(parents=True, exist_ok=True)
    dashboard.parent.mkdir(parents=True, exist_ok=True)
    dashboard.write_text(json.dumps(security_dashboard(), indent=2, ensure_ascii=False) + "\n")
    rules.write_text(HEADER + yaml.dump(alert_provisioning(environ), Dumper=_PlainDumper, sort_keys=False, width=120))
    return [dashboard, rules]
