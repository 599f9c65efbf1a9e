"""The InfluxDB schema of each log kind, kept compatible with the system this replaces (its six dashboard queries).

- S3 API → `audit-01`, time `auditEntry.time`; tags `auditEntry.api.bucket`, `auditEntry.api.name`,
  `auditEntry.api.statusCode`, `auditEntry.requestHeader.X-Real-Ip` (client IP, port dropped),
  `serviceAccountCreatorId`, `serviceAccountName`.
- Console → `console-01`, time `ConsoleEvent.EventTime`; tags `ConsoleEvent.Eventname`,
  `UserIdentity.IPAddress` (port dropped), `UserIdentity.Role`, `UserIdentity.UserName`.
- IAM → `iam-01`, time `date`; tags `bucket_name`, `content.client_name`, `content.hostname`, `content.ip`
  (port dropped), `content.user_name`, `organization`, `source`.

Per-request values (request ID, object key, user agent, ports) are fields, never tags, so series stay bounded.
Every point has `entry_bytes` (the entry's size) and, unless turned off, `message` (the entry's JSON as logged).
A value of the wrong type for a typed field makes the line bad (quarantined), since InfluxDB rejects a whole batch
on a field-type conflict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from include.lyve_audit.keys import CONSOLE, IAM, S3
from include.lyve_audit.lineproto import (
    _SECONDS,
    escape_field_string,
    host_without_port,
    json_field_string,
    parse_duration_ns,
    parse_time_ns,
    tag_set,
)
from include.lyve_audit.parse import (
    MAX_INTEGER,
    MAX_SERIES_KEY_BYTES,
    MAX_TIME_NS,
    MIN_INTEGER,
    MIN_TIME_NS,
    BadLine,
)

MEASUREMENTS = {S3: "audit-01", CONSOLE: "console-01", IAM: "iam-01"}


@dataclass(frozen=True, slots=True)
class EncodedEntry:
    """One entry as line-protocol parts; the time is kept apart so collisions can move it."""

    series: str
    fields: str
    time_ns: int


def _text(value: Any) -> str:
    """A tag or string-field value from any JSON scalar (numbers as written, null as empty)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise BadLine(f"expected a scalar, got {type(value).__name__}")


def _storable(name: str, value: int) -> int:
    """The value, if InfluxDB can store it as an integer field (signed 64-bit); a bad line otherwise."""
    if not MIN_INTEGER <= value <= MAX_INTEGER:
        raise BadLine(f"{name}: outside InfluxDB's integer range (signed 64-bit): {str(value)[:64]}")
    return value


def _integer(name: str, value: Any) -> int:
    """An integer field value; digit strings are accepted, anything else is a bad line."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _storable(name, value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return _storable(name, int(value))
    raise BadLine(f"{name}: not an integer: {str(value)[:64]!r}")


def _object(entry: dict[str, Any], name: str) -> dict[str, Any]:
    value = entry.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadLine(f"{name}: expected an object, got {type(value).__name__}")
    return value


def _time(name: str, value: Any) -> int:
    if not isinstance(value, str) or not value:
        raise BadLine(f"{name}: missing or not a string")
    try:
        return parse_time_ns(value)
    except ValueError as error:
        raise BadLine(f"{name}: {error}") from None


def _epoch_or_time(name: str, value: Any) -> int:
    """IAM `date`: a time string, or epoch seconds / milliseconds / microseconds / nanoseconds by magnitude."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value <= 0:
            raise BadLine(f"{name}: not a positive epoch: {value!r}")
        for limit, scale in ((1e11, 10**9), (1e14, 10**6), (1e17, 10**3)):
            if value < limit:
                return round(value * scale)
        return int(value)
    return _time(name, value)


def _base_fields(raw: str, include_message: bool) -> list[str]:
    fields = [f"entry_bytes={len(raw)}i"]
    if include_message:
        fields.append(f"message={json_field_string(raw)}")
    return fields


def _duration_field(fields: list[str], name: str, value: Any) -> None:
    if value is None:
        return
    try:
        nanos = parse_duration_ns(value)
    except ValueError as error:
        raise BadLine(f"{name}: {error}") from None
    fields.append(f"{name}={_storable(name, nanos)}i")


def _string_field(fields: list[str], name: str, value: Any) -> None:
    text = _text(value)
    if text:
        fields.append(f"{name}={escape_field_string(text)}")


