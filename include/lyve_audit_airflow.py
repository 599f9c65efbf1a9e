"""The thin layer between Airflow and `include.lyve_audit`: connections, Variables, S3Hook and staging paths.

Everything here is resolved at run time, inside tasks, never when the DAG file is parsed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO

from airflow.providers.amazon.aws.hooks.s3 import S3Hook
from airflow.sdk import BaseHook, ObjectStoragePath, Variable
from airflow.sdk.exceptions import AirflowFailException
from botocore.exceptions import ClientError

from include.lyve_audit.errors import ObjectMissing, PermanentError, SourceError
from include.lyve_audit.influx import DEFAULT_BATCH_BYTES, ConnectionFields, InfluxTarget, target_from_connection
from include.lyve_audit.keys import ListedObject
from include.lyve_audit.pipeline import InfluxPlanLedger, RangeListing, Settings
from include.lyve_audit.stage import default_quarantine_root

S3_CONN_ID = "lyve_cloud"
INFLUX_CONN_ID = "influxdb_default"


def _variable(name: str, default: str) -> str:
    return str(Variable.get(name, default=default))


def settings() -> Settings:
    """Settings from Airflow Variables (see README for each one and its default)."""
    base = Settings()
    return Settings(
        lookback=timedelta(hours=float(_variable("lyve_lookback_hours", str(base.lookback.total_seconds() / 3600)))),
        late_margin=timedelta(
            minutes=float(_variable("lyve_late_margin_minutes", str(base.late_margin.total_seconds() / 60)))
        ),
        max_groups=int(_variable("lyve_max_parallel_groups", str(base.max_groups))),
        include_message=_variable("lyve_include_message", "true").strip().lower() in {"1", "true", "yes", "on"},
        max_bad_ratio=float(_variable("lyve_max_bad_ratio", str(base.max_bad_ratio))),
        batch_bytes=int(_variable("lyve_batch_bytes", str(DEFAULT_BATCH_BYTES))),
        group_bytes=int(_variable("lyve_group_bytes", str(base.group_bytes))),
        max_line_bytes=int(_variable("lyve_max_line_bytes", str(base.max_line_bytes))),
        prefix_discovery=timedelta(
            hours=float(_variable("lyve_prefix_discovery_hours", str(base.prefix_discovery.total_seconds() / 3600)))
        ),
    )


def log_bucket() -> str:
    """The Lyve Cloud bucket holding the audit logs."""
    return str(Variable.get("lyve_log_bucket"))


def influx_target() -> InfluxTarget:
    """The InfluxDB destination from connection `influxdb_default` (type `lyve_influxdb` or `influxdb`).

    The Variable `influxdb_bucket`, when set, wins over the connection's bucket/database field.
    """
    conn = BaseHook.get_connection(INFLUX_CONN_ID)
    fields = ConnectionFields(
        conn_type=conn.conn_type or "",
        host=conn.host or "",
        port=conn.port,
        schema=conn.schema or "",
        login=conn.login or "",
        password=conn.password or "",
        extra=conn.extra_dejson,
    )
    with failing_fast():
        return target_from_connection(fields, Variable.get("influxdb_bucket", default=None))


def plan_ledger() -> InfluxPlanLedger:
    """The ledger and plan records, in the InfluxDB bucket the points go to."""
    return InfluxPlanLedger(influx_target())


# S3 answers that no retry can fix: fail the task at once with a message naming bucket, key and connection.
_REFUSED = {"AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch", "NoSuchBucket", "403"}
_GONE = {"NoSuchKey", "404", "NotFound"}


def _error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _refused(error: ClientError, what: str) -> SourceError:
    return SourceError(
        f"S3 refused {what} ({_error_code(error)}) with connection {S3_CONN_ID!r}: "
        "check its access key, the bucket name (Variable lyve_log_bucket) and the bucket policy"
    )


@contextmanager
def _listing_refusals(bucket: str, prefix: str) -> Iterator[None]:
    """A refused listing fails with the bucket, prefix and connection named; other errors stay retryable."""
    try:
        yield
    except ClientError as error:
        if _error_code(error) in _REFUSED:
            raise _refused(error, f"listing bucket {bucket!r} prefix {prefix!r}") from None
        raise


def s3_lister(bucket: str) -> Callable[[str], Iterator[ListedObject]]:
    """List a prefix with S3Hook's paginated metadata listing (botocore retries: connection extra `config_kwargs`)."""
    hook = S3Hook(aws_conn_id=S3_CONN_ID)

    def list_prefix(prefix: str) -> Iterator[ListedObject]:
        with _listing_refusals(bucket, prefix):
            for item in hook.iter_file_metadata(prefix=prefix, bucket_name=bucket):
                yield ListedObject(item["Key"], int(item["Size"]), item["LastModified"])

    return list_prefix


