"""Hostile and broken input, through the real pipeline (S3Hook on moto → parse → stage → influxdb-client → engine).

Each case states its exact outcome: which lines become points (read back by request ID), which are quarantined with
object key, line number and reason, and what the report counts. Everything else in the object is loaded. The
bad-line threshold is set to 100 % here so that every case runs to the end; the threshold has its own test.
"""

from __future__ import annotations

import gzip
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from include.lyve_audit.stage import default_quarantine_root, quarantine_folder, safe_name
from tests.support.deployment import Deployment
from tests.support.pipeline_env import run_interval

pytestmark = pytest.mark.integration

HOUR_END = datetime(2026, 1, 31, 23, tzinfo=UTC)
KEY = "January-2026/S3-media-assets-2026-01-31-22-19-59.gz"
HOUR_START = HOUR_END - timedelta(hours=1)
LENIENT = {"lyve_max_bad_ratio": "1.0"}  # Airflow Variables for the DAG's run


def entry(index: int, **api: Any) -> dict[str, Any]:
    """A valid S3 API entry with its own request ID and time (so each is its own point)."""
    audit: dict[str, Any] = {
        "time": f"2026-01-31T22:10:{index % 60:02d}.{index:09d}Z",
        "requestID": f"R{index}",
        "userAgent": "MinIO (linux; amd64) minio-go/v7.0.63",
        "api": {"name": "GetObject", "bucket": "media-assets", "statusCode": 200, "timeToResponse": "1500ns"} | api,
        "requestHeader": {"X-Real-Ip": "10.0.0.1:5000"},
    }
    return {"auditEntry": audit, "serviceAccountName": "svc"}


def line(index: int, **api: Any) -> bytes:
    return orjson.dumps(entry(index, **api))


def with_time(index: int, time: Any) -> bytes:
    value = entry(index)
    if time is None:
        del value["auditEntry"]["time"]
    else:
        value["auditEntry"]["time"] = time
    return orjson.dumps(value)


def loaded_ids(deployment: Deployment) -> list[str]:
    return sorted(row["auditEntry.requestID"] for row in deployment.rows("audit-01", '"auditEntry.requestID"'))


def ids(*indexes: int) -> list[str]:
    return sorted(f"R{index}" for index in indexes)


def quarantine_view(deployment: Deployment) -> list[tuple[int, str]]:
    records = deployment.quarantined()
    assert all(record["object_key"] == KEY for record in records)
    return [(record["line"], record["reason"]) for record in records]


