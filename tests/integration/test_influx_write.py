"""Writing through influxdb-client: values read back from the real engine, and the InfluxDB 2 error answers.

The error answers (401, 404, 503 with Retry-After, 413, 400) come from a stub, since no InfluxDB 2 server can be run
here; it answers as the InfluxDB 2 API documents (JSON body with `code` and `message`, `Retry-After` in seconds).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from include.lyve_audit.errors import DestinationError, DestinationUnavailable, PermanentError
from include.lyve_audit.influx import (
    InfluxTarget,
    LedgerRecord,
    ledger_line,
    loaded_keys,
    open_client,
    write_lines,
    write_retries,
)
from include.lyve_audit.lineproto import escape_field_string, tag_set
from tests.conftest import INFLUX_ORG, INFLUX_TOKEN
from tests.support.influx_engine import InfluxEngine, V2WriteProxy
from tests.support.influx_stub import StubInflux2
from tests.support.pipeline_env import unique_name

pytestmark = pytest.mark.integration


@pytest.fixture
def database(influx: tuple[InfluxEngine, V2WriteProxy]) -> tuple[InfluxEngine, InfluxTarget]:
    engine, proxy = influx
    name = unique_name("write")
    engine.create_database(name)
    return engine, InfluxTarget(url=proxy.url, org=INFLUX_ORG, bucket=name, token=INFLUX_TOKEN)


HOSTILE = [
    "plain",
    "with space",
    "comma,inside",
    "equals=inside",
    'quote"inside',
    "ends with backslash\\",
    "back\\slash, then comma",
    'x\naudit-01,auditEntry.api.bucket=evil message="x" 1',
    "carriage\rreturn",
    "unicode ✓ ünïcödé",
]
TAG_MAPPED = {
    "ends with backslash\\": "ends with backslash\u29f5",
    "back\\slash, then comma": "back\\slash, then comma",
    'x\naudit-01,auditEntry.api.bucket=evil message="x" 1': 'x\u2424audit-01,auditEntry.api.bucket=evil message="x" 1',
    "carriage\rreturn": "carriage\u240dreturn",
}


def test_hostile_values_stay_in_their_own_point(database: tuple[InfluxEngine, InfluxTarget]) -> None:
    engine, target = database
    lines = [
        f"probe{tag_set([('who', value)])} value={escape_field_string(value)},n={index}i {1_000 + index}".encode()
        for index, value in enumerate(HOSTILE)
    ]
    with open_client(target) as client:
        assert write_lines(client, target, lines) == len(HOSTILE)
    rows = sorted(engine.rows('SELECT * FROM "probe"', target.bucket), key=lambda row: row["n"])
    assert len(rows) == len(HOSTILE)
    assert [row["value"] for row in rows] == HOSTILE
    assert [row["who"] for row in rows] == [TAG_MAPPED.get(value, value) for value in HOSTILE]
    assert engine.query("SHOW MEASUREMENTS", target.bucket)[0]["values"] == [["probe"]]


def test_rewriting_the_same_lines_changes_nothing(database: tuple[InfluxEngine, InfluxTarget]) -> None:
    engine, target = database
    lines = [f"m,t=a v={index}i {index}".encode() for index in range(10_000)]
    with open_client(target) as client:
        write_lines(client, target, lines, batch_bytes=4096)
        write_lines(client, target, lines, batch_bytes=50_000)
    assert engine.query('SELECT COUNT("v"), SUM("v") FROM "m"', target.bucket)[0]["values"][0][1:] == [10_000, 49995000]


def test_ledger_round_trip(database: tuple[InfluxEngine, InfluxTarget]) -> None:
    _, target = database

    def record(key: str, hour: int) -> LedgerRecord:
        stamp = datetime(2026, 1, 10, hour, 59, 59, tzinfo=UTC)
        return LedgerRecord(key, "iam", None, stamp, stamp, 10, 5, 5, 0)

    keys = [f"January-2026/IAM-node{index}-2026-01-10-{hour:02d}-59-59.gz" for index in range(3) for hour in (10, 11)]
    with open_client(target) as client:
        assert (
            loaded_keys(client, target, datetime(2026, 1, 10, tzinfo=UTC), datetime(2026, 1, 11, tzinfo=UTC)) == set()
        )
        write_lines(client, target, [ledger_line(record(key, int(key[-11:-9]))) for key in keys])
        write_lines(client, target, [ledger_line(record(keys[0], 10))])  # a reload rewrites its own point
        window = loaded_keys(
            client, target, datetime(2026, 1, 10, 11, tzinfo=UTC), datetime(2026, 1, 10, 12, tzinfo=UTC)
        )
        everything = loaded_keys(client, target, datetime(2026, 1, 10, tzinfo=UTC), datetime(2026, 1, 11, tzinfo=UTC))
    assert window == {key for key in keys if "-11-59-59" in key}
    assert everything == set(keys)


@pytest.fixture
def stub_factory() -> Iterator[Any]:
    stubs: list[StubInflux2] = []

    def make(answers: list[tuple[int, dict[str, str], dict[str, Any]]]) -> StubInflux2:
        stubs.append(StubInflux2(answers))
        return stubs[-1]

    yield make
    for stub in stubs:
        stub.close()


@pytest.mark.parametrize(
    ("status", "message"),
    [
        pytest.param(401, "token rejected (HTTP 401) for bucket 'audit' of org 'acme'", id="unauthorized"),
        pytest.param(403, "token rejected (HTTP 403) for bucket 'audit' of org 'acme'", id="forbidden"),
        pytest.param(404, "bucket 'audit' of org 'acme' at http://127.0.0.1:", id="bucket-not-found"),
    ],
)
def test_unfixable_answers_fail_at_once_naming_bucket_and_org(stub_factory: Any, status: int, message: str) -> None:
    stub = stub_factory([(status, {"Content-Type": "application/json"}, {"code": "unauthorized", "message": "no"})])
    with open_client(stub.target) as client, pytest.raises(DestinationError) as raised:
        write_lines(client, stub.target, [b"m v=1i 1"])
    assert message in str(raised.value)
    assert "s3cr3t-token" not in str(raised.value)
    assert len(stub.requests) == 1, "no retries for an answer that retrying cannot change"


def test_retry_after_is_honoured_then_the_write_succeeds(stub_factory: Any) -> None:
    stub = stub_factory(
        [
            (503, {"Retry-After": "2"}, {"code": "unavailable", "message": "busy"}),
            (429, {"Retry-After": "1"}, {"code": "too many requests", "message": "slow down"}),
        ]
    )
    with open_client(stub.target, write_retries(total=4, backoff_factor=0.01)) as client:
        assert write_lines(client, stub.target, [b"m v=1i 1", b"m v=2i 2"]) == 2
    assert len(stub.requests) == 3
    gaps = [later[0] - earlier[0] for earlier, later in zip(stub.requests, stub.requests[1:], strict=False)]
    assert gaps[0] >= 1.9 and gaps[1] >= 0.9
    assert stub.requests[-1][2].get("Content-Encoding") == "gzip"
    assert stub.requests[-1][1].startswith("/api/v2/write?org=acme&bucket=audit&precision=ns")


def test_overload_beyond_the_client_retries_is_retryable(stub_factory: Any) -> None:
    """A 503 that outlasts urllib3's retries is not permanent: the task must fail as retryable (Airflow retries it)."""
    busy = (503, {"Retry-After": "0"}, {"code": "unavailable", "message": "busy"})
    stub = stub_factory([busy, busy, busy])
    with open_client(stub.target, write_retries(total=2, backoff_factor=0.01)) as client:
        with pytest.raises(DestinationUnavailable, match=r"HTTP 503") as raised:
            write_lines(client, stub.target, [b"m v=1i 1"])
    assert not isinstance(raised.value, PermanentError)
    assert len(stub.requests) == 3


def test_too_large_batch_is_split(stub_factory: Any) -> None:
    stub = stub_factory([(413, {}, {"code": "request too large", "message": "too large"})])
    lines = [f"m v={index}i {index}".encode() for index in range(10)]
    with open_client(stub.target) as client:
        assert write_lines(client, stub.target, lines) == 10
    assert len(stub.requests) == 3


def test_rejected_lines_name_the_first_rejected_line(stub_factory: Any) -> None:
    body = {"code": "invalid", "message": "partial write: unable to parse 'm v=' : missing field value; line 1"}
    stub = stub_factory([(400, {"Content-Type": "application/json"}, body)])
    with open_client(stub.target) as client, pytest.raises(DestinationError, match=r"rejected lines .*line 1"):
        write_lines(client, stub.target, [b"m v="])
    assert len(stub.requests) == 1