Parts = tuple[str, str, int]
"""(series, fields, time_ns): the parts of one point, cheaper to pass around than an EncodedEntry."""


def s3_parts(entry: dict[str, Any], raw: str, include_message: bool) -> Parts:
    """Any S3 API entry → `audit-01` parts; the reference `s3_usual_parts` must equal."""
    audit = _object(entry, "auditEntry")
    api = _object(audit, "api")
    headers = _object(audit, "requestHeader")
    time_ns = _time("auditEntry.time", audit.get("time"))
    tags = tag_set(
        [
            ("auditEntry.api.bucket", _text(api.get("bucket"))),
            ("auditEntry.api.name", _text(api.get("name"))),
            ("auditEntry.api.statusCode", _text(api.get("statusCode"))),
            ("auditEntry.requestHeader.X-Real-Ip", host_without_port(_text(headers.get("X-Real-Ip")))),
            ("serviceAccountCreatorId", _text(entry.get("serviceAccountCreatorId"))),
            ("serviceAccountName", _text(entry.get("serviceAccountName"))),
        ]
    )
    fields = _base_fields(raw, include_message)
    _duration_field(fields, "auditEntry.api.timeToResponse", api.get("timeToResponse"))
    _duration_field(fields, "auditEntry.api.timeToFirstByte", api.get("timeToFirstByte"))
    for name in ("rx", "tx"):
        if api.get(name) is not None:
            fields.append(f"auditEntry.api.{name}={_integer(f'auditEntry.api.{name}', api[name])}i")
    _string_field(fields, "auditEntry.api.object", api.get("object"))
    _string_field(fields, "auditEntry.api.status", api.get("status"))
    _string_field(fields, "auditEntry.requestID", audit.get("requestID"))
    _string_field(fields, "auditEntry.userAgent", audit.get("userAgent"))
    return MEASUREMENTS[S3] + tags, ",".join(fields), time_ns


_Int64 = Annotated[int, msgspec.Meta(ge=MIN_INTEGER, le=MAX_INTEGER)]
"""An integer msgspec and orjson decode alike, and InfluxDB can store (beyond it orjson gives a float)."""


class _UsualApi(msgspec.Struct, gc=False, rename="camel"):
    bucket: str
    name: str
    status_code: _Int64 | str
    time_to_response: str
    rx: _Int64
    tx: _Int64
    object: str
    status: str
    time_to_first_byte: str | None = None


class _UsualHeaders(msgspec.Struct, gc=False):
    real_ip: str = msgspec.field(name="X-Real-Ip")


class _UsualAudit(msgspec.Struct, gc=False, rename="camel"):
    api: _UsualApi
    request_header: _UsualHeaders
    time: str
    request_id: str = msgspec.field(name="requestID")
    user_agent: str


class _UsualS3Entry(msgspec.Struct, gc=False, rename="camel"):
    """The keys of an S3 API entry the schema reads, with the types Lyve Cloud writes; every other key is skipped."""

    audit_entry: _UsualAudit
    service_account_creator_id: str
    service_account_name: str


_decode_usual_s3 = msgspec.json.Decoder(_UsualS3Entry).decode
_SAFE_DIGITS = len(str(MAX_INTEGER)) - 1
"""Durations with at most this many digits fit a 64-bit integer field; longer ones take the checked path."""
_UNUSUAL = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)
_CACHE_LIMIT = 1 << 16
_s3_tags: dict[tuple[str, str, str | int, str, str], tuple[str, str]] = {}
_ip_tags: dict[str, str] = {}


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> Any:
    """Store in a bounded cache (emptied when full: the values repeat, so it refills at once)."""
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value


def _s3_tag_texts(bucket: str, name: str, code: str | int, creator: str, account: str) -> tuple[str, str]:
    """`audit-01` with the tags sorted before the client IP, and the tags sorted after it."""
    head = [("auditEntry.api.bucket", bucket), ("auditEntry.api.name", name), ("auditEntry.api.statusCode", str(code))]
    tail = [("serviceAccountCreatorId", creator), ("serviceAccountName", account)]
    parts = (MEASUREMENTS[S3] + tag_set(head), tag_set(tail))
    return _remember(_s3_tags, (bucket, name, code, creator, account), parts)  # type: ignore[no-any-return]


