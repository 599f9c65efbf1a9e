"""Every dashboard query, run on a real InfluxDB engine over generated logs, gives the numbers computed in Python.

The logs are generated with a fixed seed, encoded by the package's own encoder and written through the InfluxDB 2
write path; the ledger points are built from the counts that the encoder reported. Each panel's raw InfluxQL is
taken from the dashboard JSON and its Grafana macros are filled in the way Grafana fills them, so a query that
drifts from the schema (a renamed tag, a field in the wrong unit) fails here rather than as an empty panel.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from include.lyve_audit.demo import LOGGED_BUCKETS, S3_APIS, generate
from include.lyve_audit.encode import ObjectCounts, encode_lines
from include.lyve_audit.influx import InfluxTarget, LedgerRecord, ledger_line, open_client, write_lines
from include.lyve_audit.keys import month_folder, parse_log_key, unrecognised_keys
from include.lyve_audit.outcome import run_line, run_record, unrecognised_count
from include.lyve_audit.parse import line_batches
from tests.support.influx_engine import InfluxEngine, V2WriteProxy
from tests.support.s3_reference import read_entry

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "grafana" / "dashboards"
START = datetime(2026, 1, 10, tzinfo=UTC)
HOURS = 6
SEED = 7
BAD_EVERY = 5  # every fifth object gets one malformed line, so the bad-line panels have something to count
DAY_NS = int(START.timestamp()) * 10**9
HOUR_NS = 3600 * 10**9
# Grafana's own rendering of $timeFilter for a dashboard range (epoch milliseconds, upper bound inclusive).
RANGE_FROM_MS = int(START.timestamp() * 1000)
RANGE_TO_MS = int((START + timedelta(days=1)).timestamp() * 1000) - 1
TIME_FILTER = f"time >= {RANGE_FROM_MS}ms and time <= {RANGE_TO_MS}ms"
GRAFANA_REGEX_SPECIALS = re.compile(r"[\\^$*+?.()|\[\]{}/]")
K = TypeVar("K")
R = TypeVar("R")


# ---------------------------------------------------------------------------------------------------------------------
# The data, as plain Python records read from the generated entries (not from the encoder's output)


@dataclass(frozen=True, slots=True)
class S3Row:
    hour_ns: int
    bucket: str
    api: str
    status_code: str
    latency_ns: int | None
    rx: int | None
    tx: int | None
    ip: str
    account: str


@dataclass(frozen=True, slots=True)
class ConsoleRow:
    hour_ns: int
    user: str
    event: str
    status: str


@dataclass(frozen=True, slots=True)
class IamRow:
    hour_ns: int
    user: str
    client: str
    source: str


@dataclass
class Dataset:
    """What was written, in a form the expectations are computed from."""

    database: str
    engine: InfluxEngine
    s3: list[S3Row] = field(default_factory=list)
    console: list[ConsoleRow] = field(default_factory=list)
    iam: list[IamRow] = field(default_factory=list)
    ledger: list[LedgerRecord] = field(default_factory=list)
    injected_bad: int = 0
    unrecognised_by_hour: dict[int, int] = field(default_factory=dict)


def _hour_ns(text: str) -> int:
    """Start of the hour of an entry time (`2026-01-10T03:…` or `2026-01-10 03:…`), in epoch nanoseconds."""
    moment = datetime.strptime(text[:13].replace(" ", "T"), "%Y-%m-%dT%H").replace(tzinfo=UTC)
    return int(moment.timestamp()) * 10**9


def _record(dataset: Dataset, kind: str, entry: dict[str, Any]) -> None:
    if kind == "s3":  # either shape, every key optional: read as the schema documents (tests/support/s3_reference.py)
        tags, fields, time_ns = read_entry(entry)
        dataset.s3.append(
            S3Row(
                hour_ns=time_ns // HOUR_NS * HOUR_NS,
                bucket=tags.get("auditEntry.api.bucket", ""),
                api=tags.get("auditEntry.api.name", ""),
                status_code=tags.get("auditEntry.api.statusCode", ""),
                latency_ns=fields.get("auditEntry.api.timeToResponse"),  # type: ignore[arg-type]
                rx=fields.get("auditEntry.api.rx"),  # type: ignore[arg-type]
                tx=fields.get("auditEntry.api.tx"),  # type: ignore[arg-type]
                ip=tags.get("auditEntry.requestHeader.X-Real-Ip", ""),
                account=tags.get("serviceAccountName", ""),
            )
        )
    elif kind == "console":
        event = entry["ConsoleEvent"]
        dataset.console.append(
            ConsoleRow(
                _hour_ns(event["EventTime"]), entry["UserIdentity"]["UserName"], event["Eventname"], event["Status"]
            )
        )
    else:
        content = entry["content"]
        dataset.iam.append(
            IamRow(_hour_ns(entry["date"]), content["user_name"], content["client_name"], entry["source"])
        )


@pytest.fixture(scope="module")
def dataset(influx: tuple[InfluxEngine, V2WriteProxy]) -> Dataset:
    """Six hours of generated logs of all kinds, plus their ledger points, in a database of this module's own."""
    engine, proxy = influx
    data = Dataset(database=f"dashboards_{uuid.uuid4().hex[:10]}", engine=engine)
    engine.create_database(data.database)
    target = InfluxTarget(url=proxy.url, org="test-org", bucket=data.database, token="x")
    lines: list[bytes] = []
    for index, generated in enumerate(generate(START, HOURS, seed=SEED)):
        log_key = parse_log_key(generated.key)
        assert log_key is not None
        body = generated.body()
        if index % BAD_EVERY == 0:
            body = gzip.compress(gzip.decompress(body) + b"{this line is not json\n", mtime=0)
            data.injected_bad += 1
        counts = ObjectCounts()
        batches = line_batches(io.BytesIO(body), generated.key)
        encoded = encode_lines(batches, log_key.kind, generated.key, counts, print)
        lines.extend(line.encode() for line in encoded)
        assert counts.points == len(generated.entries), generated.key
        for entry in generated.entries:
            _record(data, log_key.kind, entry)
        record = LedgerRecord(
            object_key=generated.key,
            kind=log_key.kind,
            logged_bucket=log_key.logged_bucket,
            key_time=log_key.timestamp,
            last_modified=log_key.timestamp + timedelta(seconds=20 + (index * 37) % 400),
            size=len(body),
            entries=counts.entries,
            points=counts.points,
            bad=counts.bad,
        )
        data.ledger.append(record)
        lines.append(ledger_line(record))
    lines.extend(_run_records(data))
    with open_client(target) as client:
        assert write_lines(client, target, lines) == len(lines)
    assert sum(record.bad for record in data.ledger) == data.injected_bad
    return data


