"""Writing line protocol to InfluxDB 1.x, 2.x or 3.x, and reading back the load ledger.

Every write is one gzip'd batch (`GzippedBatch`), usually compressed once at parse time and posted as staged.
The target's `api_version` picks the write API: 2 posts to `/api/v2/write` with influxdb-client (token, org, bucket),
1 posts to `/write?db=&rp=` (user/password, or a token), and `None` asks `/ping`'s version header. InfluxDB 3
takes both (bucket = database). The ledger is read with InfluxQL on `/query`, which every version serves.
Retries (429/5xx, honouring `Retry-After`) are urllib3's, one policy for every request. Answers that no retry can fix
(bad token, missing bucket or org, rejected lines) raise `DestinationError` at once with a message that names the
bucket and org and never the token; a partial write raises `PartialWrite` listing the rejected lines.
"""

from __future__ import annotations

import base64
import hashlib
import re
import urllib.parse
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar

import orjson
import urllib3
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException
from influxdb_client.service.write_service import WriteService
from urllib3.util.retry import Retry

from include.lyve_audit.errors import DestinationError, DestinationUnavailable, PartialWrite
from include.lyve_audit.keys import PastPlans
from include.lyve_audit.lineproto import escape_field_string, tag_set

LEDGER_MEASUREMENT = "lyve-pipeline"
PLAN_MEASUREMENT = "lyve-pipeline-plan"
_INTERVAL_KIND = "interval"
_MAX_INTERVAL = timedelta(hours=1)  # the longest interval: a marker this long before a window can still cover it
DEFAULT_BATCH_BYTES = 4 << 20


@dataclass(frozen=True)
class InfluxTarget:
    """Where points go. Secrets are excluded from repr so that they cannot reach a log line by accident.

    `bucket` is the 2.x bucket, or the 1.x/3.x database (`retention_policy` optional, 1.x only). `api_version` None
    means: ask the server (`/ping`) when the client opens.
    """

    url: str
    org: str
    bucket: str
    token: str = field(repr=False)
    timeout_s: float = 60.0
    api_version: int | None = 2
    username: str = ""
    password: str = field(default="", repr=False)
    retention_policy: str = ""
    verify_ssl: bool = True
    ssl_ca_cert: str | None = None

    def describe(self) -> str:
        if self.api_version == 1:
            policy = f" (retention policy {self.retention_policy!r})" if self.retention_policy else ""
            return f"database {self.bucket!r}{policy} at {self.url}"
        return f"bucket {self.bucket!r} of org {self.org!r} at {self.url}"

    def auth_headers(self) -> dict[str, str]:
        """`Authorization` for the plain HTTP requests: the token when there is one, else user/password (1.x)."""
        if self.token:
            return {"Authorization": f"Token {self.token}"}
        if self.username:
            pair = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            return {"Authorization": f"Basic {pair}"}
        return {}


@dataclass(frozen=True)
class ConnectionFields:
    """An Airflow connection's fields, as plain values (the glue reads them; this module stays Airflow-free)."""

    conn_type: str
    host: str
    port: int | None = None
    schema: str = ""
    login: str = ""
    password: str = field(default="", repr=False)
    extra: dict[str, object] = field(default_factory=dict)

    def extra_value(self, name: str) -> str:
        """An extra by its plain name, or as the older form prefix `extra__<type>__<name>` stored it."""
        value = self.extra.get(name, self.extra.get(f"extra__{self.conn_type}__{name}"))
        return "" if value is None else str(value)


