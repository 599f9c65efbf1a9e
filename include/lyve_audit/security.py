"""The S3 API names the security dashboard and alert rules look for, and the thresholds of those rules: one place.

An S3 API entry's `auditEntry.api.name` is the S3 operation as Lyve Cloud's supported-API list spells it
(`DeleteObjects`, `PutObjectLockConfiguration`, `PutBucketLifecycleConfiguration`) or, in MinIO-style entries, the
name of MinIO's handler for it (`DeleteMultipleObjects`, `PutBucketObjectLockConfig`, `PutBucketLifecycle`). Each
family below lists both spellings, so a panel or rule matches either kind of entry. The dashboard JSON and the alert
provisioning YAML are generated from this module (`python -m include.lyve_audit grafana`), and a test holds the
committed files equal to what it generates.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

OBJECT_DELETES = ("DeleteObject", "DeleteObjects", "DeleteMultipleObjects")
"""Deletes of objects (one, or a batch: `DeleteObjects` in Lyve Cloud's list, `DeleteMultipleObjects` in MinIO's)."""
BUCKET_DELETES = ("DeleteBucket",)

CONFIGURATION_FAMILIES: dict[str, tuple[str, ...]] = {
    "policy": ("PutBucketPolicy", "DeleteBucketPolicy"),
    "lifecycle": (
        "PutBucketLifecycleConfiguration",
        "PutBucketLifecycle",
        "DeleteBucketLifecycle",
        "DeleteBucketLifecycleConfiguration",
    ),
    "versioning": ("PutBucketVersioning",),
    "encryption": ("PutBucketEncryption", "DeleteBucketEncryption"),
    "object lock": (
        "PutObjectLockConfiguration",
        "PutBucketObjectLockConfig",
        "PutObjectRetention",
        "PutObjectLegalHold",
    ),
    "acl": ("PutBucketAcl", "PutBucketACL", "PutObjectAcl", "PutObjectACL"),
    "tagging": ("PutBucketTagging", "DeleteBucketTagging", "PutObjectTagging", "DeleteObjectTagging"),
    "notification": ("PutBucketNotification", "PutBucketNotificationConfiguration"),
    "replication": (
        "PutBucketReplication",
        "PutBucketReplicationConfig",
        "DeleteBucketReplication",
        "DeleteBucketReplicationConfig",
    ),
}
"""Bucket configuration and permission changes by family: who may read, how long data lives, whether it can be
deleted, where it is copied. The object-level calls that change permissions or retention (ACL, retention, legal hold,
tags) are here too: they answer the same question."""

CONFIGURATION_CHANGES = tuple(name for names in CONFIGURATION_FAMILIES.values() for name in names)
CONFIGURATION_DELETES = tuple(name for name in CONFIGURATION_CHANGES if name.startswith("Delete"))
DELETES = OBJECT_DELETES + BUCKET_DELETES + CONFIGURATION_DELETES
"""Every call that deletes: objects, buckets, and a bucket's configuration (policy, lifecycle, encryption…)."""

PROTECTION_CHANGES = (
    CONFIGURATION_FAMILIES["policy"]
    + CONFIGURATION_FAMILIES["acl"]
    + CONFIGURATION_FAMILIES["object lock"]
    + CONFIGURATION_FAMILIES["lifecycle"]
)
"""The changes that alert on their first occurrence: who may read or write, and what may be deleted or expire."""

CONSOLE_LOGIN_EVENTS = ("Login", "ConsoleLogin", "SignIn")
"""Console event names of a login attempt (`ConsoleEvent.Eventname`)."""

_REGEX_SPECIALS = re.compile(r"[\\^$*+?.()|\[\]{}/]")


def name_regex(names: Iterable[str]) -> str:
    """An InfluxQL regex literal matching exactly these API names: `/^(A|B)$/`."""
    escaped = sorted({_REGEX_SPECIALS.sub(lambda match: "\\" + match.group(0), name) for name in names})
    return "/^(" + "|".join(escaped) + ")$/"


@dataclass(frozen=True, slots=True)
class Threshold:
    """A documented default of an alert rule, overridable by the environment variable `env` at generation time."""

    env: str
    default: float
    unit: str
    why: str

    def value(self, environ: Mapping[str, str] | None = None) -> float:
        """The default, or the override from `environ` (os.environ when None)."""
        text = (os.environ if environ is None else environ).get(self.env, "").strip()
        if not text:
            return self.default
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{self.env}={text!r}: not a number") from None


THRESHOLDS: dict[str, Threshold] = {
    "lookback_hours": Threshold(
        "LYVE_ALERT_LOOKBACK_HOURS",
        2,
        "hours of entries each security rule reads (bursts are counted in 10- or 15-minute buckets within them)",
        "entries arrive in hourly objects that are loaded after their hour ends, so a burst is up to about 70 "
        "minutes old when it reaches InfluxDB: a rule reading only the last 10 minutes would never see it",
    ),
    "delete_burst": Threshold(
        "LYVE_ALERT_DELETES_PER_10M",
        100,
        "delete calls by one account in a 10-minute bucket",
        "a backup job's clean-up deletes in bursts too; 100 calls in 10 minutes is far above the demo's busiest "
        "account (at most 6 over 3 days) and far below a script emptying a bucket (thousands)",
    ),
    "denied_account": Threshold(
        "LYVE_ALERT_DENIED_PER_ACCOUNT_10M",
        20,
        "403 answers to one account in a 10-minute bucket",
        "a misconfigured client retries a few denied calls; 20 in 10 minutes means a key probing what it may do",
    ),
    "denied_ip": Threshold(
        "LYVE_ALERT_DENIED_PER_IP_10M",
        30,
        "403 answers to one client IP in a 10-minute bucket",
        "bucket enumeration from one address answers 403 for every guessed name; 30 guesses in 10 minutes",
    ),
    "protection_change": Threshold(
        "LYVE_ALERT_PROTECTION_CHANGES",
        0,
        "policy / ACL / object-lock / lifecycle calls per account, bucket and API in the look-back (alert above)",
        "these calls are rare and each one changes who may read or what may be deleted: every one is worth a look",
    ),
    "login_failures": Threshold(
        "LYVE_ALERT_LOGIN_FAILURES_PER_15M",
        5,
        "failed Console logins of one user in a 15-minute bucket",
        "people mistype a password once or twice; five failures in 15 minutes is guessing",
    ),
    "latency_p99": Threshold(
        "LYVE_ALERT_P99_MS",
        2000,
        "p99 response time of one API in a 15-minute bucket, in milliseconds",
        "the demo's 15-minute p99 is about 120 ms (at most 1.5 s over 3 days); two seconds makes clients time out",
    ),
    "stale_hours": Threshold(
        "LYVE_ALERT_STALE_HOURS",
        3,
        "hours without a successful pipeline run",
        "the DAG runs hourly; three hours without a successful run is two missed runs plus a retry's backoff",
    ),
    "bad_share": Threshold(
        "LYVE_ALERT_BAD_LINE_SHARE",
        0.01,
        "bad lines as a share of the lines read by the runs of the last hour",
        "the same 1% at which a run fails an object (`lyve_max_bad_ratio`): a run failed by bad lines fires it",
    ),
}