# (lines joined by "\n" and gzip'd, loaded request IDs, quarantined (line, reason prefix))
LINE_CASES = [
    pytest.param([line(1), b"", b"   ", b"\t", b"\r", line(2)], ids(1, 2), [], id="empty-and-whitespace-lines"),
    pytest.param([line(1), b"{not json", line(2)], ids(1, 2), [(2, "not JSON: ")], id="non-json-line"),
    pytest.param(
        [line(1), b"[1, 2]", b'"text"', b"42", b"null", b"true", line(2)],
        ids(1, 2),
        [
            (2, "JSON list, not an object"),
            (3, "JSON str, not an object"),
            (4, "JSON int, not an object"),
            (5, "JSON NoneType, not an object"),
            (6, "JSON bool, not an object"),
        ],
        id="json-that-is-not-an-object",
    ),
    pytest.param(
        [line(1, statusCode="200"), line(2, timeToResponse=1500), line(3, timeToResponse=1.5e3), line(4, rx="12")],
        ids(1, 2, 3, 4),
        [],
        id="acceptable-other-types",
    ),
    pytest.param(
        [
            line(1),
            line(2, timeToResponse="abc"),
            line(3, timeToResponse=-5),
            line(4, timeToResponse="-5ns"),
            line(5, rx="x"),
            line(6, statusCode={"code": 200}),
            line(7, timeToResponse=True),
            line(8),
        ],
        ids(1, 8),
        [
            (2, "auditEntry.api.timeToResponse: not a duration: 'abc'"),
            (3, "auditEntry.api.timeToResponse: negative duration: -5"),
            (4, "auditEntry.api.timeToResponse: not a duration: '-5ns'"),
            (5, "auditEntry.api.rx: not an integer: 'x'"),
            (6, "auditEntry.api.statusCode: expected bool | int | float | str | null, got object"),
            (7, "auditEntry.api.timeToResponse: expected int | float | str | null, got bool"),
        ],
        id="wrong-types",
    ),
    pytest.param(
        [
            line(1, rx=2**63 - 1, tx=-(2**63)),
            line(2, rx=2**63),
            line(3, timeToResponse="9223372036854775808ns"),
            line(4, timeToResponse=2**64 - 1),
            line(5).replace(b'"timeToResponse"', b'"tx":-9223372036854775809,"timeToResponse"'),
            line(6, statusCode=2**64 - 1),
            line(7),
        ],
        ids(1, 6, 7),
        [
            (2, "auditEntry.api.rx: outside InfluxDB's integer range (signed 64-bit): 9223372036854775808"),
            (3, "auditEntry.api.timeToResponse: outside InfluxDB's integer range"),
            (4, "auditEntry.api.timeToResponse: outside InfluxDB's integer range"),
            (5, "auditEntry.api.tx: outside InfluxDB's integer range (signed 64-bit): -9223372036854775809"),
        ],
        id="integers-beyond-signed-64-bit",
    ),
    pytest.param(
        [with_time(1, None), with_time(2, 1769897400), with_time(3, ""), line(4)],
        ids(4),
        [(number, "auditEntry.time: missing or not a string") for number in (1, 2, 3)],
        id="missing-time",
    ),
    pytest.param(
        [
            with_time(1, "2026-13-01T00:00:00Z"),
            with_time(2, "0000-01-01T00:00:00Z"),
            with_time(3, "2026-02-30T00:00:00Z"),
            with_time(4, "2026-01-31T25:00:00Z"),
            with_time(5, "yesterday"),
            with_time(6, "0001-01-01T00:00:00Z"),
            with_time(7, "9999-12-31T23:59:59Z"),
            line(8),
        ],
        ids(8),
        [
            (1, "auditEntry.time: impossible time: '2026-13-01T00:00:00Z' (month must be in 1..12)"),
            (2, "auditEntry.time: impossible time: '0000-01-01T00:00:00Z' (year 0 is out of range)"),
            (3, "auditEntry.time: impossible time: '2026-02-30T00:00:00Z' (day is out of range for month)"),
            (4, "auditEntry.time: impossible time: '2026-01-31T25:00:00Z'"),
            (5, "auditEntry.time: not a time: 'yesterday'"),
            (6, "time outside InfluxDB's range (1677-09-21 to 2262-04-11)"),
            (7, "time outside InfluxDB's range (1677-09-21 to 2262-04-11)"),
        ],
        id="impossible-and-unstorable-times",
    ),
    pytest.param(
        [line(1), b'{"auditEntry": {"requestID": "x\x00y"}}', b"\x00\x00\x00", line(2, bucket="nul\u0000inside")],
        ids(1, 2),
        [(2, "not JSON: "), (3, "not JSON: ")],
        id="nul-bytes-raw-are-bad-escaped-are-data",
    ),
    pytest.param(
        [line(1), b'{"auditEntry": {"requestID": "\xff\xfe"}}', line(2).replace(b"svc", b"sv\xc3")],
        ids(1),
        [(2, "not JSON: str is not valid UTF-8"), (3, "not JSON: str is not valid UTF-8")],
        id="invalid-utf8",
    ),
    pytest.param(
        [
            line(1),
            b"[" * 10_000 + b"]" * 10_000,
            b'{"auditEntry": ' + b'{"a": ' * 10_000 + b"1" + b"}" * 10_001,
            line(2),
        ],
        ids(1, 2),
        [(2, "not JSON: "), (3, "not JSON: ")],
        id="nested-10000-levels",
    ),
    pytest.param(
        [line(1), line(2, bucket="b" * 70_000), line(3)],
        ids(1, 3),
        [(2, "tags too long for InfluxDB: series key of ")],
        id="tag-too-long-for-a-series-key",
    ),
]


@pytest.mark.parametrize(("lines", "loaded", "quarantined"), LINE_CASES)
def test_bad_lines_are_quarantined_and_the_rest_loaded(
    deployment: Deployment, lines: list[bytes], loaded: list[str], quarantined: list[tuple[int, str]]
) -> None:
    """Exactly the good lines become points; each bad one is quarantined with its line number and reason."""
    deployment.put(KEY, lines)
    summary = deployment.report(HOUR_END, LENIENT)
    assert loaded_ids(deployment) == loaded
    view = quarantine_view(deployment)
    assert [number for number, _ in view] == [number for number, _ in quarantined]
    for (_, reason), (_, expected) in zip(view, quarantined, strict=True):
        assert reason.startswith(expected), (reason, expected)
    row = summary["by_kind"]["s3"]
    assert (row["entries_bad"], row["points_written"]) == (len(quarantined), len(loaded))
    ledger = deployment.rows("lyve-pipeline", '"object", "entries", "bad", "points"')
    assert [(r["object"], r["entries"], r["bad"], r["points"]) for r in ledger] == [
        (KEY, len(loaded) + len(quarantined), len(quarantined), len(loaded))
    ]