def _ip_tag(host: str) -> str:
    return _remember(_ip_tags, host, tag_set([("auditEntry.requestHeader.X-Real-Ip", host)]))  # type: ignore[no-any-return]


def s3_usual_parts(raw: bytes, include_message: bool) -> Parts | None:
    """`s3_parts` of an S3 API line in the usual shape, straight from its bytes; None for any other line.

    This runs once per entry of the biggest objects. msgspec decodes only the keys the schema reads, checking their
    types in C, and skips the rest of the entry (about twice as fast as building the whole entry as dicts). The
    usual shape: every key present with Lyve Cloud's types, ASCII strings that need no field escaping, an RFC 3339
    `Z` time, latencies as `<digits>ns`, valid UTF-8 throughout, a time InfluxDB can store. Any other line, including
    every error, gives None and goes through `s3_parts` (the tests compare both on varied lines), so the bytes
    written are the same either way.
    """
    try:
        entry = _decode_usual_s3(raw)
        text = raw.decode()
    except _UNUSUAL:
        return None
    audit = entry.audit_entry
    api = audit.api
    when, ip, request_id, agent = audit.time, audit.request_header.real_ip, audit.request_id, audit.user_agent
    bucket, name, code, ttr = api.bucket, api.name, api.status_code, api.time_to_response
    obj, status, creator, account = api.object, api.status, entry.service_account_creator_id, entry.service_account_name
    joined = "".join((when, bucket, name, creator, account, ip, ttr, obj, status, request_id, agent))
    if (
        not joined.isascii()
        or '"' in joined
        or "\\" in joined
        or not (obj and status and request_id and agent)
        or ttr[-2:] != "ns"
        or not (digits := ttr[:-2]).isdigit()
        or len(digits) > _SAFE_DIGITS
    ):
        return None

    if (  # `…:SS.nnnnnnnnnZ` with the seconds cached; every other time through the parser (which shares the cache)
        len(when) == 30
        and when[29] == "Z"
        and when[19] == "."
        and (fraction := when[20:29]).isdigit()
        and (seconds := _SECONDS.get(when[:19])) is not None
    ):
        time_ns = seconds * 1_000_000_000 + int(fraction)
    else:
        try:
            time_ns = parse_time_ns(when)
        except ValueError:
            return None
    if not MIN_TIME_NS <= time_ns <= MAX_TIME_NS:
        return None

    host, colon, port = ip.partition(":")
    if not (colon and port.isdigit() and host[:1] > " " and host[0] != "["):  # ASCII here: no other whitespace
        host = host_without_port(ip)
    head, tail = _s3_tags.get((bucket, name, code, creator, account)) or _s3_tag_texts(
        bucket, name, code, creator, account
    )
    series = f"{head}{_ip_tags.get(host) or _ip_tag(host)}{tail}"
    if len(series) > MAX_SERIES_KEY_BYTES:  # ASCII: characters are bytes
        return None

    if digits[0] == "0":
        digits = str(int(digits))
    first = api.time_to_first_byte
    if first is None:
        first_byte = ""
    elif first[-2:] == "ns" and (first := first[:-2]).isdigit() and first.isascii() and len(first) <= _SAFE_DIGITS:
        first_byte = f",auditEntry.api.timeToFirstByte={int(first)}i"
    else:
        return None
    message = f",message={json_field_string(text)}" if include_message else ""
    return (
        series,
        f"entry_bytes={len(text)}i{message},auditEntry.api.timeToResponse={digits}i{first_byte},"
        f'auditEntry.api.rx={api.rx}i,auditEntry.api.tx={api.tx}i,auditEntry.api.object="{obj}",'
        f'auditEntry.api.status="{status}",auditEntry.requestID="{request_id}",auditEntry.userAgent="{agent}"',
        time_ns,
    )


