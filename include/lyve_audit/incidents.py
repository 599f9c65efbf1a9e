"""Security incidents injected into generated logs at known times, so the Security dashboard and alerts have
something to show (`generate --incidents`, on in the demo stack).

Each incident is written as extra objects of its own in Lyve Cloud's key layout (Lyve Cloud writes several objects an
hour too), stamped inside the incident hour, so the ordinary generated objects stay as they are. Minutes are offsets
from the start of that hour.
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypedDict

from include.lyve_audit.demo import GeneratedObject, console_entry, iam_entry, s3_entry
from include.lyve_audit.keys import month_folder

INTRUDER_IP = "203.0.113.66"
"""A documentation address (RFC 5737): the source of the bucket enumeration and the Console password guessing."""
NEW_ADMIN_IP = "198.51.100.7"
"""The address a bucket policy, object lock and lifecycle change come from (new for that account)."""


class CallerSpec(TypedDict):
    """An incident of one account's S3 calls on one bucket, from `minute` of the hour."""

    minute: int
    account: str
    creator: str
    bucket: str


class EnumerationSpec(TypedDict):
    """Anonymous guesses of keys in one bucket, from `minute` of the hour."""

    minute: int
    guesses: int
    bucket: str


class ConfigChangeSpec(CallerSpec):
    """Configuration calls (`apis`) of one account on one bucket."""

    apis: tuple[str, ...]


class LoginGuessingSpec(TypedDict):
    """Failed Console logins of one user, then one that works."""

    minute: int
    user: str
    failures: int


class SlowReadsSpec(TypedDict):
    """Reads of one bucket answered in `latency_s` (low, high) seconds."""

    minute: int
    calls: int
    bucket: str
    latency_s: tuple[int, int]


class IamChangeSpec(TypedDict):
    """IAM actions of one user from the intruder's address."""

    minute: int
    user: str
    actions: tuple[str, ...]


class BadLinesSpec(TypedDict):
    """An IAM object of `good` entries followed by `bad` lines that are not JSON."""

    minute: int
    good: int
    bad: int


DELETE_BURST = CallerSpec(minute=3, account="cleanup-bot", creator="ops@example.com", bucket="media-assets")
DELETE_CALLS = 140
BATCH_DELETES = 3
BATCH_SIZE = 250
DENIED_ACCOUNT = CallerSpec(minute=12, account="analytics", creator="data@example.com", bucket="backup-prod-eu")
DENIED_CALLS = 40
DENIED_IPS = ("10.7.0.11", "10.7.0.12", "10.7.0.13", "10.7.0.14")
ENUMERATION: EnumerationSpec = {"minute": 22, "guesses": 60, "bucket": "media-assets"}
"""Anonymous reads of guessed keys, all denied: enumeration from one address."""
CONFIG_CHANGES: ConfigChangeSpec = {
    "minute": 31,
    "account": "media-uploader",
    "creator": "dev@example.com",
    "bucket": "backup-prod-eu",
    "apis": (
        "PutBucketPolicy",
        "PutObjectLockConfiguration",
        "PutBucketLifecycleConfiguration",
        "PutBucketVersioning",
        "PutBucketTagging",
    ),
}
LOGIN_GUESSING: LoginGuessingSpec = {"minute": 41, "user": "bob@example.com", "failures": 8}
SLOW_READS: SlowReadsSpec = {"minute": 50, "calls": 20, "bucket": "logs-archive-2024", "latency_s": (5, 9)}
IAM_CHANGES: IamChangeSpec = {
    "minute": 45,
    "user": "bob@example.com",
    "actions": ("CreateAccessKey", "AttachPolicy", "DeleteUser"),
}
BAD_LINES: BadLinesSpec = {"minute": 55, "good": 20, "bad": 3}
"""An IAM object with 3 bad lines of 23: above the 1% share, so the run that loads it fails and is recorded failed."""


@dataclass(frozen=True, slots=True)
class CorruptObject(GeneratedObject):
    """A generated object whose body ends in `bad_lines` lines that are not JSON."""

    bad_lines: int = 0

    def body(self) -> bytes:
        text = gzip.decompress(GeneratedObject.body(self))
        return gzip.compress(text + b"{not json: truncated entry\n" * self.bad_lines, compresslevel=6, mtime=0)


def _s3(
    rng: random.Random,
    moment: datetime,
    bucket: str,
    api: str,
    status: tuple[int, str],
    account: tuple[str, str] | None,
    ip: str,
) -> dict[str, Any]:
    """An S3 API entry of the generator's shape with the incident's call, answer, caller and source."""
    entry = s3_entry(rng, moment, bucket, shape="documented")
    entry["auditEntry"]["api"].update({"name": api, "statusCode": status[0], "status": status[1]})
    entry["auditEntry"]["requestHeader"]["X-Real-Ip"] = f"{ip}:{rng.randint(1024, 65535)}"
    if account is None:  # anonymous: no account in the entry
        entry.pop("serviceAccountName", None)
        entry.pop("serviceAccountCreatorId", None)
    else:
        entry["serviceAccountName"], entry["serviceAccountCreatorId"] = account
        # MinIO-era entries name the access key the call was signed with and the user it belongs to.
        entry["auditEntry"].update({"accessKey": access_key(account[0]), "parentUser": account[1]})
    if status[0] >= 400:
        entry["auditEntry"]["error"] = "Access Denied." if status[0] == 403 else status[1]
    return entry


def access_key(account: str) -> str:
    """The (made-up) access key of an incident's account."""
    return "LYVE" + "".join(char for char in account.upper() if char.isalnum()).ljust(16, "0")[:16]