def target_from_connection(fields: ConnectionFields, bucket_variable: str | None) -> InfluxTarget:
    """The target an InfluxDB connection describes, for this product's `lyve_influxdb` type and the `influxdb` one.

    URL: `host` may hold a whole URL (`https://influx.example.com:8086`); otherwise scheme from `schema` (as the
    `influxdb` type keeps it) and port (8086 by default). Credentials: see below; a connection of type `influxdb`
    keeps its earlier meaning (token in extra or password, org in extra or login). Bucket: the Variable
    `influxdb_bucket` wins when set (one connection can serve several pipelines); else the connection's `bucket` (or
    `database`) extra.
    """
    host = fields.host.strip()
    if "://" in host:
        parsed = urllib.parse.urlsplit(host)
        url = f"{parsed.scheme}://{parsed.netloc}{parsed.path.rstrip('/')}"
        if fields.port and not parsed.port:
            url = f"{parsed.scheme}://{parsed.netloc}:{fields.port}{parsed.path.rstrip('/')}"
    else:
        scheme = fields.schema if fields.schema in ("http", "https") else "http"
        url = f"{scheme}://{host or 'localhost'}:{fields.port or 8086}"
    if fields.conn_type == "influxdb":  # the official provider's type, and this product's earlier connections
        token = fields.extra_value("token") or fields.password
        org = fields.extra_value("org") or fields.extra_value("org_name") or fields.login
        username = ""
    else:  # `lyve_influxdb`: a login makes the password a 1.x user's password, else the password is the token
        token = fields.extra_value("token") or ("" if fields.login else fields.password)
        org = fields.extra_value("org")
        username = "" if token else fields.login
    bucket = (bucket_variable or "").strip() or fields.extra_value("bucket") or fields.extra_value("database")
    if not bucket:
        raise DestinationError(
            "no InfluxDB bucket: set the connection's bucket/database field or the Variable influxdb_bucket"
        )
    version = fields.extra_value("api_version").strip().lower().removeprefix("v")
    if version not in ("", "auto", "1", "2"):
        raise DestinationError(f"connection extra api_version must be 1, 2 or auto, not {version!r}")
    verify = fields.extra_value("verify_ssl").strip().lower() not in ("false", "0", "no", "off")
    return InfluxTarget(
        url=url,
        org=org,
        bucket=bucket,
        token=token,
        timeout_s=float(fields.extra_value("timeout_s") or 60),
        api_version=int(version) if version in ("1", "2") else None,
        username=username,
        password=fields.password if username else "",
        retention_policy=fields.extra_value("retention_policy"),
        verify_ssl=verify,
        ssl_ca_cert=fields.extra_value("ssl_ca_cert") or None,
    )


def write_retries(total: int = 5, backoff_factor: float = 1.0) -> Retry:
    """urllib3's retry policy for every request: 429 and 5xx, POST included, Retry-After honoured."""
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


def api_version_of(server_version: str, target: InfluxTarget) -> int:
    """The write API to use for a server reporting `server_version` in `/ping`'s `X-Influxdb-Version` header.

    1.x speaks only the 1.x API (1.8 has a v2 write shim, but no orgs or buckets of its own); 2.x prefers its own; 3.x
    takes both, so the credentials decide (a token: 2, user/password only: 1). No header: 2.
    """
    major = server_version.strip().lstrip("v").split(".", 1)[0]
    if major == "1":
        return 1
    if major == "3" and not target.token:
        return 1
    return 2


class InfluxClient:
    """The HTTP transport to one target: influxdb-client for the 2.x write, urllib3 for the 1.x write and `/query`.

    Both share one retry policy, timeout and TLS settings. Use as a context manager (`open_client`).
    """

    def __init__(self, target: InfluxTarget, retries: Retry | None = None) -> None:
        self.retries = retries if retries is not None else write_retries()
        self.http = urllib3.PoolManager(
            retries=self.retries,
            timeout=urllib3.Timeout(total=target.timeout_s),
            cert_reqs="CERT_REQUIRED" if target.verify_ssl else "CERT_NONE",
            ca_certs=target.ssl_ca_cert,
        )
        if target.api_version is None:
            target = replace(target, api_version=api_version_of(self._server_version(target), target))
        self.target = target
        self.v2: InfluxDBClient | None = None
        if target.api_version == 2:
            self.v2 = InfluxDBClient(
                url=target.url,
                token=target.token,
                org=target.org,
                timeout=int(target.timeout_s * 1000),
                enable_gzip=False,  # bodies come gzip'd already (`GzippedBatch`)
                retries=self.retries,
                verify_ssl=target.verify_ssl,
                ssl_ca_cert=target.ssl_ca_cert,
            )

    def _server_version(self, target: InfluxTarget) -> str:
        response = self.request("GET", target, "/ping", {})
        if response.status >= 400 and response.status not in (401, 403):
            raise _explain(response.status, response.data, target)
        return str(response.headers.get("X-Influxdb-Version", ""))

    def request(
        self, method: str, target: InfluxTarget, path: str, params: dict[str, str], body: bytes | None = None
    ) -> urllib3.BaseHTTPResponse:
        """One request with the shared retries; an unreachable server is `DestinationUnavailable` (retryable)."""
        headers = target.auth_headers()
        if body is not None:
            headers |= {"Content-Encoding": "gzip", "Content-Type": "text/plain; charset=utf-8"}
        url = f"{target.url.rstrip('/')}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            return self.http.request(method, url, body=body, headers=headers)
        except urllib3.exceptions.HTTPError as error:
            raise DestinationUnavailable(f"{target.describe()} unreachable: {type(error).__name__}") from None

    def close(self) -> None:
        if self.v2 is not None:
            self.v2.close()  # type: ignore[no-untyped-call]  # influxdb-client leaves `close` unannotated
        self.http.clear()

    def __enter__(self) -> InfluxClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def open_client(target: InfluxTarget, retries: Retry | None = None) -> InfluxClient:
    """The transport to `target` (its API version asked from `/ping` when the target leaves it open)."""
    return InfluxClient(target, retries if retries is not None else write_retries())


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


