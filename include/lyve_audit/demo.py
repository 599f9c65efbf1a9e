"""Realistic generated audit logs of all three kinds, in Lyve Cloud's key layout (tests, benchmark and demo stack).

Entries follow the public Lyve Cloud / MinIO examples: S3 API entries of about 1.3 KB in the shapes of S3_SHAPES,
Console entries with Go-style times, IAM entries with a `content` object. Output is a pure function of the seed.
"""

from __future__ import annotations

import gzip
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from include.lyve_audit.keys import month_folder

LOGGED_BUCKETS = ("media-assets", "backup-prod-eu", "logs-archive-2024")
S3_OBJECTS_PER_HOUR = 3
S3_APIS = (
    ("GetObject", 0.40),
    ("PutObject", 0.22),
    ("HeadObject", 0.14),
    ("ListObjectsV2", 0.09),
    ("DeleteObject", 0.05),
    ("PutObjectPart", 0.05),
    ("CompleteMultipartUpload", 0.03),
    ("DeleteObjects", 0.01),
    ("HeadBucket", 0.01),
)
ERRORS = ((404, "Not Found"), (403, "Forbidden"), (500, "Internal Server Error"), (503, "Service Unavailable"))
ACCOUNTS = (("backup-svc", "ops@example.com"), ("media-uploader", "dev@example.com"), ("analytics", "data@example.com"))
USERS = ("alice@example.com", "bob@example.com", "carol@example.com")
CONSOLE_EVENTS = ("Login", "CreateBucket", "CreateServiceAccount", "DeleteBucket", "ListBuckets", "Logout")


@dataclass(frozen=True, slots=True)
class GeneratedObject:
    """One generated object: its key, its entries, whether its lines end in CRLF and are written by Python's json
    (`", "` and `": "` separators) rather than compactly."""

    key: str
    entries: list[dict[str, Any]]
    crlf: bool = False
    python_json: bool = False

    def body(self) -> bytes:
        """The object's gzip bytes (gzip mtime fixed, so equal input gives equal bytes)."""
        ending = b"\r\n" if self.crlf else b"\n"
        dumps = _python_json if self.python_json else orjson.dumps
        text = b"".join(dumps(entry) + ending for entry in self.entries)
        return gzip.compress(text, compresslevel=6, mtime=0)


def _python_json(entry: dict[str, Any]) -> bytes:
    """An entry as Python's json writes it (`", "` and `": "` separators), as some shippers do."""
    return json.dumps(entry).encode()


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d-%H-%M-%S")


def _rfc3339_ns(moment: datetime, nanos: int) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{nanos:09d}Z"


def _ip(rng: random.Random) -> str:
    return f"10.{rng.randint(0, 3)}.{rng.randint(0, 20)}.{rng.randint(1, 254)}"


S3_SHAPES = (("documented", 0.62), ("minio-wrapped", 0.24), ("minio-bare", 0.13), ("internal", 0.01))
"""What users have, in rough proportions: most lines in the shape of Lyve Cloud's documentation (no rx/tx), some in
MinIO's audit format inside Lyve's wrapper, some bare MinIO entries, a few internal events without api name or code."""
BUCKET_LEVEL_APIS = frozenset({"ListObjectsV2", "HeadBucket", "GetBucketLocation"})
ACCESS_KEYS = {"backup-svc": "AKBACKUP0001", "media-uploader": "AKMEDIA00002", "analytics": "AKANALYT0003"}


def _go_duration(nanos: int) -> str:
    """A latency as Go's time.Duration prints it (`0s`, `850µs`, `2.143308ms`, `1.5s`)."""
    if nanos == 0:
        return "0s"
    for unit, size in (("s", 10**9), ("ms", 10**6), ("µs", 10**3)):
        if nanos >= size:
            return f"{nanos / size:.9f}".rstrip("0").rstrip(".") + unit
    return f"{nanos}ns"


def _s3_call(rng: random.Random) -> tuple[str, int, str]:
    """An API name with its status code and text."""
    api = rng.choices([name for name, _ in S3_APIS], weights=[weight for _, weight in S3_APIS])[0]
    if rng.random() < 0.06:
        status_code, status = rng.choice(ERRORS)
    elif api == "DeleteObject":
        status_code, status = 204, "No Content"
    elif api == "GetObject" and rng.random() < 0.1:
        status_code, status = 206, "Partial Content"
    else:
        status_code, status = 200, "OK"
    return api, status_code, status