def _run_records(data: Dataset) -> list[bytes]:
    """One run record per hour, each counting what its plan's listing held that is not an audit log it loads: hour h
    lists h objects of an unknown kind and, in odd hours, one S3 object without a bucket (plus keys to skip)."""
    lines = []
    for hour in range(HOURS):
        start = START + timedelta(hours=hour)
        stamp = start.strftime("%Y-%m-%d-%H-%M-%S")
        folder = month_folder(start)
        keys = [f"{folder}Account-audit-{index}-{stamp}.gz" for index in range(hour)]
        keys += [f"{folder}S3-{stamp}.gz"] * (hour % 2)
        keys += [f"{folder}S3-bucket-a-{stamp}.gz", f"{folder}notes.txt", "README.gz"]  # loaded, or no log object
        unrecognised = unrecognised_count({"unrecognised": unrecognised_keys(keys)})
        assert unrecognised == hour + hour % 2
        finished = start + timedelta(hours=1, minutes=2)
        record = run_record((start, start + timedelta(hours=1)), finished, {}, [], unrecognised)
        data.unrecognised_by_hour[int(finished.replace(minute=0).timestamp()) * 10**9] = unrecognised
        lines.append(run_line(record))
    return lines


# ---------------------------------------------------------------------------------------------------------------------
# Dashboards and Grafana's macro substitution


def _dashboards() -> dict[str, dict[str, Any]]:
    boards = {}
    for path in sorted(DASHBOARDS.glob("*.json")):
        board = json.loads(path.read_text())
        boards[board["uid"]] = board
    return boards