def console_parts(entry: dict[str, Any], raw: str, include_message: bool) -> Parts:
    """A Console audit entry → `console-01` parts."""
    identity = _object(entry, "UserIdentity")
    event = _object(entry, "ConsoleEvent")
    time_ns = _time("ConsoleEvent.EventTime", event.get("EventTime"))
    tags = tag_set(
        [
            ("ConsoleEvent.Eventname", _text(event.get("Eventname"))),
            ("UserIdentity.IPAddress", host_without_port(_text(identity.get("IPAddress")))),
            ("UserIdentity.Role", _text(identity.get("Role"))),
            ("UserIdentity.UserName", _text(identity.get("UserName"))),
        ]
    )
    fields = _base_fields(raw, include_message)
    if event.get("StatusCode") is not None:
        fields.append(f"StatusCode={_integer('ConsoleEvent.StatusCode', event['StatusCode'])}i")
    _string_field(fields, "ConsoleEvent.Status", event.get("Status"))
    _string_field(fields, "UserIdentity.EventSource", identity.get("EventSource"))
    return MEASUREMENTS[CONSOLE] + tags, ",".join(fields), time_ns


def iam_parts(entry: dict[str, Any], raw: str, include_message: bool) -> Parts:
    """An IAM audit entry → `iam-01` parts (the `content.*` tags the old system always left empty are filled)."""
    content = _object(entry, "content")
    time_ns = _epoch_or_time("date", entry.get("date"))
    tags = tag_set(
        [
            ("bucket_name", _text(entry.get("bucket_name"))),
            ("content.client_name", _text(content.get("client_name"))),
            ("content.hostname", _text(content.get("hostname"))),
            ("content.ip", host_without_port(_text(content.get("ip")))),
            ("content.user_name", _text(content.get("user_name"))),
            ("organization", _text(entry.get("organization"))),
            ("source", _text(entry.get("source"))),
        ]
    )
    fields = _base_fields(raw, include_message)
    _string_field(fields, "created_date", entry.get("created_date"))
    return MEASUREMENTS[IAM] + tags, ",".join(fields), time_ns


PartsEncoder = Callable[[dict[str, Any], str, bool], Parts]
PARTS: dict[str, PartsEncoder] = {S3: s3_parts, CONSOLE: console_parts, IAM: iam_parts}
"""Per kind: (parsed entry, its JSON text as logged, include message) → parts. The text must be the JSON the entry
was parsed from (see `json_field_string`); a value of the wrong type raises BadLine."""
UsualPartsEncoder = Callable[[bytes, bool], "Parts | None"]


def compiled_s3_usual_parts() -> UsualPartsEncoder | None:
    """The compiled twin of `s3_usual_parts` (include/lyve_audit/_s3_line.pyx), or None where it is not built.

    It builds the parts of the commonest lines in C, about twice as fast, and hands every other line to
    `s3_usual_parts`; the tests hold both to the general path's bytes. `make venv` builds it (setup.py); without it
    the package runs the pure-Python path and writes the same points.
    """
    try:
        from include.lyve_audit import _s3_line  # optional: built by `make venv`
    except ImportError:
        return None
    _s3_line.configure(_decode_usual_s3, s3_usual_parts, MAX_SERIES_KEY_BYTES)
    return _s3_line.s3_usual_parts  # type: ignore[no-any-return]


_compiled_s3 = compiled_s3_usual_parts()
USUAL_PARTS: dict[str, UsualPartsEncoder] = {S3: _compiled_s3 or s3_usual_parts}
"""Per kind with a fast path: (line bytes, include message) → the same parts as `PARTS`, or None to use `PARTS`."""
S3_LINE_ENCODER = "compiled" if _compiled_s3 else "pure Python (`make venv` builds the compiled one, ~2x faster)"
"""Which encoder takes usual S3 API lines here, for the parse task's log."""


def encode_s3(entry: dict[str, Any], raw: str, include_message: bool) -> EncodedEntry:
    """An S3 API audit entry → `audit-01`."""
    return EncodedEntry(*s3_parts(entry, raw, include_message))


def encode_console(entry: dict[str, Any], raw: str, include_message: bool) -> EncodedEntry:
    """A Console audit entry → `console-01`."""
    return EncodedEntry(*console_parts(entry, raw, include_message))


def encode_iam(entry: dict[str, Any], raw: str, include_message: bool) -> EncodedEntry:
    """An IAM audit entry → `iam-01` (the `content.*` tags the old system always left empty are filled)."""
    return EncodedEntry(*iam_parts(entry, raw, include_message))


Encoder = Callable[[dict[str, Any], str, bool], EncodedEntry]
ENCODERS: dict[str, Encoder] = {S3: encode_s3, CONSOLE: encode_console, IAM: encode_iam}