def s3_entry(rng: random.Random, moment: datetime, bucket: str, shape: str | None = None) -> dict[str, Any]:
    """One S3 API audit entry at `moment` (plus random nanoseconds), in one of S3_SHAPES (drawn when not given)."""
    if shape is None:
        shape = rng.choices([name for name, _ in S3_SHAPES], weights=[weight for _, weight in S3_SHAPES])[0]
    api, status_code, status = _s3_call(rng)
    latency_ns = int(rng.lognormvariate(17.0, 1.1))
    account, creator = rng.choice(ACCOUNTS)
    if rng.random() < 0.08:  # service accounts not resolved: Lyve Cloud writes empty names
        account, creator = "", ""
    request_id = uuid.UUID(int=rng.getrandbits(128)).hex[:16].upper()
    api_part: dict[str, Any] = {"name": api, "bucket": bucket}
    if api not in BUCKET_LEVEL_APIS:
        api_part["object"] = (
            f"data/{rng.randint(2020, 2026)}/{rng.randint(1, 12):02d}/part-{rng.randint(0, 99999):05d}.parquet"
        )
    api_part |= {"status": status, "statusCode": status_code}
    first_byte_ns = latency_ns // rng.randint(2, 6)
    size_in = rng.randint(200, 4000)
    size_out = rng.randint(200, 2_000_000) if api == "GetObject" else rng.randint(100, 900)
    headers: dict[str, Any] = {
        "User-Agent": "aws-sdk-java/1.12.261 Linux/5.15.0",
        "X-Amz-Date": moment.strftime("%Y%m%dT%H%M%SZ"),
        "Authorization": "AWS4-HMAC-SHA256 Credential=EXAMPLE/20260101/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=<redacted>",
        "Content-Length": str(size_in),
        "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD",
    }
    if rng.random() < 0.95:  # absent behind some proxies
        headers["X-Real-Ip"] = _ip(rng) + (f":{rng.randint(1024, 65535)}" if rng.random() < 0.7 else "")
    audit: dict[str, Any] = {
        "version": "1",
        "deploymentid": "ef46b1cb-7a3e-4c1a-9c7e-2f1b7d7d1c55",
        "time": _rfc3339_ns(moment, rng.randint(0, 999_999_999)),
        "api": api_part,
        "remotehost": "127.0.0.1",
        "requestID": request_id,
        "userAgent": "aws-sdk-java/1.12.261 Linux/5.15.0 OpenJDK_64-Bit_Server_VM/11.0.16 java/11.0.16",
        "requestHeader": headers,
        "responseHeader": {
            "Accept-Ranges": "bytes",
            "Content-Length": str(size_out),
            "ETag": f'"{uuid.UUID(int=rng.getrandbits(128)).hex}"',
            "Server": "LyveCloud/2.0",
            "X-Amz-Request-Id": request_id,
            "X-Xss-Protection": "1; mode=block",
        },
    }
    if shape == "documented":  # Lyve Cloud's documented entry: `"<n>ns"` latencies, no rx/tx
        api_part["timeToResponse"] = f"{latency_ns}ns"
        if api == "GetObject":
            api_part["timeToFirstByte"] = f"{first_byte_ns}ns"
        return {"serviceAccountCreatorId": creator, "serviceAccountName": account, "auditEntry": audit}
    if shape == "internal":  # a MinIO internal event (e.g. the lifecycle scanner): no api name, status code or client
        api_part.clear()
        api_part |= {"bucket": bucket, "timeToResponse": "0s", "timeToResponseInNS": "0"}
        audit |= {"trigger": "internal", "event": "scanner:ilm"}
        del audit["requestHeader"], audit["requestID"], audit["userAgent"]
        return {"serviceAccountCreatorId": "", "serviceAccountName": "", "auditEntry": audit}
    api_part |= {
        "rx": size_in,
        "tx": size_out,
        "timeToResponse": _go_duration(latency_ns),
        "timeToResponseInNS": str(latency_ns) if rng.random() < 0.5 else latency_ns,
    }
    if api == "GetObject":
        api_part |= {"timeToFirstByte": _go_duration(first_byte_ns), "timeToFirstByteInNS": str(first_byte_ns)}
    if api == "DeleteObjects":
        api_part["objects"] = [{"objectName": f"tmp/part-{rng.randint(0, 999):03d}"} for _ in range(rng.randint(1, 5))]
        api_part.pop("object", None)
    audit |= {
        "requestPath": f"/{bucket}/{api_part.get('object', '')}",
        "requestHost": "s3.us-east-1.lyvecloud.seagate.com",
        "requestQuery": {"x-id": api},
        "tags": {},
        "accessKey": ACCESS_KEYS.get(account, ""),
        "parentUser": creator,
    }
    if status_code >= 400:
        audit["error"] = status
    if shape == "minio-wrapped":
        return {"serviceAccountCreatorId": creator, "serviceAccountName": account, "auditEntry": audit}
    return audit  # MinIO's own entry, without Lyve Cloud's wrapper