_DROPPED = re.compile(r"dropped=(\d+)")
_UNPARSABLE = re.compile(r"unable to parse '(.*?)': ", re.DOTALL)
_TYPE_CONFLICT = re.compile(r'input field "(.+?)" on measurement "(.+?)" is type (\w+)')
REJECTED_SHOWN = 10


def _server_message(body: bytes) -> tuple[str, list[dict[str, object]]]:
    """The error text of an answer (1.x `error`, 2.x `message`, 3.x `error` + `data`) and 3.x's rejected lines."""
    try:
        parsed = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:500].decode("utf-8", "replace"), []
    if not isinstance(parsed, dict):
        return str(parsed)[:500], []
    message = str(parsed.get("message") or parsed.get("error") or "")[:500]
    data = parsed.get("data")
    return message, [item for item in data if isinstance(item, dict)] if isinstance(data, list) else []


def _field_type(value: bytes) -> str:
    """The line-protocol type of a field value as InfluxDB names it (`string`, `boolean`, `integer`, `float`)."""
    if value.startswith(b'"'):
        return "string"
    if value[:1] in (b"t", b"T", b"f", b"F"):
        return "boolean"
    number = value.split(b",", 1)[0].split(b" ", 1)[0]
    return {b"i": "integer", b"u": "unsigned"}.get(number[-1:], "float")


def _conflicting(lines: list[bytes], measurement: str, field_key: str, kind: str) -> list[str]:
    """Lines of `measurement` whose `field_key` is of type `kind`: the ones a field type conflict rejects."""
    key = re.compile(rb"[ ,]" + re.escape(field_key.encode()) + rb"=")
    heads = (measurement.encode() + b",", measurement.encode() + b" ")
    rejected = []
    for line in lines:
        found = key.search(line) if line.startswith(heads) else None
        if found and _field_type(line[found.end() :]) == kind:
            rejected.append(line.decode("utf-8", "replace"))
    return rejected


def _rejected_lines(message: str, data: list[dict[str, object]], lines: list[bytes]) -> list[str]:
    """The rejected lines as far as the answer names them (3.x lists them; 1.x/2.x quote or describe them)."""
    if data:
        return [
            f"line {item.get('line_number')}: {item.get('original_line')} ({item.get('error_message')})"
            for item in data
        ]
    rejected = _UNPARSABLE.findall(message)
    conflict = _TYPE_CONFLICT.search(message)
    if conflict:
        rejected += _conflicting(lines, conflict[2], conflict[1], conflict[3])
    return rejected or [message]


def _explain(
    status: int, body: bytes, target: InfluxTarget, lines: list[bytes] | None = None
) -> DestinationError | DestinationUnavailable:
    message, data = _server_message(body or b"")
    if status in (401, 403):
        reason = (
            f"token rejected (HTTP {status}) for {target.describe()}: check the connection's credentials and rights"
        )
    elif status == 404:
        reason = f"{target.describe()} not found (HTTP 404): create it or fix the connection/Variable"
    elif status in (400, 422):
        if data or "partial write" in message:
            rejected = _rejected_lines(message, data, lines or [])
            dropped = _DROPPED.search(message)
            count = len(data) if data else int(dropped[1]) if dropped else len(rejected)
            shown = "; ".join(rejected[:REJECTED_SHOWN]) + ("; …" if len(rejected) > REJECTED_SHOWN else "")
            return PartialWrite(
                f"{target.describe()} rejected lines (HTTP {status}), {count} dropped, the others written: "
                f"{message} — rejected: {shown}",
                rejected,
            )
        reason = f"{target.describe()} rejected lines (HTTP {status}): {message}"
    else:  # 429 and 5xx that outlasted the client's retries, or any other answer: a later try may succeed
        return DestinationUnavailable(f"write to {target.describe()} failed (HTTP {status}): {message}")
    return DestinationError(reason)