BOARDS = _dashboards()
PANELS = {
    (uid, panel["title"]): panel
    for uid, board in BOARDS.items()
    for panel in board["panels"]
    if "targets" in panel and uid != "lyve-security"  # checked by test_security.py, with incidents injected
}


def regex_value(values: list[str] | None) -> str:
    """A multi-value variable inside `/^$var$/`, as Grafana's InfluxQL datasource renders it (None = All = `.*`)."""
    if values is None:
        return ".*"
    escaped = [GRAFANA_REGEX_SPECIALS.sub(lambda match: "\\" + match.group(0), value) for value in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def render(query: str, interval: str, variables: dict[str, list[str] | None]) -> str:
    """Fill `$timeFilter`, `$__interval` and the template variables; fail on any `$` left over."""
    text = query.replace("$timeFilter", TIME_FILTER).replace("$__interval", interval)
    for name in sorted(variables, key=len, reverse=True):
        text = text.replace(f"${name}", regex_value(variables[name]))
    assert not re.search(r"\$[\w{]", text), f"unrendered macro in {text!r}"  # a regex's closing `$/` is fine
    return text


@dataclass
class Context:
    """Runs one panel's targets and remembers which ones ran, so a check cannot skip a query."""

    data: Dataset
    panel: dict[str, Any]
    ran: set[str] = field(default_factory=set)

    def rows(self, ref: str = "A", interval: str = "1d", **variables: list[str] | None) -> list[dict[str, Any]]:
        target = next(item for item in self.panel["targets"] if item["refId"] == ref)
        assert target["datasource"]["uid"] == "lyve-influxdb"
        self.ran.add(ref)
        values: dict[str, list[str] | None] = {"bucket": None, "api": None}
        values.update(variables)
        return self.data.engine.rows(render(target["query"], interval, values), self.data.database)

    def expression(self, ref: str = "C") -> str:
        target = next(item for item in self.panel["targets"] if item["refId"] == ref)
        assert target["datasource"]["uid"] == "__expr__"
        self.ran.add(ref)
        return str(target["expression"])


Check = Callable[[Context], None]
CHECKS: dict[tuple[str, str], Check] = {}


def check(uid: str, title: str) -> Callable[[Check], Check]:
    def register(function: Check) -> Check:
        CHECKS[(uid, title)] = function
        return function

    return register


# ---------------------------------------------------------------------------------------------------------------------
# Helpers for expectations


def grouped(rows: Iterable[R], key: Callable[[R], K]) -> dict[K, list[R]]:
    groups: dict[K, list[R]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row)
    return dict(groups)


def by_tags(rows: list[dict[str, Any]], *tags: str, with_time: bool = False) -> dict[Any, dict[str, Any]]:
    """Index result rows by their tag values (and time); a tag missing from a row indexes as ''."""
    index: dict[Any, dict[str, Any]] = {}
    for row in rows:
        key = tuple(row.get(tag, "") for tag in tags)
        if with_time:
            key = (*key, row["time"])
        key = key[0] if len(key) == 1 else key
        assert key not in index, f"two rows for {key}"
        index[key] = row
    return index


def total(values: Iterable[int | None]) -> int | None:
    """InfluxQL's SUM: of the values present (a field absent from a point is not zero); null when none is."""
    present = [value for value in values if value is not None]
    return sum(present) if present else None


def nearest_rank(values: list[int], percent: float) -> int:
    """InfluxQL's PERCENTILE: the value at rank floor(n·p/100 + 0.5) of the sorted values."""
    ordered = sorted(values)
    return ordered[math.floor(len(ordered) * percent / 100 + 0.5) - 1]


def s3_selected(data: Dataset, buckets: list[str] | None = None, apis: list[str] | None = None) -> Iterator[S3Row]:
    for row in data.s3:
        if (buckets is None or row.bucket in buckets) and (apis is None or row.api in apis):
            yield row


def assert_single_day(rows: list[dict[str, Any]]) -> None:
    """Every generated entry is on 2026-01-10, so a 1d group (or no group) gives one row at the day's start."""
    assert rows
    assert {row["time"] for row in rows} == {DAY_NS}


SOME_BUCKET = ["media-assets"]
SOME_APIS = ["GetObject", "PutObject"]


# ---------------------------------------------------------------------------------------------------------------------
# S3 API dashboard


@check("lyve-s3-api", "Average response time by API per day")
def _avg_by_api(ctx: Context) -> None:
    for buckets, apis in ((None, None), (SOME_BUCKET, SOME_APIS)):
        rows = ctx.rows(bucket=buckets, api=apis)
        assert_single_day(rows)
        expected = {
            api: sum(r.latency_ns for r in items) / len(items) / 1e6
            for api, items in grouped(s3_selected(ctx.data, buckets, apis), lambda r: r.api).items()
        }
        got = {api: row["mean_ms"] for api, row in by_tags(rows, "auditEntry.api.name").items()}
        assert got == pytest.approx(expected, rel=1e-9)
        assert len(got) == (len(S3_APIS) + 1 if apis is None else 2)  # + 1: internal events, without an API name


@check("lyve-s3-api", "CompleteMultipartUpload time to response by bucket")
def _cmu_by_bucket(ctx: Context) -> None:
    for buckets in (None, ["backup-prod-eu"]):
        rows = ctx.rows(bucket=buckets)
        assert_single_day(rows)
        selected = s3_selected(ctx.data, buckets, ["CompleteMultipartUpload"])
        expected = {
            bucket: sum(r.latency_ns for r in items) / len(items) / 1e6
            for bucket, items in grouped(selected, lambda r: r.bucket).items()
        }
        got = {bucket: row["mean_ms"] for bucket, row in by_tags(rows, "auditEntry.api.bucket").items()}
        assert got == pytest.approx(expected, rel=1e-9)
        assert len(got) == (3 if buckets is None else 1)


@check("lyve-s3-api", "Error count by bucket per day")
def _errors_by_bucket(ctx: Context) -> None:
    for buckets, apis in ((None, None), (None, SOME_APIS)):
        rows = ctx.rows(bucket=buckets, api=apis)
        assert_single_day(rows)
        errors = [r for r in s3_selected(ctx.data, buckets, apis) if r.status_code[:1] in ("4", "5")]
        expected = {bucket: len(items) for bucket, items in grouped(errors, lambda r: r.bucket).items()}
        assert {b: row["errors"] for b, row in by_tags(rows, "auditEntry.api.bucket").items()} == expected
        assert sum(expected.values()) > 0


@check("lyve-s3-api", "API calls by bucket per day")
def _calls_by_bucket(ctx: Context) -> None:
    rows = ctx.rows()
    assert_single_day(rows)
    assert {b: row["calls"] for b, row in by_tags(rows, "auditEntry.api.bucket").items()} == dict.fromkeys(
        LOGGED_BUCKETS, HOURS * 3 * 40
    )
    rows = ctx.rows(bucket=SOME_BUCKET, api=SOME_APIS)
    expected = len(list(s3_selected(ctx.data, SOME_BUCKET, SOME_APIS)))
    assert {b: row["calls"] for b, row in by_tags(rows, "auditEntry.api.bucket").items()} == {"media-assets": expected}


@check("lyve-s3-api", "Total API calls by bucket")
def _total_by_bucket(ctx: Context) -> None:
    rows = ctx.rows()
    assert_single_day(rows)
    expected = {bucket: len(items) for bucket, items in grouped(ctx.data.s3, lambda r: r.bucket).items()}
    assert {b: row["calls"] for b, row in by_tags(rows, "auditEntry.api.bucket").items()} == expected
    assert sum(expected.values()) == len(LOGGED_BUCKETS) * HOURS * 3 * 40 == 2160


@check("lyve-s3-api", "Max API response time")
def _max_by_api(ctx: Context) -> None:
    for buckets, apis in ((None, None), (SOME_BUCKET, None)):
        rows = ctx.rows(bucket=buckets, api=apis)
        expected = {
            api: max(r.latency_ns for r in items) / 1e6
            for api, items in grouped(s3_selected(ctx.data, buckets, apis), lambda r: r.api).items()
        }
        got = {api: row["max_ms"] for api, row in by_tags(rows, "auditEntry.api.name").items()}
        assert got == pytest.approx(expected, rel=1e-12)


def _math_ratio(expression: str) -> Callable[[float, float], float]:
    """The panel's server-side expression, which must be the error share in percent."""
    assert expression.replace(" ", "") == "$A/$B*100"
    return lambda errors, requests: errors / requests * 100


@check("lyve-s3-api", "Error rate")
def _error_rate(ctx: Context) -> None:
    ratio = _math_ratio(ctx.expression())
    for apis in (None, SOME_APIS):
        (errors,) = ctx.rows("A", api=apis)
        (requests,) = ctx.rows("B", api=apis)
        assert errors["time"] == requests["time"]  # the expression joins the two on time
        selected = list(s3_selected(ctx.data, None, apis))
        expected_errors = sum(1 for r in selected if r.status_code[:1] in ("4", "5"))
        assert (errors["errors"], requests["requests"]) == (expected_errors, len(selected))
        assert ratio(errors["errors"], requests["requests"]) == pytest.approx(100 * expected_errors / len(selected))


@check("lyve-s3-api", "Error rate by bucket")
def _error_rate_by_bucket(ctx: Context) -> None:
    ratio = _math_ratio(ctx.expression())
    errors = by_tags(ctx.rows("A", interval="1h"), "auditEntry.api.bucket", with_time=True)
    requests = by_tags(ctx.rows("B", interval="1h"), "auditEntry.api.bucket", with_time=True)
    # Like Grafana's math on two series: a value exists only where both series have a point at that time.
    got = {key: ratio(errors[key]["errors"], row["requests"]) for key, row in requests.items() if key in errors}
    expected = {
        key: 100 * sum(1 for r in items if r.status_code[:1] in ("4", "5")) / len(items)
        for key, items in grouped(ctx.data.s3, lambda r: (r.bucket, r.hour_ns)).items()
    }
    assert got == pytest.approx(expected, rel=1e-12)
    assert len(got) == len(LOGGED_BUCKETS) * HOURS


@check("lyve-s3-api", "Latency p95 / p99 by API")
def _percentiles(ctx: Context) -> None:
    for interval, key in (("1d", lambda r: (r.api, DAY_NS)), ("1h", lambda r: (r.api, r.hour_ns))):
        rows = by_tags(ctx.rows(interval=interval), "auditEntry.api.name", with_time=True)
        groups = grouped(ctx.data.s3, key)
        assert set(rows) == set(groups)
        for group, items in groups.items():
            latencies = [r.latency_ns for r in items]
            assert rows[group]["p95"] == pytest.approx(nearest_rank(latencies, 95) / 1e6, rel=1e-12), group
            assert rows[group]["p99"] == pytest.approx(nearest_rank(latencies, 99) / 1e6, rel=1e-12), group


@check("lyve-s3-api", "Bytes in / out by bucket")
def _bytes_by_bucket(ctx: Context) -> None:
    for apis in (None, ["GetObject"]):
        rows = ctx.rows(api=apis)
        assert_single_day(rows)
        groups = grouped(s3_selected(ctx.data, None, apis), lambda r: r.bucket)
        expected = {b: (total(r.rx for r in items), total(r.tx for r in items)) for b, items in groups.items()}
        got = {b: (row["in"], row["out"]) for b, row in by_tags(rows, "auditEntry.api.bucket").items()}
        assert got == expected


@check("lyve-s3-api", "Top service accounts")
def _top_accounts(ctx: Context) -> None:
    for buckets in (None, SOME_BUCKET):
        rows = ctx.rows(bucket=buckets)
        groups = grouped(s3_selected(ctx.data, buckets, None), lambda r: r.account)
        expected = {account: (len(items), total(r.tx for r in items)) for account, items in groups.items()}
        got = {a: (row["requests"], row["bytes_out"]) for a, row in by_tags(rows, "serviceAccountName").items()}
        assert got == expected
        assert {"backup-svc", "media-uploader", "analytics", ""} <= set(got)  # "" = no account (docs/schema.md)


@check("lyve-s3-api", "Top client IPs")
def _top_ips(ctx: Context) -> None:
    rows = ctx.rows()
    groups = grouped(ctx.data.s3, lambda r: r.ip)
    expected = {ip: (len(items), total(r.tx for r in items)) for ip, items in groups.items()}
    got = {
        ip: (row["requests"], row["bytes_out"])
        for ip, row in by_tags(rows, "auditEntry.requestHeader.X-Real-Ip").items()
    }
    assert got == expected
    assert all(":" not in ip for ip in got)  # the port is not part of the tag


# ---------------------------------------------------------------------------------------------------------------------
# IAM and Console dashboard


@check("lyve-iam-console", "IAM activity by user")
def _iam_by_user(ctx: Context) -> None:
    rows = by_tags(ctx.rows(interval="1h"), "content.user_name", with_time=True)
    expected = {key: len(items) for key, items in grouped(ctx.data.iam, lambda r: (r.user, r.hour_ns)).items()}
    assert {key: row["events"] for key, row in rows.items()} == expected
    assert sum(expected.values()) == len(ctx.data.iam) > 0


@check("lyve-iam-console", "IAM events by user, client and source")
def _iam_table(ctx: Context) -> None:
    rows = by_tags(ctx.rows(), "content.user_name", "content.client_name", "source")
    expected = {key: len(items) for key, items in grouped(ctx.data.iam, lambda r: (r.user, r.client, r.source)).items()}
    assert {key: row["events"] for key, row in rows.items()} == expected


@check("lyve-iam-console", "Console logins by user")
def _console_logins(ctx: Context) -> None:
    rows = by_tags(ctx.rows(interval="1h"), "UserIdentity.UserName", with_time=True)
    logins = [r for r in ctx.data.console if r.event == "Login"]
    expected = {key: len(items) for key, items in grouped(logins, lambda r: (r.user, r.hour_ns)).items()}
    assert {key: row["logins"] for key, row in rows.items()} == expected
    assert expected


@check("lyve-iam-console", "Console failures by user")
def _console_failures(ctx: Context) -> None:
    rows = by_tags(ctx.rows(interval="1h"), "UserIdentity.UserName", with_time=True)
    failures = [r for r in ctx.data.console if r.status == "Failure"]
    expected = {key: len(items) for key, items in grouped(failures, lambda r: (r.user, r.hour_ns)).items()}
    assert {key: row["failures"] for key, row in rows.items()} == expected
    assert expected


@check("lyve-iam-console", "Console events by user")
def _console_events(ctx: Context) -> None:
    rows = by_tags(ctx.rows(), "UserIdentity.UserName", "ConsoleEvent.Eventname")
    expected = {key: len(items) for key, items in grouped(ctx.data.console, lambda r: (r.user, r.event)).items()}
    assert {key: row["events"] for key, row in rows.items()} == expected
    assert sum(expected.values()) == len(ctx.data.console)


# ---------------------------------------------------------------------------------------------------------------------
# Pipeline health dashboard


def _ledger_hour(record: LedgerRecord) -> int:
    return int(record.key_time.replace(minute=0, second=0).timestamp()) * 10**9


@check("lyve-pipeline", "Objects loaded per hour")
def _objects_per_hour(ctx: Context) -> None:
    rows = by_tags(ctx.rows(), "kind", with_time=True)
    expected = {key: len(items) for key, items in grouped(ctx.data.ledger, lambda r: (r.kind, _ledger_hour(r))).items()}
    assert {key: row["objects"] for key, row in rows.items()} == expected
    assert expected[("s3", DAY_NS)] == 9  # 3 logged buckets x 3 objects an hour
    assert expected[("iam", DAY_NS)] == expected[("console", DAY_NS)] == 1


@check("lyve-pipeline", "Entries loaded per hour")
def _entries_per_hour(ctx: Context) -> None:
    rows = by_tags(ctx.rows(), "kind", with_time=True)
    groups = grouped(ctx.data.ledger, lambda r: (r.kind, _ledger_hour(r)))
    expected = {key: (sum(r.entries for r in items), sum(r.points for r in items)) for key, items in groups.items()}
    assert {key: (row["entries"], row["points"]) for key, row in rows.items()} == expected
    written = len(ctx.data.s3) + len(ctx.data.iam) + len(ctx.data.console)
    assert sum(points for _, points in expected.values()) == written


@check("lyve-pipeline", "Bad lines per hour")
def _bad_per_hour(ctx: Context) -> None:
    rows = by_tags(ctx.rows(), "kind", with_time=True)
    groups = grouped(ctx.data.ledger, lambda r: (r.kind, _ledger_hour(r)))
    expected = {key: sum(r.bad for r in items) for key, items in groups.items()}
    assert {key: row["bad"] for key, row in rows.items()} == expected
    assert sum(expected.values()) == ctx.data.injected_bad == 14  # 66 objects, one bad line in every fifth


def _lag(record: LedgerRecord) -> int:
    return int((record.last_modified - record.key_time).total_seconds())


@check("lyve-pipeline", "Ingest lag")
def _ingest_lag(ctx: Context) -> None:
    rows = by_tags(ctx.rows(), "kind")
    assert_single_day(list(rows.values()))
    groups = grouped(ctx.data.ledger, lambda r: r.kind)
    assert {kind: row["max"] for kind, row in rows.items()} == {k: max(map(_lag, v)) for k, v in groups.items()}
    expected_mean = {kind: sum(map(_lag, items)) / len(items) for kind, items in groups.items()}
    assert {kind: row["mean"] for kind, row in rows.items()} == pytest.approx(expected_mean, rel=1e-12)


@check("lyve-pipeline", "Loaded in range")
def _loaded_totals(ctx: Context) -> None:
    (row,) = ctx.rows()
    ledger = ctx.data.ledger
    assert (row["objects"], row["object_bytes"], row["entries"], row["bad"]) == (
        len(ledger),
        sum(r.size for r in ledger),
        sum(r.entries for r in ledger),
        sum(r.bad for r in ledger),
    )
    assert row["objects"] == HOURS * 11


@check("lyve-pipeline", "Unrecognised keys per hour")
def _unrecognised_per_hour(ctx: Context) -> None:
    rows = by_tags(ctx.rows(), with_time=True)
    assert {time: row["unrecognised"] for time, row in rows.items()} == ctx.data.unrecognised_by_hour
    assert sum(ctx.data.unrecognised_by_hour.values()) == 18  # 0+1+2+3+4+5 unknown kinds, 3 odd hours without bucket


# ---------------------------------------------------------------------------------------------------------------------
# The tests


def test_every_panel_has_a_check() -> None:
    """A panel added to a dashboard without an expected-value check here fails this guard."""
    assert set(PANELS) == set(CHECKS)


@pytest.mark.parametrize("key", sorted(CHECKS), ids=lambda key: f"{key[0]}:{key[1]}")
def test_panel_query_numbers(dataset: Dataset, key: tuple[str, str]) -> None:
    """Run the panel's queries with Grafana's substitutions and compare every value with Python's."""
    ctx = Context(dataset, PANELS[key])
    CHECKS[key](ctx)
    assert ctx.ran == {target["refId"] for target in ctx.panel["targets"]}, "a target of this panel was not checked"


def test_template_variable_queries(dataset: Dataset) -> None:
    """`$bucket` lists the logged buckets; `$api` lists the APIs seen in the selected buckets."""
    variables = {item["name"]: item for item in BOARDS["lyve-s3-api"]["templating"]["list"]}
    bucket_query = render(variables["bucket"]["query"], "1d", {})
    assert {row["value"] for row in dataset.engine.rows(bucket_query, dataset.database)} == set(LOGGED_BUCKETS)
    for buckets in (None, SOME_BUCKET):
        api_query = render(variables["api"]["query"], "1d", {"bucket": buckets})
        got = {row["value"] for row in dataset.engine.rows(api_query, dataset.database)}
        assert got == {r.api for r in s3_selected(dataset, buckets, None) if r.api}  # a tag never empty: absent