def console_entry(rng: random.Random, moment: datetime) -> dict[str, Any]:
    """One Console audit entry; its EventTime is in Go's format."""
    event = rng.choice(CONSOLE_EVENTS)
    ok = rng.random() > 0.15
    return {
        "ConsoleVersion": "2.3.1",
        "DeploymentID": "ef46b1cb-7a3e-4c1a-9c7e-2f1b7d7d1c55",
        "LoginTime": moment.strftime("%Y-%m-%d %H:%M:%S +0000 UTC"),
        "UserIdentity": {
            "EventSource": "console",
            "UserName": rng.choice(USERS),
            "Role": rng.choice(("admin", "storage-admin", "auditor")),
            "IPAddress": f"{_ip(rng)}:{rng.randint(1024, 65535)}",
        },
        "ConsoleEvent": {
            "Eventname": event,
            "EventTime": moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{rng.randint(0, 999_999):06d} +0000 UTC",
            "Status": "Success" if ok else "Failure",
            "StatusCode": 200 if ok else rng.choice((401, 403, 500)),
            "EventResponse": orjson.dumps({"result": "ok" if ok else "denied"}).decode(),
        },
    }


def iam_entry(rng: random.Random, moment: datetime) -> dict[str, Any]:
    """One IAM audit entry."""
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{rng.randint(0, 999_999):06d}Z"
    return {
        "organization": "acme",
        "source": rng.choice(("iam", "console", "api")),
        "bucket_name": rng.choice(LOGGED_BUCKETS),
        "created_date": stamp,
        "date": stamp,
        "content": {
            "client_name": rng.choice(("lyve-console", "aws-cli", "terraform")),
            "ip": f"{_ip(rng)}:{rng.randint(1024, 65535)}",
            "hostname": rng.choice(("iam.lyvecloud.example", "auth-1.lyvecloud.example")),
            "user_name": rng.choice(USERS),
            "action": rng.choice(("CreateAccessKey", "AttachPolicy", "UpdatePermission")),
        },
    }


def _moments(rng: random.Random, start: datetime, end: datetime, count: int) -> list[datetime]:
    span = int((end - start).total_seconds())
    return sorted(start + timedelta(seconds=rng.randrange(max(span, 1))) for _ in range(count))


def hour_objects(hour: datetime, rng: random.Random, s3_entries: int = 40) -> Iterator[GeneratedObject]:
    """The objects Lyve Cloud would write for one hour: S3 logs per bucket, one IAM and one Console object."""
    step = timedelta(hours=1) / S3_OBJECTS_PER_HOUR
    folder = month_folder(hour)
    for bucket in LOGGED_BUCKETS:
        for index in range(S3_OBJECTS_PER_HOUR):
            window = hour + index * step
            written = window + step - timedelta(seconds=1)
            entries = [s3_entry(rng, moment, bucket) for moment in _moments(rng, window, written, s3_entries)]
            yield GeneratedObject(f"{folder}S3-{bucket}-{_stamp(written)}.gz", entries, python_json=index == 1)
    written = hour + timedelta(minutes=59, seconds=30)
    iam = [iam_entry(rng, moment) for moment in _moments(rng, hour, written, rng.randint(4, 8))]
    yield GeneratedObject(f"{folder}IAM-{_stamp(written)}.gz", iam)
    console = [console_entry(rng, moment) for moment in _moments(rng, hour, written, rng.randint(3, 6))]
    yield GeneratedObject(f"{folder}console-{_stamp(written)}.gz", console, crlf=True)


def generate(start: datetime, hours: int, seed: int = 1, s3_entries: int = 40) -> Iterator[GeneratedObject]:
    """Objects for `hours` consecutive hours from the hour holding `start` (UTC)."""
    rng = random.Random(seed)
    first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    for offset in range(hours):
        yield from hour_objects(first + timedelta(hours=offset), rng, s3_entries)


def write_objects(objects: Iterator[GeneratedObject], out: Path) -> dict[str, int]:
    """Write objects under `out` in the key layout; returns entries per key prefix kind."""
    totals: dict[str, int] = {}
    for generated in objects:
        path = out / generated.key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(generated.body())
        kind = generated.key.split("/", 1)[1].split("-", 1)[0].lower()
        totals[kind] = totals.get(kind, 0) + len(generated.entries)
    return totals