def s3_range_lister(bucket: str) -> Callable[[str, str, str], Iterator[ListedObject]]:
    """List one key prefix from `start_after`, stopping before `stop_at`: only the pages of the window are fetched."""
    hook = S3Hook(aws_conn_id=S3_CONN_ID)

    def list_range(prefix: str, start_after: str, stop_at: str) -> Iterator[ListedObject]:
        paginator = hook.get_conn().get_paginator("list_objects_v2")
        with _listing_refusals(bucket, prefix):
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix, StartAfter=start_after):
                for item in page.get("Contents", []):
                    if item["Key"] >= stop_at:
                        return
                    yield ListedObject(item["Key"], int(item["Size"]), item["LastModified"])

    return list_range


@dataclass(frozen=True)
class StagedPrefixCatalog:
    """Key prefixes per month folder, kept as small JSON files under the staging root (shared by every worker)."""

    root: ObjectStoragePath

    def _path(self, folder: str) -> ObjectStoragePath:
        return self.root / "_prefixes" / f"{folder.strip('/')}.json"

    def known(self, folder: str) -> tuple[datetime, list[str]] | None:
        path = self._path(folder)
        if not path.exists():
            return None
        stored = json.loads(path.read_text())
        return datetime.fromisoformat(stored["discovered_at"]), list(stored["prefixes"])

    def remember(self, folder: str, discovered_at: datetime, prefixes: list[str]) -> None:
        path = self._path(folder)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"discovered_at": discovered_at.isoformat(), "prefixes": prefixes}))


def range_listing(bucket: str) -> RangeListing:
    """List windows prefix by prefix, with the prefixes found by the last full listing of each month folder."""
    return RangeListing(s3_range_lister(bucket), StagedPrefixCatalog(stage_root()), datetime.now(UTC))


def s3_opener(bucket: str) -> Callable[[str], closing[IO[bytes]]]:
    """Open an object's body as a stream (never read whole: objects reach 500 MB), with one GET request.

    (`S3Hook.get_key(...).get()` would send a HEAD first: `get_key` loads the object's metadata.) An object deleted
    between listing and reading raises ObjectMissing (counted by the report, the run goes on).
    """
    client = S3Hook(aws_conn_id=S3_CONN_ID).get_conn()

    def open_object(key: str) -> closing[IO[bytes]]:
        try:
            return closing(client.get_object(Bucket=bucket, Key=key)["Body"])
        except ClientError as error:
            if _error_code(error) in _GONE:
                raise ObjectMissing(f"s3://{bucket}/{key}: listed, but gone when read") from None
            if _error_code(error) in _REFUSED:
                raise _refused(error, f"reading s3://{bucket}/{key}") from None
            raise

    return open_object


def default_stage() -> str:
    """`<AIRFLOW_HOME>/lyve_audit/stage`: the deployment's own folder, never shared with another Airflow."""
    home = os.path.abspath(os.path.expanduser(os.environ.get("AIRFLOW_HOME") or "~/airflow"))
    return f"file://{home}/lyve_audit/stage"


def stage_root() -> ObjectStoragePath:
    """Where parsed batches wait for the load task (Variable `lyve_stage_path`; `s3://conn@bucket/prefix` works)."""
    return ObjectStoragePath(_variable("lyve_stage_path", default_stage()))


def quarantine_root() -> ObjectStoragePath:
    """Where bad lines are kept (Variable `lyve_quarantine_path`; default: beside the staging folder), one folder per
    interval below it (`stage.quarantine_folder`)."""
    return ObjectStoragePath(_variable("lyve_quarantine_path", str(default_quarantine_root(stage_root()))))


@contextmanager
def failing_fast() -> Iterator[None]:
    """Fail the task at once on errors no retry can fix (bad token, missing bucket, access denied, bad data)."""
    try:
        yield
    except PermanentError as error:
        raise AirflowFailException(str(error)) from None
