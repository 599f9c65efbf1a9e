"""Writing line protocol to InfluxDB with influxdb-client, and reading back the load ledger.

Retries (429/5xx, honouring `Retry-After`) are urllib3's, handed to influxdb-client; gzip is the client's. Errors
that no retry can fix (bad token, missing bucket or org, rejected lines) are raised at once as `DestinationError`
with a message that names the bucket and org and never the token.
"""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException
from urllib3.util.retry import Retry

from include.lyve_audit.background import Background
from include.lyve_audit.lineproto import escape_field_string, tag_set

LEDGER_MEASUREMENT = "lyve-pipeline"
DEFAULT_BATCH_BYTES = 4 << 20


@dataclass(frozen=True)
class InfluxTarget:
    """Where points go. The token is excluded from repr so it cannot reach a log line by accident."""

    url: str
    org: str
    bucket: str
    token: str = field(repr=False)
    timeout_s: float = 60.0

    def describe(self) -> str:
        return f"bucket {self.bucket!r} of org {self.org!r} at {self.url}"


class DestinationError(Exception):
    """InfluxDB refused the write for a reason retrying cannot fix."""


def write_retries(total: int = 5, backoff_factor: float = 1.0) -> Retry:
    """urllib3's retry policy for writes: 429 and 5xx, POST included, Retry-After honoured."""
    return Retry(
        total=total,
        connect=total,
        read=total,
        status=total,
        backoff_factor=backoff_factor,
        backoff_max=60,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,
        respect_retry_after_header=True,
        raise_on_status=False,
    )


def open_client(target: InfluxTarget, retries: Retry | None = None) -> InfluxDBClient:
    """An influxdb-client client with gzip on (at WRITE_GZIP_LEVEL) and the retry policy above."""
    client = InfluxDBClient(
        url=target.url,
        token=target.token,
        org=target.org,
        timeout=int(target.timeout_s * 1000),
        enable_gzip=True,
        retries=retries if retries is not None else write_retries(),
    )
    _gzip_writes_at(client, WRITE_GZIP_LEVEL)
    return client


WRITE_GZIP_LEVEL = 1
"""influxdb-client gzips write bodies at level 9: ~60 MB/s of line protocol, a fifth of the engine's own time per
batch, on the cores the engine needs. Level 1 does ~275 MB/s for 11% of the size instead of 8% (`make bench`)."""


def _gzip_writes_at(client: InfluxDBClient, level: int) -> None:
    """Make the client gzip `/api/v2/write` bodies at `level` (its configuration hook, pinned influxdb-client)."""
    conf = client.api_client.configuration
    original = conf.update_request_body

    def update_request_body(path: str, body: Any) -> Any:
        if path == "/api/v2/write" and conf.enable_gzip and isinstance(body, bytes):
            return gzip.compress(body, compresslevel=level)
        return original(path, body)

    conf.update_request_body = update_request_body


def byte_batches(lines: Iterable[bytes], batch_bytes: int = DEFAULT_BATCH_BYTES) -> Iterator[list[bytes]]:
    """Group lines into batches of about `batch_bytes` (a line is never split)."""
    batch: list[bytes] = []
    size = 0
    for line in lines:
        batch.append(line)
        size += len(line) + 1
        if size >= batch_bytes:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _explain(error: ApiException, target: InfluxTarget) -> DestinationError:
    status = error.status
    body = (error.body or b"")[:500]
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if status in (401, 403):
        reason = f"token rejected (HTTP {status}) for {target.describe()}: check the connection's token and its rights"
    elif status == 404:
        reason = f"{target.describe()} not found (HTTP 404): create it or fix the connection/Variable"
    elif status in (400, 422):
        reason = f"{target.describe()} rejected lines (HTTP {status}): {body}"
    else:
        reason = f"write to {target.describe()} failed (HTTP {status}): {body}"
    return DestinationError(reason)


