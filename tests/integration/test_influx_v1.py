"""The InfluxDB 1.x API (`/write`, `/query`) against the real 1.x engine with no proxy, and InfluxDB 3's answers.

InfluxDB 3 cannot run here: its answers (a 400 listing the rejected lines, 503 with Retry-After) come from a stub that
answers as InfluxDB 3 Core documents them (`{"error": …, "data": [{"original_line", "line_number", "error_message"}]}`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from include.lyve_audit.errors import DestinationError, DestinationUnavailable, PartialWrite
from include.lyve_audit.influx import (
    InfluxTarget,
    LedgerRecord,
    ledger_line,
    loaded_keys,
    open_client,
    write_lines,
    write_retries,
)
from tests.support.influx_engine import InfluxEngine, V2WriteProxy
from tests.support.influx_stub import StubInflux2
from tests.support.pipeline_env import unique_name

pytestmark = pytest.mark.integration

DAY = (datetime(2026, 1, 10, tzinfo=UTC), datetime(2026, 1, 11, tzinfo=UTC))


@pytest.fixture
def database(influx: tuple[InfluxEngine, V2WriteProxy]) -> tuple[InfluxEngine, InfluxTarget]:
    """A fresh database on the engine itself (no proxy), addressed with API version 1."""
    engine, _ = influx
    name = unique_name("v1")
    engine.create_database(name)
    return engine, InfluxTarget(url=engine.url, org="", bucket=name, token="", api_version=1)


def ledger_record(key: str) -> LedgerRecord:
    stamp = datetime(2026, 1, 10, int(key[-11:-9]), 59, 59, tzinfo=UTC)
    return LedgerRecord(key, "iam", None, stamp, stamp, 10, 5, 5, 0)


def test_write_and_ledger_over_the_1x_api(database: tuple[InfluxEngine, InfluxTarget]) -> None:
    engine, target = database
    lines = [f"m,t=a v={index}i {index}".encode() for index in range(5_000)]
    keys = [f"January-2026/IAM-node{index}-2026-01-10-{hour:02d}-59-59.gz" for index in range(3) for hour in (10, 11)]
    with open_client(target) as client:
        assert client.v2 is None
        assert loaded_keys(client, target, *DAY) == set()
        assert write_lines(client, target, lines, batch_bytes=8192) == 5_000
        write_lines(client, target, lines)  # a rewrite changes nothing
        write_lines(client, target, [ledger_line(ledger_record(key)) for key in keys])
        hour_11 = loaded_keys(
            client, target, datetime(2026, 1, 10, 11, tzinfo=UTC), datetime(2026, 1, 10, 12, tzinfo=UTC)
        )
        everything = loaded_keys(client, target, *DAY)
    assert engine.query('SELECT COUNT("v"), SUM("v") FROM "m"', target.bucket)[0]["values"][0][1:] == [5_000, 12497500]
    assert hour_11 == {key for key in keys if "-11-59-59" in key}
    assert everything == set(keys)


def test_api_version_is_asked_from_ping(database: tuple[InfluxEngine, InfluxTarget]) -> None:
    engine, target = database
    with open_client(replace(target, api_version=None)) as client:
        assert client.target.api_version == 1
        assert client.target.describe() == f"database {target.bucket!r} at {engine.url}"
        write_lines(client, client.target, [b"m v=1i 1"])
    assert engine.count("m", target.bucket, field="v") == 1


@pytest.mark.parametrize(
    ("batch", "rejected"),
    [
        pytest.param(
            [b'm,t=a v="text" 2', b"m,t=a v=3i 3", b'm,t=b w=1i,v="x" 4'],
            ['m,t=a v="text" 2', 'm,t=b w=1i,v="x" 4'],
            id="field-type-conflict",
        ),
        pytest.param([b"m,t=a v=3i 3", b"not line protocol"], ["not line protocol"], id="unparsable"),
    ],
)
def test_partial_write_names_the_rejected_lines_and_keeps_the_others(
    database: tuple[InfluxEngine, InfluxTarget], batch: list[bytes], rejected: list[str]
) -> None:
    """The engine keeps the good lines and answers 400 `partial write … dropped=N`; a rewrite changes nothing."""
    engine, target = database
    with open_client(target) as client:
        write_lines(client, target, [b"m,t=a v=1i 1"])
        for _ in range(2):  # a task retry rewrites the batch: same points, same rejection
            with pytest.raises(PartialWrite) as raised:
                write_lines(client, target, batch)
            assert raised.value.rejected == rejected
    assert isinstance(raised.value, DestinationError)
    assert "rejected lines (HTTP 400)" in str(raised.value) and "partial write" in str(raised.value)
    rows = engine.rows('SELECT "v" FROM "m"', target.bucket)
    assert sorted((row["time"], row["v"]) for row in rows) == [(1, 1), (3, 3)]


def test_missing_database_fails_at_once(database: tuple[InfluxEngine, InfluxTarget]) -> None:
    _, target = database
    missing = replace(target, bucket=unique_name("absent"))
    with open_client(missing) as client:
        with pytest.raises(DestinationError, match=r"database 'absent-\w+' at .* not found \(HTTP 404\)"):
            write_lines(client, missing, [b"m v=1i 1"])
        with pytest.raises(DestinationError, match=r"not found: database not found"):
            loaded_keys(client, missing, *DAY)


@pytest.fixture(scope="module")
def secured_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxEngine]:
    """An engine with authentication on, an admin and a database."""
    engine = InfluxEngine(Path(tmp_path_factory.mktemp("influx-auth")), auth_enabled=True).start()
    engine.query("CREATE USER lyve WITH PASSWORD 'pw-9c1e' WITH ALL PRIVILEGES", method="POST")
    engine.create_database("audit", user=("lyve", "pw-9c1e"))
    yield engine
    engine.stop()


def test_user_and_password(secured_engine: InfluxEngine) -> None:
    target = InfluxTarget(
        url=secured_engine.url, org="", bucket="audit", token="", api_version=1, username="lyve", password="pw-9c1e"
    )
    with open_client(target) as client:
        write_lines(client, target, [ledger_line(ledger_record("January-2026/IAM-n-2026-01-10-10-59-59.gz"))])
        assert loaded_keys(client, target, *DAY) == {"January-2026/IAM-n-2026-01-10-10-59-59.gz"}
    wrong = replace(target, password="wrong")
    assert "wrong" not in repr(wrong)
    with open_client(wrong) as client, pytest.raises(DestinationError, match=r"token rejected \(HTTP 401\)") as raised:
        write_lines(client, wrong, [b"m v=1i 1"])
    assert "wrong" not in str(raised.value)


@pytest.fixture
def influx3() -> Iterator[Any]:
    stubs: list[StubInflux2] = []

    def make(answers: list[tuple[int, dict[str, str], dict[str, Any]]]) -> StubInflux2:
        stubs.append(StubInflux2(answers, version="3.3.0"))
        return stubs[-1]

    yield make
    for stub in stubs:
        stub.close()


@pytest.mark.parametrize("api_version", [pytest.param(1, id="v1-write"), pytest.param(2, id="v2-write")])
def test_influxdb3_partial_write_lists_the_rejected_lines(influx3: Any, api_version: int) -> None:
    rejected = [
        {"original_line": "m,host=a v=1i,host=1i 2", "line_number": 2, "error_message": "host is both tag and field"},
        {"original_line": "m v=", "line_number": 4, "error_message": "missing field value"},
    ]
    body = {"error": "partial write of line protocol occurred", "data": rejected}
    stub = influx3([(400, {"Content-Type": "application/json"}, body)])
    target = replace(stub.target, api_version=api_version)
    with open_client(target) as client, pytest.raises(PartialWrite) as raised:
        write_lines(client, target, [b"m v=1i 1", b"m,host=a v=1i,host=1i 2", b"m v=3i 3", b"m v="])
    assert raised.value.rejected == [
        "line 2: m,host=a v=1i,host=1i 2 (host is both tag and field)",
        "line 4: m v= (missing field value)",
    ]
    assert "2 dropped" in str(raised.value) and "s3cr3t-token" not in str(raised.value)
    assert len(stub.requests) == 1
    path = "/write?db=audit&precision=ns" if api_version == 1 else "/api/v2/write?org=acme&bucket=audit&precision=ns"
    assert stub.requests[0][1] == path
    assert stub.requests[0][2]["Authorization"] == "Token s3cr3t-token"


def test_influxdb3_retry_after_then_unavailable(influx3: Any) -> None:
    """503 with Retry-After is waited for; beyond the client's retries it is retryable, not permanent."""
    busy = (503, {"Retry-After": "1"}, {"error": "service unavailable"})
    stub = influx3([busy, (204, {}, {}), busy, busy])
    with open_client(replace(stub.target, api_version=None), write_retries(total=1, backoff_factor=0.01)) as client:
        assert client.target.api_version == 2  # 3.x with a token: the v2 write API
        assert write_lines(client, client.target, [b"m v=1i 1"]) == 1
        with pytest.raises(DestinationUnavailable, match=r"HTTP 503"):
            write_lines(client, client.target, [b"m v=2i 2"])
    gaps = [later[0] - earlier[0] for earlier, later in zip(stub.requests, stub.requests[1:], strict=False)]
    assert len(stub.requests) == 4 and gaps[0] >= 0.95 and gaps[2] >= 0.95


def test_unreachable_server_is_retryable() -> None:
    target = InfluxTarget(url="http://127.0.0.1:9", org="", bucket="audit", token="", api_version=1)
    with open_client(target, write_retries(total=1, backoff_factor=0.01)) as client:
        with pytest.raises(DestinationUnavailable, match=r"unreachable"):
            loaded_keys(client, target, *DAY)