def _post(client: InfluxClient, target: InfluxTarget, body: bytes) -> tuple[int, bytes]:
    """Post one gzip'd body with the target's write API; returns the final status and body."""
    if client.v2 is not None:
        # influxdb-client's generated services carry no annotations (its package is marked typed all the same).
        service = WriteService(client.v2.api_client)  # type: ignore[no-untyped-call]
        try:
            service.post_write(  # type: ignore[no-untyped-call]
                org=target.org, bucket=target.bucket, body=body, precision=WritePrecision.NS, content_encoding="gzip"
            )
        except ApiException as error:
            answer = error.body or b""
            return int(error.status or 0), answer.encode() if isinstance(answer, str) else answer
        except urllib3.exceptions.HTTPError as error:
            raise DestinationUnavailable(f"{target.describe()} unreachable: {type(error).__name__}") from None
        return 204, b""
    params = {"db": target.bucket, "precision": "ns"}
    if target.retention_policy:
        params["rp"] = target.retention_policy
    response = client.request("POST", target, "/write", params, body)
    return response.status, response.data


def write_batch(client: InfluxClient, target: InfluxTarget, batch: GzippedBatch) -> None:
    """Post one batch (every write goes through here); a 413 (too large) splits it in two and writes the halves.

    A partial write raises `PartialWrite`: a rewrite of the batch (task retry) rewrites the kept points unchanged.
    """
    target = client.target  # with its API version as the server answered (`/ping`) when that was left open
    if batch.escaped:
        body = _gzip(_LF.join(batch.lines()))  # the points hold line feeds: post their real text, re-encoded
    else:
        body = batch.body
    status, answer = _post(client, target, body)
    if status < 300:
        return
    if status == 413 and batch.points > 1:
        lines = batch.lines()
        middle = len(lines) // 2
        write_batch(client, target, GzippedBatch.of(lines[:middle]))
        write_batch(client, target, GzippedBatch.of(lines[middle:]))
        return
    raise _explain(status, answer, target, batch.lines() if status in (400, 422) else None)


def write_batches(client: InfluxClient, target: InfluxTarget, batches: Iterable[GzippedBatch]) -> int:
    """Write every batch in order, one request after the other; returns the number of points written.

    No thread: reading the next staged batch takes a small fraction of the time InfluxDB takes to accept one, so a
    background poster gained nothing (100,000 entries, 22 MB staged: 8.89 s with one, 8.86 s without).
    """
    written = 0
    for batch in batches:
        write_batch(client, target, batch)
        written += batch.points
    return written


