"""Values from the log can never forge or alter a point: hostile strings through the whole pipeline to the engine,
and a property test that any string round-trips (fields exactly, tags as the documented mapping in lineproto.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from include.lyve_audit.encode import ObjectCounts, encode_lines
from include.lyve_audit.influx import InfluxTarget, open_client, write_lines
from include.lyve_audit.keys import S3
from tests.conftest import INFLUX_ORG, INFLUX_TOKEN
from tests.support.deployment import Deployment
from tests.support.influx_engine import InfluxEngine, V2WriteProxy
from tests.support.pipeline_env import unique_name

pytestmark = pytest.mark.integration

HOUR_END = datetime(2026, 1, 31, 23, tzinfo=UTC)
FORGED = 'x\naudit-01,auditEntry.api.bucket=evil message="x" 1'
HOSTILE = [
    "new\nline",
    "carriage\rreturn",
    "crlf\r\n",
    "comma,inside",
    "space inside",
    "equals=inside",
    'double"quote',
    "single'quote",
    "ends with backslash\\",
    "backslash\\ before space",
    "backslash\\,before comma",
    "backslash\\=before equals",
    "double backslash\\\\",
    FORGED,
    'lyve-pipeline,kind=s3 object="forged" 1\r\niam-01 message="y" 2',
    "#comment",
    "unicode ✓ ünïcödé",
]


def documented_tag(value: str) -> str | None:
    """The tag mapping as lineproto.py documents it, written out independently: LF → ␤, CR → ␍, a backslash at the
    end or before `,` ` ` `=` → ⧵, empty → no tag.
    """
    if value == "":
        return None
    out = []
    for index, char in enumerate(value):
        following = value[index + 1 : index + 2]
        if char == "\n":
            out.append("\u2424")
        elif char == "\r":
            out.append("\u240d")
        elif char == "\\" and following in ("", ",", " ", "="):
            out.append("\u29f5")
        else:
            out.append(char)
    return "".join(out)


def at(index: int) -> str:
    return f"2026-01-31T22:10:00.{index:09d}Z"


def s3_entry(index: int, value: str) -> dict[str, Any]:
    return {
        "serviceAccountName": value,
        "serviceAccountCreatorId": value,
        "auditEntry": {
            "time": at(index),
            "requestID": value,
            "userAgent": value,
            "api": {"name": value, "bucket": value, "statusCode": value, "object": value, "status": value},
            "requestHeader": {"X-Real-Ip": "10.1.1.1"},
        },
    }


def iam_entry(index: int, value: str) -> dict[str, Any]:
    content = {"client_name": value, "hostname": value, "user_name": value, "ip": "10.2.2.2"}
    return {"date": at(index), "organization": value, "source": value, "bucket_name": value, "created_date": value} | {
        "content": content
    }


def console_entry(index: int, value: str) -> dict[str, Any]:
    return {
        "ConsoleEvent": {"EventTime": at(index), "Eventname": value, "Status": value, "StatusCode": 200},
        "UserIdentity": {"UserName": value, "Role": value, "EventSource": value, "IPAddress": "10.3.3.3"},
    }


TAGS = {
    "audit-01": [
        "auditEntry.api.bucket",
        "auditEntry.api.name",
        "auditEntry.api.statusCode",
        "serviceAccountName",
        "serviceAccountCreatorId",
    ],
    "iam-01": ["organization", "source", "bucket_name", "content.client_name", "content.hostname", "content.user_name"],
    "console-01": ["ConsoleEvent.Eventname", "UserIdentity.UserName", "UserIdentity.Role"],
}
FIELDS = {
    "audit-01": ["auditEntry.requestID", "auditEntry.userAgent", "auditEntry.api.object", "auditEntry.api.status"],
    "iam-01": ["created_date"],
    "console-01": ["ConsoleEvent.Status", "UserIdentity.EventSource"],
}
HOSTILE_BUCKET = 'evil bucket,kind=iam "q"=1 \\'  # a logged bucket name as it appears in an object key
KEYS = {
    "audit-01": f"January-2026/S3-{HOSTILE_BUCKET}-2026-01-31-22-19-59.gz",
    "iam-01": "January-2026/IAM-2026-01-31-22-59-30.gz",
    "console-01": "January-2026/Console-2026-01-31-22-59-30.gz",
}


def test_hostile_values_from_the_log_stay_in_their_own_point(deployment: Deployment) -> None:
    """17 hostile strings in every tag and string field of all three kinds (and a hostile bucket name in an object
    key): exactly 17 points per measurement, no other measurement, each tag equal to the documented mapping, each field
    and message exactly the entry's, and one ledger point per object with the key exact. Points are written one per
    request, so a point cut in two (a line feed in a field string taken for the end of a point) would be refused.
    """
    builders = {"audit-01": s3_entry, "iam-01": iam_entry, "console-01": console_entry}
    entries = {name: [build(index, value) for index, value in enumerate(HOSTILE)] for name, build in builders.items()}
    for name, key in KEYS.items():
        deployment.put(key, [orjson.dumps(entry) for entry in entries[name]])
    summary = deployment.report(HOUR_END, {"lyve_batch_bytes": "1"})  # one point per request: any split would show
    assert {kind: row["points_written"] for kind, row in summary["by_kind"].items()} == dict.fromkeys(
        ("s3", "iam", "console"), len(HOSTILE)
    )
    measurements = deployment.engine.query("SHOW MEASUREMENTS", deployment.database)[0]["values"]
    assert sorted(row[0] for row in measurements) == [
        "audit-01",
        "console-01",
        "iam-01",
        "lyve-pipeline",
        "lyve-pipeline-plan",
        "lyve-pipeline-run",
    ]
    for name in builders:
        rows = sorted(deployment.rows(name), key=lambda row: row["time"])
        assert len(rows) == len(HOSTILE), name
        for index, (row, value) in enumerate(zip(rows, HOSTILE, strict=True)):
            assert row["time"] % 1_000_000_000 == index, name
            assert {tag: row[tag] for tag in TAGS[name]} == dict.fromkeys(TAGS[name], documented_tag(value)), value
            assert {field: row[field] for field in FIELDS[name]} == dict.fromkeys(FIELDS[name], value), value
            assert row["message"] == orjson.dumps(entries[name][index]).decode()
    ledger = deployment.rows("lyve-pipeline", '"object", "bucket", "kind"')
    assert sorted((row["object"], row["bucket"], row["kind"]) for row in ledger) == sorted(
        [
            (KEYS["audit-01"], documented_tag(HOSTILE_BUCKET), "s3"),
            (KEYS["iam-01"], None, "iam"),
            (KEYS["console-01"], None, "console"),
        ]
    )


@pytest.fixture(scope="module")
def probe_target(influx: tuple[InfluxEngine, V2WriteProxy]) -> tuple[InfluxEngine, InfluxTarget]:
    engine, proxy = influx
    database = unique_name("property")
    engine.create_database(database)
    return engine, InfluxTarget(url=proxy.url, org=INFLUX_ORG, bucket=database, token=INFLUX_TOKEN)


@pytest.fixture(scope="module")
def point_times() -> Iterator[int]:
    return itertools.count(1_769_896_800_000_000_000)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tag_value=st.text(max_size=40), field_value=st.text(max_size=40))
def test_any_string_round_trips_through_the_engine(
    probe_target: tuple[InfluxEngine, InfluxTarget], point_times: Iterator[int], tag_value: str, field_value: str
) -> None:
    """Property: one S3 entry with an arbitrary string as the bucket (a tag) and as the user agent (a field), encoded by
    the pipeline's encoder and written by its writer, is one point whose tag equals the documented mapping, whose field
    equals the string exactly (empty: left out), and whose message is the entry's JSON exactly.
    """
    engine, target = probe_target
    time_ns = next(point_times)
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    stamp = (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    entry = {"auditEntry": {"time": f"{stamp}.{nanos:09d}Z", "userAgent": field_value, "api": {"bucket": tag_value}}}
    raw = orjson.dumps(entry)
    counts = ObjectCounts()
    lines = list(encode_lines([(1, [raw])], S3, "probe", counts, lambda record: None))
    assert counts.bad == 0 and len(lines) == 1
    with open_client(target) as client:
        write_lines(client, target, [lines[0].encode()])
    rows = engine.rows(f'SELECT * FROM "audit-01" WHERE time = {time_ns}', target.bucket)
    assert len(rows) == 1
    assert rows[0].get("auditEntry.api.bucket") == documented_tag(tag_value)
    assert rows[0].get("auditEntry.userAgent") == (field_value or None)
    assert rows[0]["message"] == raw.decode()
