"""Writing line protocol to InfluxDB with influxdb-client, and reading back the load ledger.

Every write is one gzip'd batch (`GzippedBatch`), usually compressed once at parse time and posted as staged.
Retries (429/5xx, honouring `Retry-After`) are urllib3's, handed to influxdb-client. Errors that no retry can fix
(bad token, missing bucket or org, rejected lines) are raised at once as `DestinationError` with a message that names
the bucket and org and never the token.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

import orjson
from influxdb_client import InfluxDBClient, WritePrecision
from influxdb_client.rest import ApiException
from influxdb_client.service.write_service import WriteService
from urllib3.util.retry import Retry

from include.lyve_audit.background import Background
from include.lyve_audit.errors import DestinationError, DestinationUnavailable
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
    """An influxdb-client client with the retry policy above; bodies come gzip'd already (`GzippedBatch`)."""
    return InfluxDBClient(
        url=target.url,
        token=target.token,
        org=target.org,
        timeout=int(target.timeout_s * 1000),
        enable_gzip=False,
        retries=retries if retries is not None else write_retries(),
    )


BATCH_GZIP_LEVEL = 1
"""zlib level 1: 275–400 MB/s of line protocol for 11% of its size; level 6 is half as fast for 8%, and level 9
(influxdb-client's own) ~60 MB/s, a fifth of the engine's time per batch on the cores it needs (`make bench`)."""

_LF, _ESC = b"\n", b"\x1b"


def _gzip(data: bytes) -> bytes:
    """One complete gzip member of `data`, the body of a write request."""
    return zlib.compress(data, BATCH_GZIP_LEVEL, wbits=31)


@dataclass(frozen=True, slots=True)
class GzippedBatch:
    """One write request: `points` lines, joined by LF and gzip'd, ready to post as they are.

    A point may hold a line feed inside a string field; a batch with such points is `escaped` (LF inside a point
    written as ESC n, ESC as ESC ESC), so that its lines can always be told apart, and is re-encoded before posting.
    """

    points: int
    body: bytes
    escaped: bool = False

    @classmethod
    def of(cls, lines: list[bytes]) -> GzippedBatch:
        """The batch of these lines (escaped when one of them holds LF or ESC)."""
        joined = _LF.join(lines)
        escaped = joined.count(_LF) != len(lines) - 1 or _ESC in joined
        if escaped:
            joined = _LF.join(line.replace(_ESC, _ESC + _ESC).replace(_LF, _ESC + b"n") for line in lines)
        return cls(len(lines), _gzip(joined), escaped)

    @classmethod
    def of_text(cls, lines: list[str]) -> GzippedBatch:
        """`of` for lines as text (one join and one encode for the batch)."""
        joined = "\n".join(lines).encode()
        if joined.count(_LF) != len(lines) - 1 or _ESC in joined:
            return cls.of([line.encode() for line in lines])
        return cls(len(lines), _gzip(joined))

    def lines(self) -> list[bytes]:
        """The points, one `bytes` each, as they are to be written."""
        lines = zlib.decompress(self.body, wbits=31).split(_LF)
        if self.escaped:
            lines = [_ESCAPED.sub(_unescape, line) if _ESC in line else line for line in lines]
        return lines


_ESCAPED = re.compile(rb"\x1b(.)", re.DOTALL)


def _unescape(match: re.Match[bytes]) -> bytes:
    return _LF if match[1] == b"n" else match[1]


Text = TypeVar("Text", str, bytes)


def byte_batches(lines: Iterable[Text], batch_bytes: int = DEFAULT_BATCH_BYTES) -> Iterator[list[Text]]:
    """Group lines into batches of about `batch_bytes` (a line is never split; text is measured in characters)."""
    batch: list[Text] = []
    size = 0
    for line in lines:
        batch.append(line)
        size += len(line) + 1
        if size >= batch_bytes:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _explain(error: ApiException, target: InfluxTarget) -> DestinationError | DestinationUnavailable:
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
    else:  # 429 and 5xx that outlasted the client's retries, or any other answer: a later try may succeed
        return DestinationUnavailable(f"write to {target.describe()} failed (HTTP {status}): {body}")
    return DestinationError(reason)


def write_batch(client: InfluxDBClient, target: InfluxTarget, batch: GzippedBatch) -> None:
    """Post one batch (every write goes through here); a 413 (too large) splits it in two and writes the halves."""
    if batch.escaped:
        lines = batch.lines()  # the points hold line feeds: post their real text, re-encoded
        body = _gzip(_LF.join(lines))
    else:
        body = batch.body
    try:
        WriteService(client.api_client).post_write(
            org=target.org, bucket=target.bucket, body=body, precision=WritePrecision.NS, content_encoding="gzip"
        )
    except ApiException as error:
        if error.status == 413 and batch.points > 1:
            lines = batch.lines()
            middle = len(lines) // 2
            write_batch(client, target, GzippedBatch.of(lines[:middle]))
            write_batch(client, target, GzippedBatch.of(lines[middle:]))
            return
        raise _explain(error, target) from None


def write_batches(client: InfluxDBClient, target: InfluxTarget, batches: Iterable[GzippedBatch]) -> int:
    """Write every batch in order; returns the number of points written.

    A background thread posts each batch (socket I/O releases the GIL) while the next one is read; one batch waits at
    most, so memory stays about two batches.
    """
    written = 0
    with Background(lambda batch: write_batch(client, target, batch), depth=1, name="lyve-influx-writer") as writer:
        for batch in batches:
            writer.put(batch)
            written += batch.points
    return written


def write_lines(
    client: InfluxDBClient, target: InfluxTarget, lines: Iterable[bytes], batch_bytes: int = DEFAULT_BATCH_BYTES
) -> int:
    """Write lines in batches of about `batch_bytes`; returns the number of lines written."""
    return write_batches(client, target, map(GzippedBatch.of, byte_batches(lines, batch_bytes)))


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
