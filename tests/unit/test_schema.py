"""Each kind's mapping, asserted as the exact line protocol it produces."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from include.lyve_audit.keys import CONSOLE, IAM, S3
from include.lyve_audit.parse import BadLine
from include.lyve_audit.schema import LINE_PARTS


def encode(kind: str, entry: dict[str, Any], include_message: bool = False) -> str:
    return LINE_PARTS[kind](orjson.dumps(entry), include_message)[1]


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
        'auditEntry.api.rx=512i,auditEntry.api.tx=5637i,auditEntry.api.status="OK",'
        'auditEntry.userAgent="aws-sdk-java/1.0",auditEntry.api.object="values-v2.yaml",'
        'auditEntry.requestID="165C883E70C2A5D0" '
        "1611312570699378337"
    )


DOCUMENTED_S3_ENTRY: dict[str, Any] = {
    "serviceAccountCreatorId": "john.doe@email.com",
    "auditEntry": {
        "api": {
            "name": "PutObject",
            "bucket": "bucket-1",
            "object": "values-v2.yaml",
            "status": "OK",
            "statusCode": 200,
            "timeToResponse": "2246401314ns",
        },
        "time": "2021-01-22T10:49:30.699378337Z",
        "version": "1",
        "requestID": "165C883E70C2A5D0",
        "userAgent": "aws-sdk-java/1.0",
        "remotehost": "127.0.0.1",
        "deploymentid": "ef46b1cb-0000",
        "requestHeader": {"User-Agent": "aws-sdk-java/1.0", "Content-Length": "5637", "X-Real-Ip": "10.1.2.3:51512"},
        "responseHeader": {"ETag": "x", "Server": "LyveCloud/1.0"},
    },
}
"""The S3 API entry of Lyve Cloud's documentation: no rx/tx, no serviceAccountName."""


def test_s3_documented_entry() -> None:
    assert encode(S3, DOCUMENTED_S3_ENTRY) == (
        "audit-01,auditEntry.api.bucket=bucket-1,auditEntry.api.name=PutObject,auditEntry.api.statusCode=200,"
        "auditEntry.requestHeader.X-Real-Ip=10.1.2.3,serviceAccountCreatorId=john.doe@email.com "
        f"entry_bytes={len(orjson.dumps(DOCUMENTED_S3_ENTRY))}i,auditEntry.api.timeToResponse=2246401314i,"
        'auditEntry.api.status="OK",auditEntry.userAgent="aws-sdk-java/1.0",auditEntry.api.object="values-v2.yaml",'
        'auditEntry.requestID="165C883E70C2A5D0" 1611312570699378337'
    )


MINIO_AUDIT: dict[str, Any] = {
    "version": "1",
    "deploymentid": "90e81272-45d9-4fe8-9c45-c9a7322bf4b5",
    "time": "2024-05-02T07:12:40.123456Z",
    "event": "",
    "trigger": "incoming",
    "api": {
        "name": "DeleteObjects",
        "bucket": "bucket-1",
        "objects": [{"objectName": "a.txt"}, {"objectName": "b.txt", "versionId": "v1"}],
        "status": "OK",
        "statusCode": 200,
        "rx": 412,
        "tx": 231,
        "timeToResponse": "2.143308ms",
        "timeToResponseInNS": "2143308",
    },
    "remotehost": "10.0.0.5",
    "requestID": "17CB8E2E3A0F1A2B",
    "userAgent": "MinIO (linux; amd64) minio-go/v7.0.70",
    "requestPath": "/bucket-1/",
    "requestHost": "s3.example.com",
    "requestQuery": {"delete": ""},
    "requestHeader": {"X-Real-Ip": "192.0.2.7"},
    "responseHeader": {"Content-Type": "application/xml"},
    "tags": {"objectLockRetentionDuration": ""},
    "accessKey": "AKIAEXAMPLE",
    "parentUser": "svc-owner",
    "error": "",
}
"""A MinIO audit entry as MinIO writes it (no Lyve Cloud wrapper)."""


def test_bare_minio_entry_is_an_s3_entry_with_its_access_key_as_the_account() -> None:
    assert encode(S3, MINIO_AUDIT) == (
        "audit-01,auditEntry.api.bucket=bucket-1,auditEntry.api.name=DeleteObjects,auditEntry.api.statusCode=200,"
        "auditEntry.requestHeader.X-Real-Ip=192.0.2.7,serviceAccountCreatorId=svc-owner,serviceAccountName=AKIAEXAMPLE "
        f"entry_bytes={len(orjson.dumps(MINIO_AUDIT))}i,auditEntry.api.timeToResponse=2143308i,"
        "auditEntry.api.rx=412i,auditEntry.api.tx=231i,auditEntry.api.objectCount=2i,"
        'auditEntry.api.status="OK",auditEntry.userAgent="MinIO (linux; amd64) minio-go/v7.0.70",'
        'auditEntry.accessKey="AKIAEXAMPLE",auditEntry.parentUser="svc-owner",auditEntry.requestHost="s3.example.com",'
        'auditEntry.requestID="17CB8E2E3A0F1A2B",auditEntry.requestPath="/bucket-1/" '
        "1714633960123456000"
    )


def test_minio_fields_in_a_lyve_entry_are_fields_and_keep_its_tags() -> None:
    """A wrapped entry keeps exactly its wrapper's account tags; accessKey and parentUser are fields only."""
    internal = {k: v for k, v in MINIO_AUDIT.items() if k not in ("api", "requestHeader")}
    internal["error"] = 'disk "1" offline'
    entry = {"serviceAccountCreatorId": "", "serviceAccountName": "", "auditEntry": internal}
    assert encode(S3, entry) == (
        f"audit-01 entry_bytes={len(orjson.dumps(entry))}i,"
        'auditEntry.userAgent="MinIO (linux; amd64) minio-go/v7.0.70",auditEntry.accessKey="AKIAEXAMPLE",'
        'auditEntry.parentUser="svc-owner",auditEntry.requestHost="s3.example.com",'
        'auditEntry.requestID="17CB8E2E3A0F1A2B",auditEntry.requestPath="/bucket-1/",'
        'auditEntry.error="disk \\"1\\" offline" 1714633960123456000'
    )


