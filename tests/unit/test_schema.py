"""Each kind's mapping, asserted as the exact line protocol it produces."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from include.lyve_audit.keys import CONSOLE, IAM, S3
from include.lyve_audit.parse import BadLine
from include.lyve_audit.schema import ENCODERS


def encode(kind: str, entry: dict[str, Any], include_message: bool = False) -> str:
    raw = orjson.dumps(entry).decode()
    encoded = ENCODERS[kind](entry, raw, include_message)
    return f"{encoded.series} {encoded.fields} {encoded.time_ns}"


S3_ENTRY: dict[str, Any] = {
    "serviceAccountName": "backup svc",
    "serviceAccountCreatorId": "john.doe@email.com",
    "auditEntry": {
        "api": {
            "name": "GetObject",
            "bucket": "bucket-1",
            "object": "values-v2.yaml",
            "status": "OK",
            "statusCode": 200,
            "timeToResponse": "2246401314ns",
            "timeToFirstByte": "1000ns",
            "rx": 512,
            "tx": 5637,
        },
        "time": "2021-01-22T10:49:30.699378337Z",
        "requestID": "165C883E70C2A5D0",
        "userAgent": "aws-sdk-java/1.0",
        "requestHeader": {"X-Real-Ip": "10.1.2.3:51512"},
    },
}


def test_s3_entry() -> None:
    assert encode(S3, S3_ENTRY) == (
        "audit-01,auditEntry.api.bucket=bucket-1,auditEntry.api.name=GetObject,auditEntry.api.statusCode=200,"
        "auditEntry.requestHeader.X-Real-Ip=10.1.2.3,serviceAccountCreatorId=john.doe@email.com,"
        "serviceAccountName=backup\\ svc "
        f"entry_bytes={len(orjson.dumps(S3_ENTRY))}i,"
        "auditEntry.api.timeToResponse=2246401314i,auditEntry.api.timeToFirstByte=1000i,"
        'auditEntry.api.rx=512i,auditEntry.api.tx=5637i,auditEntry.api.object="values-v2.yaml",'
        'auditEntry.api.status="OK",auditEntry.requestID="165C883E70C2A5D0",auditEntry.userAgent="aws-sdk-java/1.0" '
        "1611312570699378337"
    )


def test_s3_minimal_entry_has_only_time_and_size() -> None:
    entry = {"auditEntry": {"time": "2021-01-22T10:49:30Z"}}
    assert encode(S3, entry) == f"audit-01 entry_bytes={len(orjson.dumps(entry))}i 1611312570000000000"


def test_message_field_carries_the_entry_as_logged() -> None:
    entry = {"auditEntry": {"time": "2021-01-22T10:49:30Z", "api": {"object": 'say "hi"\\'}}}
    line = encode(S3, entry, include_message=True)
    raw = orjson.dumps(entry).decode()
    assert f'message="{raw.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"' in line


def test_status_code_as_string_is_the_same_tag() -> None:
    as_number = {"auditEntry": {"time": "2021-01-22T10:49:30Z", "api": {"statusCode": 404}}}
    as_string = {"auditEntry": {"time": "2021-01-22T10:49:30Z", "api": {"statusCode": "404"}}}
    assert (
        encode(S3, as_number).split(" ")[0]
        == encode(S3, as_string).split(" ")[0]
        == ("audit-01,auditEntry.api.statusCode=404")
    )


@pytest.mark.parametrize(
    ("api", "reason"),
    [
        pytest.param({"timeToResponse": "abc"}, "auditEntry.api.timeToResponse: not a duration", id="ttr-text"),
        pytest.param({"timeToResponse": "-3ns"}, "auditEntry.api.timeToResponse: not a duration", id="ttr-negative"),
        pytest.param({"rx": "many"}, "auditEntry.api.rx: not an integer", id="rx-text"),
        pytest.param({"name": {"nested": 1}}, "expected a scalar", id="name-object"),
    ],
)
def test_s3_wrong_types_are_bad_lines(api: dict[str, Any], reason: str) -> None:
    with pytest.raises(BadLine, match=reason):
        encode(S3, {"auditEntry": {"time": "2021-01-22T10:49:30Z", "api": api}})


def test_s3_timetoresponse_as_number_is_nanoseconds() -> None:
    line = encode(S3, {"auditEntry": {"time": "2021-01-22T10:49:30Z", "api": {"timeToResponse": 1500}}})
    assert "auditEntry.api.timeToResponse=1500i" in line


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param({"auditEntry": {}}, id="missing"),
        pytest.param({"auditEntry": {"time": ""}}, id="empty"),
        pytest.param({"auditEntry": {"time": 1611312570}}, id="number"),
        pytest.param({"auditEntry": {"time": "2021-13-01T00:00:00Z"}}, id="month-13"),
        pytest.param({"auditEntry": "text"}, id="auditEntry-not-object"),
        pytest.param({}, id="empty-entry"),
    ],
)
def test_s3_without_usable_time_is_bad(entry: dict[str, Any]) -> None:
    with pytest.raises(BadLine):
        encode(S3, entry)


CONSOLE_ENTRY: dict[str, Any] = {
    "ConsoleVersion": "2.3.1",
    "UserIdentity": {"EventSource": "console", "UserName": "alice", "Role": "admin", "IPAddress": "10.0.0.9:44321"},
    "ConsoleEvent": {
        "Eventname": "Login",
        "EventTime": "2022-02-28 21:35:08.123456 +0000 UTC",
        "Status": "Failure",
        "StatusCode": 401,
    },
}


def test_console_entry() -> None:
    assert encode(CONSOLE, CONSOLE_ENTRY) == (
        "console-01,ConsoleEvent.Eventname=Login,UserIdentity.IPAddress=10.0.0.9,UserIdentity.Role=admin,"
        f"UserIdentity.UserName=alice entry_bytes={len(orjson.dumps(CONSOLE_ENTRY))}i,StatusCode=401i,"
        'ConsoleEvent.Status="Failure",UserIdentity.EventSource="console" 1646084108123456000'
    )


IAM_ENTRY: dict[str, Any] = {
    "organization": "acme",
    "source": "iam",
    "bucket_name": "bucket-1",
    "created_date": "2022-03-01T12:00:00Z",
    "date": "2022-03-01T12:00:01.25Z",
    "content": {"client_name": "aws-cli", "ip": "10.9.8.7:1234", "hostname": "iam.example", "user_name": "bob"},
}


def test_iam_entry_fills_the_content_tags() -> None:
    assert encode(IAM, IAM_ENTRY) == (
        "iam-01,bucket_name=bucket-1,content.client_name=aws-cli,content.hostname=iam.example,content.ip=10.9.8.7,"
        f"content.user_name=bob,organization=acme,source=iam entry_bytes={len(orjson.dumps(IAM_ENTRY))}i,"
        'created_date="2022-03-01T12:00:00Z" 1646136001250000000'
    )


@pytest.mark.parametrize(
    ("date", "expected"),
    [
        pytest.param(1646136001, 1646136001000000000, id="epoch-seconds"),
        pytest.param(1646136001250, 1646136001250000000, id="epoch-ms"),
        pytest.param(1646136001250000, 1646136001250000000, id="epoch-us"),
        pytest.param(1646136001250000001, 1646136001250000001, id="epoch-ns"),
    ],
)
def test_iam_epoch_dates(date: int, expected: int) -> None:
    assert encode(IAM, {"date": date}).endswith(f" {expected}")


def test_injection_in_tag_values_stays_in_one_point() -> None:
    entry = {
        "auditEntry": {
            "time": "2021-01-22T10:49:30Z",
            "api": {"bucket": 'x\naudit-01,auditEntry.api.bucket=evil message="x" 1'},
        }
    }
    line = encode(S3, entry)
    assert "\n" not in line
    assert line.startswith(
        'audit-01,auditEntry.api.bucket=x\u2424audit-01\\,auditEntry.api.bucket\\=evil\\ message\\="x"\\ 1 '
    )