def write_lines(
    client: InfluxClient, target: InfluxTarget, lines: Iterable[bytes], batch_bytes: int = DEFAULT_BATCH_BYTES
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


def object_time_ns(object_key: str, key_time: datetime) -> int:
    """The time of an object's ledger and plan points: its key time plus a sub-millisecond offset taken from the key,
    so that objects of the same kind stamped in the same second stay distinct points, and a reload of the same object
    rewrites its own point."""
    digest = hashlib.blake2b(object_key.encode(), digest_size=8).digest()
    return int(key_time.timestamp()) * 1_000_000_000 + int.from_bytes(digest, "big") % 1_000_000


def ledger_line(record: LedgerRecord) -> bytes:
    """The ledger point of a loaded object."""
    time_ns = object_time_ns(record.object_key, record.key_time)
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


@dataclass(frozen=True, slots=True)
class ClaimedObject:
    """An object a plan took, for the plan record."""

    object_key: str
    kind: str
    logged_bucket: str | None
    key_time: datetime


def plan_lines(start: datetime, end: datetime, run_id: str, claimed: Iterable[ClaimedObject]) -> list[bytes]:
    """The plan record of the interval `[start, end)`: one claim point per object taken, then the interval's marker.

    Kept apart from the ledger (`lyve-pipeline` means "loaded"): a claim says which interval's run loads an object,
    so that other runs never take it as late; the marker says the interval's plan has run. Written in one request,
    claims first, so a marker is never seen without its claims.
    """
    interval = escape_field_string(start.isoformat())
    run = escape_field_string(run_id)
    lines = []
    count = 0
    for item in claimed:
        tags = tag_set([("bucket", item.logged_bucket or ""), ("kind", item.kind)])
        fields = f"object={escape_field_string(item.object_key)},interval_start={interval},run={run}"
        lines.append(f"{PLAN_MEASUREMENT}{tags} {fields} {object_time_ns(item.object_key, item.key_time)}".encode())
        count += 1
    marker = f"interval_end={escape_field_string(end.isoformat())},objects={count}i,run={run}"
    time_ns = int(start.timestamp()) * 1_000_000_000
    lines.append(f"{PLAN_MEASUREMENT},kind={_INTERVAL_KIND} {marker} {time_ns}".encode())
    return lines


def _rfc3339(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _select(
    client: InfluxClient, target: InfluxTarget, columns: str, measurement: str, start: datetime, end: datetime
) -> list[dict[str, Any]]:
    """Rows of an InfluxQL SELECT over `[start, end)` (time in epoch seconds), on `/query`.

    InfluxQL on `/query` is served by InfluxDB 1.x, by 2.x through the bucket's DBRP mapping, and by 3.x. A bucket with
    no such measurement yet answers with no series.
    """
    target = client.target  # with its API version resolved
    # Only our own constants and formatted datetimes go into this query.
    influxql = (
        f'SELECT {columns} FROM "{measurement}" '  # noqa: S608
        f"WHERE time >= '{_rfc3339(start)}' AND time < '{_rfc3339(end)}'"
    )
    params = {"db": target.bucket, "q": influxql, "epoch": "s"}
    if target.retention_policy:
        params["rp"] = target.retention_policy
    response = client.request("GET", target, "/query", params)
    if response.status >= 300:
        raise _explain(response.status, response.data, target)
    rows: list[dict[str, Any]] = []
    for result in orjson.loads(response.data).get("results", []):
        if "error" in result:
            if "database not found" in str(result["error"]):
                raise DestinationError(f"{target.describe()} not found: {result['error']}")
            raise DestinationError(f"ledger query on {target.describe()} failed: {result['error']}")
        for series in result.get("series", []):
            rows.extend(dict(zip(series["columns"], values, strict=True)) for values in series["values"])
    return rows


def loaded_keys(client: InfluxClient, target: InfluxTarget, start: datetime, end: datetime) -> frozenset[str]:
    """Keys of objects the ledger shows as loaded with key times in `[start, end)`."""
    return frozenset(row["object"] for row in _select(client, target, '"object"', LEDGER_MEASUREMENT, start, end))


def ledger_points(client: InfluxClient, target: InfluxTarget, object_key: str, key_time: datetime) -> int | None:
    """The points the ledger records for an object, None when the ledger does not show it loaded."""
    second = key_time.replace(microsecond=0)
    rows = _select(client, target, '"object", "points"', LEDGER_MEASUREMENT, second, second + timedelta(seconds=1))
    return next((int(row["points"]) for row in rows if row["object"] == object_key), None)


def past_plans(client: InfluxClient, target: InfluxTarget, start: datetime, end: datetime) -> PastPlans:
    """The ledger and the plan records of `[start, end)`: objects loaded, intervals planned, objects claimed.

    Markers are read from an hour before `start` too, so that an interval that began before the window counts.
    """
    planned: list[tuple[datetime, datetime]] = []
    claims: dict[str, datetime] = {}
    columns = '"object", "interval_start", "interval_end"'
    for row in _select(client, target, columns, PLAN_MEASUREMENT, start - _MAX_INTERVAL, end):
        if row.get("interval_end"):
            planned.append((_row_time(row["time"]), datetime.fromisoformat(row["interval_end"])))
        elif row.get("object"):
            claims[row["object"]] = datetime.fromisoformat(row["interval_start"])
    return PastPlans(loaded_keys(client, target, start, end), tuple(sorted(planned)), claims)


def _row_time(value: int | str) -> datetime:
    """A row's time: epoch seconds as asked (`epoch=s`), or RFC 3339 from a server that ignores the parameter."""
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return datetime.fromtimestamp(value, UTC)