def _s3_object(hour: datetime, bucket: str, minute: int, entries: list[dict[str, Any]]) -> GeneratedObject:
    """An S3 API log object of `bucket`, each entry with its request path (`/bucket/object` or `/bucket`)."""
    for entry in entries:
        obj = entry["auditEntry"]["api"].get("object")
        entry["auditEntry"]["requestPath"] = f"/{bucket}/{obj}" if obj else f"/{bucket}"
    return GeneratedObject(_key(hour, f"S3-{bucket}", minute), entries)


def _spread(start: datetime, count: int, seconds: int) -> list[datetime]:
    """`count` moments evenly spread over `seconds` from `start` (whole seconds; the entry adds nanoseconds)."""
    return [start + timedelta(seconds=index * seconds // max(count, 1)) for index in range(count)]


def _key(hour: datetime, kind: str, minute: int) -> str:
    written = hour + timedelta(minutes=minute + 4, seconds=15)  # ordinary objects end in :59 or :30 seconds
    return f"{month_folder(hour)}{kind}-{written.strftime('%Y-%m-%d-%H-%M-%S')}.gz"


def incident_objects(hour: datetime, seed: int = 1, bad_lines: bool = True) -> Iterator[GeneratedObject]:
    """The incident objects of one hour (UTC, whole hour), in the order their incidents happen; `bad_lines=False`
    leaves out the object that fails its run."""
    rng = random.Random(seed)

    def at(minute: int) -> datetime:
        return hour + timedelta(minutes=minute)

    burst = DELETE_BURST
    caller = (burst["account"], burst["creator"])
    deletes = [
        _s3(rng, moment, burst["bucket"], "DeleteObject", (204, "No Content"), caller, "10.9.9.9")
        for moment in _spread(at(burst["minute"]), DELETE_CALLS, 180)
    ]
    for moment in _spread(at(burst["minute"]) + timedelta(seconds=181), BATCH_DELETES, 30):
        entry = _s3(rng, moment, burst["bucket"], "DeleteObjects", (200, "OK"), caller, "10.9.9.9")
        entry["auditEntry"]["api"]["objects"] = [
            {"objectName": f"cache/{rng.randint(0, 10**6):07d}.bin"} for _ in range(BATCH_SIZE)
        ]
        entry["auditEntry"]["api"].pop("object", None)
        deletes.append(entry)
    yield _s3_object(hour, burst["bucket"], burst["minute"], deletes)

    refused = DENIED_ACCOUNT
    caller = (refused["account"], refused["creator"])
    denied = [
        _s3(rng, moment, refused["bucket"], "GetObject", (403, "Forbidden"), caller, DENIED_IPS[index % 4])
        for index, moment in enumerate(_spread(at(refused["minute"]), DENIED_CALLS, 180))
    ]
    yield _s3_object(hour, refused["bucket"], refused["minute"], denied)

    enumeration = ENUMERATION
    guesses = [
        _s3(rng, moment, enumeration["bucket"], "GetObject", (403, "Forbidden"), None, INTRUDER_IP)
        for moment in _spread(at(enumeration["minute"]), enumeration["guesses"], 120)
    ]
    for index, entry in enumerate(guesses):
        entry["auditEntry"]["api"]["object"] = f"backups/{index:03d}/db.dump"
    yield _s3_object(hour, enumeration["bucket"], enumeration["minute"], guesses)

    config = CONFIG_CHANGES
    caller = (config["account"], config["creator"])
    changes = [
        _s3(rng, moment, config["bucket"], api, (200, "OK"), caller, NEW_ADMIN_IP)
        for api, moment in zip(config["apis"], _spread(at(config["minute"]), len(config["apis"]), 60), strict=True)
    ]
    for entry in changes:
        entry["auditEntry"]["api"].pop("object", None)
    yield _s3_object(hour, config["bucket"], config["minute"], changes)

    guessing = LOGIN_GUESSING
    logins = []
    for index, moment in enumerate(_spread(at(guessing["minute"]), guessing["failures"] + 1, 120)):
        entry = console_entry(rng, moment)
        failed = index < guessing["failures"]  # then the guess that worked
        entry["UserIdentity"].update({"UserName": guessing["user"], "IPAddress": f"{INTRUDER_IP}:{40000 + index}"})
        entry["ConsoleEvent"].update(
            {"Eventname": "Login", "Status": "Failure" if failed else "Success", "StatusCode": 401 if failed else 200}
        )
        logins.append(entry)
    yield GeneratedObject(_key(hour, "console", guessing["minute"]), logins, crlf=True)

    iam_changes = IAM_CHANGES
    iam = []
    actions = iam_changes["actions"]
    for action, moment in zip(actions, _spread(at(iam_changes["minute"]), len(actions), 60), strict=True):
        entry = iam_entry(rng, moment)
        entry["content"].update({"user_name": iam_changes["user"], "ip": f"{INTRUDER_IP}:41000", "action": action})
        iam.append(entry)
    yield GeneratedObject(_key(hour, "IAM", iam_changes["minute"]), iam)

    reads = SLOW_READS
    low, high = reads["latency_s"]
    slow = []
    for moment in _spread(at(reads["minute"]), reads["calls"], 120):
        entry = _s3(
            rng, moment, reads["bucket"], "GetObject", (200, "OK"), ("analytics", "data@example.com"), "10.2.3.4"
        )
        entry["auditEntry"]["api"]["timeToResponse"] = f"{rng.randint(low * 10**9, high * 10**9)}ns"
        slow.append(entry)
    yield _s3_object(hour, reads["bucket"], reads["minute"], slow)

    if not bad_lines:
        return
    corrupt = BAD_LINES
    good = [iam_entry(rng, moment) for moment in _spread(at(corrupt["minute"]), corrupt["good"], 60)]
    yield CorruptObject(_key(hour, "IAM", corrupt["minute"]), good, bad_lines=corrupt["bad"])