def test_values_of_other_types_and_nul_read_back_as_documented(deployment: Deployment) -> None:
    """statusCode "200" and 200 give one tag "200"; a numeric timeToResponse is integer ns; an escaped NUL stays."""
    deployment.put(
        KEY,
        [
            line(1, statusCode="200"),
            line(2, statusCode=200),
            line(3, timeToResponse=1500),
            line(4, timeToResponse="1.5ms"),
            line(5, bucket="nul\u0000inside"),
        ],
    )
    deployment.run(HOUR_END, LENIENT)
    rows = {row["auditEntry.requestID"]: row for row in deployment.rows("audit-01")}
    assert rows["R1"]["auditEntry.api.statusCode"] == rows["R2"]["auditEntry.api.statusCode"] == "200"
    assert rows["R3"]["auditEntry.api.timeToResponse"] == 1500
    assert rows["R4"]["auditEntry.api.timeToResponse"] == 1_500_000
    assert rows["R5"]["auditEntry.api.bucket"] == "nul\u0000inside"
    assert orjson.loads(rows["R5"]["message"]) == entry(5, bucket="nul\u0000inside")


def compressed(lines: list[bytes]) -> bytes:
    return gzip.compress(b"".join(item + b"\n" for item in lines), mtime=0)


def recoverable_lines(body: bytes) -> int:
    """Complete lines zlib can recover from a damaged gzip body (computed apart from the pipeline's reader)."""
    return zlib.decompressobj(wbits=31).decompress(body).count(b"\n")


OBJECT_CASES = [
    pytest.param(b"", 0, None, id="empty-object"),
    pytest.param(compressed([]), 0, None, id="gzip-of-nothing"),
    pytest.param(b"".join(item + b"\n" for item in [line(1), line(2)]), 0, "not gzip or corrupt", id="not-gzip"),
    pytest.param(
        compressed([line(i) for i in range(1, 6)]) + b"trailing junk", 5, "not gzip or corrupt", id="junk-tail"
    ),
    pytest.param(
        compressed([line(i) for i in range(1, 301)])[:-700], None, "gzip stream ends early (truncated object)", id="cut"
    ),
    pytest.param(b"\x1f\x8b\x08\x00\x00\x00", 0, "gzip stream ends early (truncated object)", id="gzip-header-only"),
]


@pytest.mark.parametrize(("body", "complete", "reason"), OBJECT_CASES)
def test_damaged_objects_give_up_every_complete_line(
    deployment: Deployment, body: bytes, complete: int | None, reason: str | None
) -> None:
    """Every complete line before the damage is loaded; the damage is one quarantined record naming the object and
    the line after the last complete one; an empty object is loaded as 0 entries (and recorded in the ledger).
    """
    if complete is None:
        complete = recoverable_lines(body)
        assert 0 < complete < 300
    deployment.put(KEY, body=body)
    summary = deployment.report(HOUR_END, LENIENT)
    assert loaded_ids(deployment) == ids(*range(1, complete + 1))
    view = quarantine_view(deployment)
    if reason is None:
        assert view == []
    else:
        assert view == [(complete + 1, f"{KEY}: {reason}" + view[0][1].removeprefix(f"{KEY}: {reason}"))]
        assert view[0][1].endswith(f"after line {complete}")
    assert summary["by_kind"]["s3"]["points_written"] == complete
    assert deployment.ledger_keys() == [KEY]


def test_crlf_lines_load_without_the_carriage_return(deployment: Deployment) -> None:
    """CRLF files load every line; the message field holds the JSON without the trailing CR."""
    deployment.put(KEY, body=gzip.compress(b"".join(line(i) + b"\r\n" for i in range(1, 51))))
    deployment.run(HOUR_END, LENIENT)
    rows = deployment.rows("audit-01", '"auditEntry.requestID", "message"')
    assert len(rows) == 50
    assert all(row["message"] == line(int(row["auditEntry.requestID"][1:])).decode() for row in rows)
    assert deployment.quarantined() == []


def test_a_10_mb_line_is_loaded_whole(deployment: Deployment) -> None:
    """One 10 MiB user agent: the entry loads whole (field and message) next to the ordinary lines."""
    agent = "A" * (10 << 20)
    big = orjson.dumps(entry(2) | {"auditEntry": entry(2)["auditEntry"] | {"userAgent": agent}})
    deployment.put(KEY, [line(1), big, line(3)])
    deployment.run(HOUR_END, LENIENT)
    assert loaded_ids(deployment) == ids(1, 2, 3)
    rows = deployment.engine.rows(
        'SELECT "auditEntry.userAgent", "message" FROM "audit-01" WHERE "auditEntry.requestID" = \'R2\'',
        deployment.database,
    )
    assert rows[0]["auditEntry.userAgent"] == agent
    assert rows[0]["message"] == big.decode()