def test_bare_minio_entry_without_an_access_key_has_no_account_tags() -> None:
    entry = {"version": "1", "time": "2024-05-02T07:12:40Z", "api": {"name": "ListBuckets"}}
    assert encode(S3, entry) == (
        f"audit-01,auditEntry.api.name=ListBuckets entry_bytes={len(orjson.dumps(entry))}i 1714633960000000000"
    )


@pytest.mark.parametrize(
    ("api", "expected"),
    [
        pytest.param({"timeToResponse": "0s"}, "timeToResponse=0i", id="go-zero"),
        pytest.param({"timeToResponse": "2.143308ms"}, "timeToResponse=2143308i", id="go-ms"),
        pytest.param({"timeToResponse": "1.5s"}, "timeToResponse=1500000000i", id="go-s"),
        pytest.param({"timeToResponse": "1m2.5s"}, "timeToResponse=62500000000i", id="go-m-s"),
        pytest.param({"timeToResponse": "12\u00b5s"}, "timeToResponse=12000i", id="go-micro-sign"),
        pytest.param({"timeToResponseInNS": 2143308}, "timeToResponse=2143308i", id="in-ns-integer"),
        pytest.param({"timeToResponseInNS": "2143308"}, "timeToResponse=2143308i", id="in-ns-digits"),
        pytest.param({"timeToResponseInNS": "7", "timeToResponse": "9ns"}, "timeToResponse=7i", id="in-ns-first"),
        pytest.param({"timeToResponseInNS": "", "timeToResponse": "9ns"}, "timeToResponse=9i", id="in-ns-empty"),
        pytest.param({"timeToFirstByteInNS": "51"}, "timeToFirstByte=51i", id="first-byte-in-ns"),
        pytest.param({"timeToFirstByte": "0.5ms"}, "timeToFirstByte=500000i", id="first-byte-go"),
    ],
)
def test_latencies_in_every_form_are_one_integer_ns_field(api: dict[str, Any], expected: str) -> None:
    entry = {"auditEntry": {"time": "2021-01-22T10:49:30Z", "api": api}}
    assert encode(S3, entry) == (
        f"audit-01 entry_bytes={len(orjson.dumps(entry))}i,auditEntry.api.{expected} 1611312570000000000"
    )


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param({"version": "1", "time": "2024-05-02T07:12:40Z"}, id="time-without-api"),
        pytest.param({"version": "1", "api": {"name": "PutObject"}}, id="api-without-time"),
        pytest.param({"serviceAccountName": "a", "auditEntry": None}, id="auditEntry-null"),
        pytest.param({}, id="empty-object"),
        pytest.param({"ConsoleEvent": {"EventTime": "2022-02-28 21:35:08 +0000 UTC"}}, id="console"),
    ],
)
def test_a_line_of_neither_shape_says_so(entry: dict[str, Any]) -> None:
    with pytest.raises(BadLine, match=r"neither a Lyve Cloud S3 API entry .* nor a MinIO audit entry"):
        encode(S3, entry)


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
        pytest.param(
            {"timeToResponseInNS": "-5"}, "auditEntry.api.timeToResponseInNS: negative duration", id="in-ns-negative"
        ),
        pytest.param(
            {"timeToFirstByteInNS": "5ms"}, "auditEntry.api.timeToFirstByteInNS: not an integer", id="in-ns-text"
        ),
        pytest.param({"rx": "--5"}, "auditEntry.api.rx: not an integer", id="rx-two-signs"),
        pytest.param({"rx": "\u00b2"}, "auditEntry.api.rx: not an integer", id="rx-superscript-digit"),
        pytest.param({"rx": 1.5}, "auditEntry.api.rx: expected int | str | null, got float", id="rx-float"),
        pytest.param({"name": {"nested": 1}}, "auditEntry.api.name: expected ", id="name-object"),
        pytest.param({"objects": "a"}, "auditEntry.api.objects: expected array | null, got str", id="objects-text"),
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
    ("extra", "action"),
    [
        pytest.param({"content": {**IAM_ENTRY["content"], "action": "AttachPolicy"}}, "AttachPolicy", id="in-content"),
        pytest.param({"action": "CreateAccessKey"}, "CreateAccessKey", id="top-level"),
        pytest.param({"content": {**IAM_ENTRY["content"], "action": ""}}, None, id="empty-is-absent"),
    ],
)
def test_iam_action_is_a_field(extra: dict[str, Any], action: str | None) -> None:
    """The action is a field, so the tags (the series) of IAM points stay those of the earlier schema."""
    line = encode(IAM, {**IAM_ENTRY, **extra})
    series, fields, _ = line.rsplit(" ", 2)
    assert series == encode(IAM, IAM_ENTRY).split(" ")[0]
    assert (f'action="{action}"' in fields) if action else ("action=" not in fields)


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


def test_a_latency_beyond_signed_64_bit_names_the_field_once() -> None:
    entry = {"auditEntry": {"time": "2021-01-22T10:49:30Z", "api": {"timeToResponse": 2**64 - 1}}}
    with pytest.raises(BadLine) as raised:
        encode(S3, entry)
    assert str(raised.value) == (
        "auditEntry.api.timeToResponse: outside InfluxDB's integer range (signed 64-bit): 18446744073709551615"
    )