def write_batch(client: InfluxDBClient, target: InfluxTarget, batch: list[bytes]) -> None:
    """Write one batch; a 413 (too large) splits it in two and writes the halves."""
    write_api = client.write_api(write_options=SYNCHRONOUS)
    try:
        write_api.write(
            bucket=target.bucket, org=target.org, record=b"\n".join(batch), write_precision=WritePrecision.NS
        )
    except ApiException as error:
        if error.status == 413 and len(batch) > 1:
            middle = len(batch) // 2
            write_batch(client, target, batch[:middle])
            write_batch(client, target, batch[middle:])
            return
        raise _explain(error, target) from None


def write_lines(
    client: InfluxDBClient, target: InfluxTarget, lines: Iterable[bytes], batch_bytes: int = DEFAULT_BATCH_BYTES
) -> int:
    """Write every line in batches; returns the number of lines written.

    A background thread gzips and posts each batch (both release the GIL) while the next one is read and assembled;
    one batch waits at most, so memory stays about two batches.
    """

    def post(batch: list[bytes]) -> None:
        write_batch(client, target, batch)

    written = 0
    with Background(post, depth=1, name="lyve-influx-writer") as writer:
        for batch in byte_batches(lines, batch_bytes):
            writer.put(batch)
            written += len(batch)
    return written


@dataclass(frozen=True, slots=True)
class LedgerRecord:
    """One loaded object, as the pipeline-health measurement keeps it."""

    object_key: str
    kind: str
    logged_bucket: str | None
    key_time: datetime
    last_modified: datetime
    size: int
    entries: int
    points: int
    bad: int


def ledger_line(record: LedgerRecord) -> bytes:
    """The ledger point of a loaded object.

    Its time is the key's timestamp plus a sub-millisecond offset taken from the key, so that objects of the same kind
    stamped in the same second stay distinct points, and a reload of the same object rewrites its own point.
    """
    digest = hashlib.blake2b(record.object_key.encode(), digest_size=8).digest()
    offset = int.from_bytes(digest, "big") % 1_000_000
    time_ns = int(record.key_time.timestamp()) * 1_000_000_000 + offset
    lag_s = max(0, int((record.last_modified - record.key_time).total_seconds()))
    tags = tag_set([("bucket", record.logged_bucket or ""), ("kind", record.kind)])
    fields = ",".join(
        [
            f"object={escape_field_string(record.object_key)}",
            f"object_bytes={record.size}i",
            f"entries={record.entries}i",
            f"points={record.points}i",
            f"bad={record.bad}i",
            f"lag_seconds={lag_s}i",
        ]
    )
    return f"{LEDGER_MEASUREMENT}{tags} {fields} {time_ns}".encode()


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def loaded_keys(client: InfluxDBClient, target: InfluxTarget, start: datetime, end: datetime) -> frozenset[str]:
    """Keys of objects the ledger shows as loaded with key times in `[start, end)` (InfluxQL on `/query`).

    InfluxQL works on InfluxDB 1.8, on 2.x through the bucket's DBRP mapping, and on 3.x. A bucket with no ledger yet
    answers with no series.
    """
    # Only our own constant and formatted datetimes go into this query.
    influxql = (
        f'SELECT "object" FROM "{LEDGER_MEASUREMENT}" '  # noqa: S608
        f"WHERE time >= '{_rfc3339(start)}' AND time < '{_rfc3339(end)}'"
    )
    try:
        response = client.api_client.call_api(
            "/query",
            "GET",
            query_params=[("db", target.bucket), ("q", influxql)],
            header_params={"Accept": "application/json"},
            _preload_content=False,
            _return_http_data_only=True,
        )
    except ApiException as error:
        raise _explain(error, target) from None
    body = orjson.loads(response.data)
    keys: set[str] = set()
    for result in body.get("results", []):
        if "error" in result:
            if "database not found" in str(result["error"]):
                raise DestinationError(f"{target.describe()} not found: {result['error']}")
            raise DestinationError(f"ledger query on {target.describe()} failed: {result['error']}")
        for series in result.get("series", []):
            column = series["columns"].index("object")
            keys.update(row[column] for row in series["values"])
    return frozenset(keys)