def test_a_line_past_the_line_limit_variable_is_quarantined_by_its_length(deployment: Deployment) -> None:
    """`lyve_max_line_bytes` bounds a line: one past it is quarantined by its length (its first bytes kept), the
    lines around it load."""
    big = orjson.dumps(entry(2) | {"auditEntry": entry(2)["auditEntry"] | {"userAgent": "A" * 20_000}})
    deployment.put(KEY, [line(1), big, line(3)])
    deployment.run(HOUR_END, LENIENT | {"lyve_max_line_bytes": "16384"})
    assert loaded_ids(deployment) == ids(1, 3)
    [record] = deployment.quarantined()
    assert (record["line"], record["reason"]) == (
        2,
        f"line of {len(big):,} bytes, longer than the limit of 16,384: not read",
    )
    assert record["text"] == big[:2048].decode()


def test_keys_that_are_not_audit_logs_are_skipped_and_counted(deployment: Deployment) -> None:
    """7 keys that are not audit logs (other files, impossible stamps, unknown kinds) are counted and never read."""
    not_logs = [
        "January-2026/README.txt",
        "January-2026/S3-media-2026-13-01-22-00-00.gz",
        "January-2026/S3-media-2026-01-31-25-00-00.gz",
        "January-2026/S3-media-2026-02-30-22-00-00.gz",
        "January-2026/S3--2026-01-31-22-10-00.gz",
        "January-2026/Billing-2026-01-31-22-10-00.gz",
        "January-2026/nested/S3-media-2026-01-31-22-10-00.gz",
    ]
    for key in not_logs:
        deployment.put(key, body=b"not read")
    deployment.put(KEY, [line(1), line(2)])
    summary = deployment.report(HOUR_END, LENIENT)
    assert summary["keys_not_audit_logs"] == len(not_logs)
    assert summary["by_kind"]["s3"]["objects_selected"] == 1
    assert loaded_ids(deployment) == ids(1, 2)
    assert deployment.ledger_keys() == [KEY] and deployment.quarantined() == []


def test_the_same_object_in_two_month_folders_gives_one_copy_of_its_points(deployment: Deployment) -> None:
    """An object stamped 23:59:59 on Jan 31 filed in both January's and February's folder: the hour ending Feb 1
    lists both folders and takes both objects (2 ledger records), and the points are one copy (same points overwrite).
    """
    name = "S3-media-assets-2026-01-31-23-59-59.gz"
    lines = [
        orjson.dumps(entry(i) | {"auditEntry": entry(i)["auditEntry"] | {"time": f"2026-01-31T23:30:{i:02d}Z"}})
        for i in range(1, 21)
    ]
    for folder in ("January-2026/", "February-2026/"):
        deployment.put(folder + name, lines)
    summary = deployment.report(HOUR_END + timedelta(hours=1), LENIENT)
    assert summary["by_kind"]["s3"]["objects_selected"] == 2
    assert loaded_ids(deployment) == ids(*range(1, 21))
    assert deployment.ledger_keys() == ["February-2026/" + name, "January-2026/" + name]


def test_too_many_bad_lines_name_the_object_and_its_quarantine_file(
    deployment: Deployment, capfd: pytest.CaptureFixture[str]
) -> None:
    """2 bad of 10 lines is above the default 1 %: parse_objects fails at once (TooManyBadLines), naming object,
    counts and quarantine file (the interval's folder beside the stage)."""
    deployment.put(KEY, [line(i) for i in range(1, 9)] + [b"{bad", b"[]"])
    run = run_interval(HOUR_END)
    text = "".join(capfd.readouterr())
    assert run.state == "failed"
    parse = next(ti for ti in run.get_task_instances() if ti.task_id == "parse_objects")
    assert (parse.state, parse.try_number) == ("failed", 1)
    quarantine = quarantine_folder(default_quarantine_root(deployment.stage), HOUR_START, 60)
    assert f"{KEY}: 2 bad of 10 lines (see file://{quarantine / safe_name(KEY)}.jsonl)" in text
    assert [record["line"] for record in deployment.quarantined()] == [9, 10]


def test_colliding_entries_of_two_objects_are_one_point_the_last_loaded_wins(deployment: Deployment) -> None:
    """Entries are compared within an object only (docs/guarantees.md): a distinct entry of another object with the
    same measurement, tags and nanosecond is the same InfluxDB point, so the object loaded last (groups load in
    parallel) overwrites its fields. Within one object both are kept (the second moved by 1 ns)."""
    first, second = line(1), line(1).replace(b'"R1"', b'"R1-other"')
    earlier, later = KEY, KEY.replace("22-19-59", "22-39-59")
    deployment.put(earlier, [first])
    deployment.put(later, [second])
    deployment.run(HOUR_END)
    assert loaded_ids(deployment) in (["R1"], ["R1-other"])
    assert deployment.ledger_keys() == [earlier, later]
    deployment.put(later, [first, second])  # the same two entries in one object: both kept
    deployment.run(HOUR_END)
    assert loaded_ids(deployment) == ["R1", "R1-other"]
