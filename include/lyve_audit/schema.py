"""The InfluxDB schema of each log kind, kept compatible with the system this replaces (its six dashboard queries).

- S3 API → `audit-01`, time `auditEntry.time`; tags `auditEntry.api.bucket`, `auditEntry.api.name`,
  `auditEntry.api.statusCode`, `auditEntry.requestHeader.X-Real-Ip` (client IP, port dropped),
  `serviceAccountCreatorId`, `serviceAccountName`. A bare MinIO entry (no Lyve Cloud wrapper: `time`, `api`, … at
  the top level) is read as its own `auditEntry`, its account tags taken from `parentUser` / `accessKey`.
- Console → `console-01`, time `ConsoleEvent.EventTime`; tags `ConsoleEvent.Eventname`,
  `UserIdentity.IPAddress` (port dropped), `UserIdentity.Role`, `UserIdentity.UserName`.
- IAM → `iam-01`, time `date`; tags `bucket_name`, `content.client_name`, `content.hostname`, `content.ip`
  (port dropped), `content.user_name`, `organization`, `source`; field `action` (`content.action`, else `action`).

Per-request values (request ID, object key, user agent, ports) are fields, never tags, so series stay bounded.
Every point has `entry_bytes` (the entry's size) and, unless turned off, `message` (the entry's JSON as logged).
A value of the wrong type for a typed field makes the line bad (quarantined), since InfluxDB rejects a whole batch
on a field-type conflict.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import compress
from operator import add
from typing import Any

import msgspec
import orjson
from orjson import dumps as _dumps

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
    check_storable,
    decode_entry,
)

MEASUREMENTS = {S3: "audit-01", CONSOLE: "console-01", IAM: "iam-01"}


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
    """An integer field value; decimal digit strings (optionally signed) are accepted, anything else is a bad line."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _storable(name, value)
    if isinstance(value, str) and (digits := value.strip()).removeprefix("-").isdecimal():
        return _storable(name, int(digits))
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


def _string_field(fields: list[str], name: str, value: Any) -> None:
    text = _text(value)
    if text:
        fields.append(f"{name}={escape_field_string(text)}")


Parts = tuple[str, str, int]
"""(series, fields, time_ns): the parts of one point."""

_Scalar = str | int | float | bool | None
"""A value written as text (tag or string field): numbers as written, null as absent."""
_Duration = str | int | float | None
"""A latency: a Go duration (`"2246401314ns"`, `"2.143308ms"`, `"0s"`) or a number of nanoseconds."""
_Integer = int | str | None
"""An integer field: a JSON integer or a string of digits (MinIO writes `timeToResponseInNS` both ways)."""


class _Api(msgspec.Struct, gc=False, rename="camel"):
    name: _Scalar = None
    bucket: _Scalar = None
    object: _Scalar = None
    objects: list[msgspec.Raw] | None = None
    status: _Scalar = None
    status_code: _Scalar = None
    time_to_response: _Duration = None
    time_to_first_byte: _Duration = None
    time_to_response_in_ns: _Integer = msgspec.field(default=None, name="timeToResponseInNS")
    time_to_first_byte_in_ns: _Integer = msgspec.field(default=None, name="timeToFirstByteInNS")
    rx: _Integer = None
    tx: _Integer = None


class _Headers(msgspec.Struct, gc=False):
    real_ip: _Scalar = msgspec.field(default=None, name="X-Real-Ip")


class _Audit(msgspec.Struct, gc=False, rename="camel"):
    """The audit record: Lyve Cloud's `auditEntry`, or a bare MinIO entry as a whole. Every key is optional."""

    time: _Scalar = None
    api: _Api | None = None
    request_header: _Headers | None = None
    request_id: _Scalar = msgspec.field(default=None, name="requestID")
    user_agent: _Scalar = None
    access_key: _Scalar = None
    parent_user: _Scalar = None
    error: _Scalar = None
    request_path: _Scalar = None
    request_host: _Scalar = None


class _S3Entry(_Audit, gc=False, rename="camel"):
    """One S3 API line in either shape: Lyve Cloud's wrapper (`auditEntry` + account names) or a bare MinIO entry
    (`time`, `api`, … at the top level, read by the inherited fields). Keys the schema does not read are skipped."""

    audit_entry: _Audit | None = None
    service_account_creator_id: _Scalar = None
    service_account_name: _Scalar = None


_Text = str | None
_Code = int | str | None


class _TextApi(_Api, gc=False, rename="camel"):
    name: _Text = None
    bucket: _Text = None
    object: _Text = None
    status: _Text = None
    status_code: _Code = None


class _TextHeaders(_Headers, gc=False):
    real_ip: _Text = msgspec.field(default=None, name="X-Real-Ip")


class _TextAudit(_Audit, gc=False, rename="camel"):
    time: _Text = None
    api: _TextApi | None = None
    request_header: _TextHeaders | None = None
    request_id: _Text = msgspec.field(default=None, name="requestID")
    user_agent: _Text = None
    access_key: _Text = None
    parent_user: _Text = None
    error: _Text = None
    request_path: _Text = None
    request_host: _Text = None


class _TextS3Entry(_TextAudit, gc=False, rename="camel"):
    """_S3Entry with every tag and string field a string (the status code an integer or a string), as Lyve Cloud and
    MinIO write them: the types the fast path of `s3_line_parts` relies on. Other lines are decoded as _S3Entry."""

    audit_entry: _TextAudit | None = None
    service_account_creator_id: _Text = None
    service_account_name: _Text = None


_decode_s3 = msgspec.json.Decoder(_S3Entry).decode
_decode_s3_text = msgspec.json.Decoder(_TextS3Entry).decode
_NO_API = _Api()
_NO_HEADERS = _Headers()
_CACHE_LIMIT = 1 << 16
_SAFE_DIGITS = len(str(MAX_INTEGER)) - 1
"""Latencies of at most this many digits fit a 64-bit integer field; longer ones are checked."""
_s3_heads: dict[tuple[Any, ...], tuple[str, str]] = {}
_ip_tags: dict[str, str] = {}
NEITHER_SHAPE = (
    "neither a Lyve Cloud S3 API entry (no `auditEntry`) nor a MinIO audit entry (`time` and `api` at the top level)"
)
SHARED_STRING_FIELDS = (
    "auditEntry.api.status",
    "auditEntry.userAgent",
    "auditEntry.accessKey",
    "auditEntry.parentUser",
    "auditEntry.requestHost",
)
"""String fields whose values many entries share (their text is cached), written first."""
OWN_STRING_FIELDS = ("auditEntry.api.object", "auditEntry.requestID", "auditEntry.requestPath", "auditEntry.error")
"""String fields of each request, written after the shared ones. Each string field only when present and not empty."""
_OWN_PREFIXES = tuple(f',{name}="' for name in OWN_STRING_FIELDS)
_shared_texts: dict[tuple[str | None, ...], str] = {}


def _remember(cache: dict[Any, Any], key: Any, value: Any) -> Any:
    """Store in a bounded cache (emptied when full: the values repeat, so it refills at once)."""
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[key] = value
    return value


def _s3_heads_of(key: tuple[_Scalar, ...]) -> tuple[str, str]:
    """`audit-01` with the tags sorted before the client IP, and the tags sorted after it.

    Cached only for keys of strings, None and an integer status code: `True`, `1` and `1.0` are equal dict keys but
    different tags, so keys holding a boolean or a float are computed every time.
    """
    bucket, name, code, creator, account = map(_text, key)
    head = [("auditEntry.api.bucket", bucket), ("auditEntry.api.name", name), ("auditEntry.api.statusCode", code)]
    tail = [("serviceAccountCreatorId", creator), ("serviceAccountName", account)]
    heads = (MEASUREMENTS[S3] + tag_set(head), tag_set(tail))
    if all(value is None or value.__class__ is str for value in key[:2] + key[3:]) and key[2].__class__ in (
        str,
        int,
        type(None),
    ):
        _remember(_s3_heads, key, heads)
    return heads


def _ip_tag(host: str) -> str:
    """The client IP tag of a host (port already dropped), cached."""
    return _remember(_ip_tags, host, tag_set([("auditEntry.requestHeader.X-Real-Ip", host)]))  # type: ignore[no-any-return]


def _nanoseconds(name: str, value: _Duration) -> int:
    if value.__class__ is str and value[-2:] == "ns" and value[:-2].isdigit() and value.isascii():  # type: ignore[index, union-attr]
        return _storable(name, int(value[:-2]))  # type: ignore[index]
    try:
        nanos = parse_duration_ns(value)
    except ValueError as error:
        raise BadLine(f"{name}: {error}") from None
    return _storable(name, nanos)


def _latency(name: str, in_ns: _Integer, duration: _Duration) -> str:
    """`,name=<ns>i` from the `…InNS` integer when given, else from the Go duration; empty when neither is."""
    if in_ns is not None and in_ns != "":
        nanos = _integer(f"{name}InNS", in_ns)
        if nanos < 0:
            raise BadLine(f"{name}InNS: negative duration: {in_ns!r}")
        return f",{name}={nanos}i"
    if duration is None or duration == "":
        return ""
    return f",{name}={_nanoseconds(name, duration)}i"


def _nothing_to_escape(values: list[str]) -> bool:
    """True when none of the strings holds a quote or a backslash."""
    joined = "".join(values)
    return '"' not in joined and "\\" not in joined


def _string_fields(names: tuple[str, ...], values: tuple[_Scalar, ...]) -> str:
    """`,name="value"` for each non-empty value, escaped as a field string."""
    out = ""
    for name, value in zip(names, values, strict=True):
        if value is None:
            continue
        text = value if value.__class__ is str else _text(value)
        if text:
            out += f",{name}={escape_field_string(text)}"  # type: ignore[arg-type]
    return out


def s3_line_parts(raw: bytes, include_message: bool) -> Parts:
    """One S3 API line (either shape) → `audit-01` parts; a line that cannot be a point raises BadLine.

    msgspec decodes only the keys the schema reads, checking their types in C, and skips the rest of the entry: the
    one decoder of S3 API lines. This runs once per entry of the biggest objects, so the common cases (an RFC 3339
    `Z` time of 9 fraction digits, `"<digits>ns"` latencies, plain ASCII string fields) are inlined here and every
    other case goes through the same checks as the rest of the schema.
    """
    try:
        entry = _decode_s3_text(raw)
        text = raw.decode()
        as_text = True
    except msgspec.ValidationError:  # a number or boolean where text belongs, or a wrong type: every JSON scalar
        as_text = False
        try:
            entry = _decode_s3(raw)
            text = raw.decode()
        except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError, RecursionError) as error:
            raise _bad_s3_line(raw, error) from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as error:
        raise _bad_s3_line(raw, error) from None
    audit = entry.audit_entry
    if audit is not None:
        creator, account, time_name = entry.service_account_creator_id, entry.service_account_name, "auditEntry.time"
    elif entry.time is not None and entry.api is not None:  # a bare MinIO entry: the account is its access key
        audit, creator, account, time_name = entry, entry.parent_user, entry.access_key, "time"
    else:
        raise BadLine(NEITHER_SHAPE)

    when = audit.time
    if (
        when.__class__ is str
        and len(when) == 30  # type: ignore[arg-type]
        and when[29] == "Z"  # type: ignore[index]
        and when[19] == "."  # type: ignore[index]
        and (fraction := when[20:29]).isdigit()  # type: ignore[index]
        and fraction.isascii()
        and (seconds := _SECONDS.get(when[:19])) is not None  # type: ignore[index]
    ):
        time_ns = seconds * 1_000_000_000 + int(fraction)
    else:
        time_ns = _time(time_name, when)

    api = audit.api or _NO_API
    key = (api.bucket, api.name, api.status_code, creator, account)
    heads = _s3_heads.get(key) if as_text else None  # (a boolean or float could equal a cached integer)
    if heads is None:
        heads = _s3_heads_of(key)
    ip = (audit.request_header or _NO_HEADERS).real_ip
    if ip is None or ip == "":
        series = heads[0] + heads[1]
    else:  # `host:port` inlined; any other address through host_without_port
        host, colon, port = ip.partition(":") if ip.__class__ is str else ("", "", "")  # type: ignore[union-attr]
        if not (colon and port.isdigit() and host[:1] > " " and host[0] != "[" and host.isascii()):
            host = host_without_port(_text(ip))
        series = f"{heads[0]}{_ip_tags.get(host) or _ip_tag(host)}{heads[1]}"
    if not MIN_TIME_NS <= time_ns <= MAX_TIME_NS or len(series) > MAX_SERIES_KEY_BYTES // 4:
        check_storable(series, time_ns)

    fields = f"entry_bytes={len(raw)}i"
    if api is not _NO_API:  # integers written as they are when plainly in range; any other value through the checks
        ttr, in_ns = api.time_to_response, api.time_to_response_in_ns
        if in_ns is None:
            if (
                ttr.__class__ is str
                and ttr[-2:] == "ns"  # type: ignore[index]
                and (digits := ttr[:-2]).isdigit()  # type: ignore[index]
                and len(digits) <= _SAFE_DIGITS
                and digits.isascii()
            ):
                fields += f",auditEntry.api.timeToResponse={digits if digits[0] != '0' else int(digits)}i"
            elif ttr is not None:
                fields += _latency("auditEntry.api.timeToResponse", None, ttr)
        elif (in_ns.__class__ is int and 0 <= in_ns <= MAX_INTEGER) or (  # type: ignore[operator]
            in_ns.__class__ is str and in_ns.isdigit() and len(in_ns) <= _SAFE_DIGITS and in_ns.isascii()  # type: ignore[union-attr]
        ):
            fields += f",auditEntry.api.timeToResponse={int(in_ns)}i"
        else:
            fields += _latency("auditEntry.api.timeToResponse", in_ns, ttr)
        if api.time_to_first_byte is not None or api.time_to_first_byte_in_ns is not None:
            fields += _latency("auditEntry.api.timeToFirstByte", api.time_to_first_byte_in_ns, api.time_to_first_byte)
        if (rx := api.rx) is not None:
            if rx.__class__ is int and MIN_INTEGER <= rx <= MAX_INTEGER:  # type: ignore[operator]
                fields += f",auditEntry.api.rx={rx}i"
            elif rx != "":
                fields += f",auditEntry.api.rx={_integer('auditEntry.api.rx', rx)}i"
        if (tx := api.tx) is not None:
            if tx.__class__ is int and MIN_INTEGER <= tx <= MAX_INTEGER:  # type: ignore[operator]
                fields += f",auditEntry.api.tx={tx}i"
            elif tx != "":
                fields += f",auditEntry.api.tx={_integer('auditEntry.api.tx', tx)}i"
        if api.objects:
            fields += f",auditEntry.api.objectCount={len(api.objects)}i"
    shared = (api.status, audit.user_agent, audit.access_key, audit.parent_user, audit.request_host)
    own = (api.object, audit.request_id, audit.request_path, audit.error)
    if not as_text:
        fields += _string_fields(SHARED_STRING_FIELDS, shared) + _string_fields(OWN_STRING_FIELDS, own)
    else:
        fields += _shared_texts.get(shared) or _remember(  # type: ignore[arg-type]
            _shared_texts, shared, _string_fields(SHARED_STRING_FIELDS, shared)
        )
        if present := [*filter(None, own)]:  # `,name="value"` pieces joined in C when nothing needs escaping
            if "\\" not in text or _nothing_to_escape(present):  # no backslash in the JSON: no quote in a value
                fields += '"'.join(map(add, compress(_OWN_PREFIXES, own), present)) + '"'
            else:
                fields += _string_fields(OWN_STRING_FIELDS, own)
    if include_message:  # last, so that the short fields are joined before the long one (json_field_string, inlined)
        if "\t" in text or "\r" in text or "\n" in text:
            fields = f"{fields},message={escape_field_string(text)}"
        else:
            fields = f"{fields},message={_dumps(text).decode()}"
    return series, fields, time_ns


def _bad_s3_line(raw: bytes, error: Exception) -> BadLine:
    """The BadLine for a line msgspec refused, worded by what is wrong with it."""
    if isinstance(error, msgspec.ValidationError):
        message, _, path = str(error).partition(" - at `$.")
        if path:
            return BadLine(f"{path.rstrip('`')}: {message[:1].lower()}{message[1:]}".replace("`", ""))
    if isinstance(error, UnicodeDecodeError):
        return BadLine(f"not JSON: str is not valid UTF-8 ({error.reason} at byte {error.start})")
    try:  # not an object, or not JSON at all: orjson words it (as for the other kinds)
        decode_entry(raw)
    except BadLine as reason:
        return reason
    return BadLine(f"not JSON: {error}")


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
    # The IAM action (CreateAccessKey, AttachPolicy…) as a field: a tag would change the series of existing points.
    _string_field(fields, "action", content.get("action") or entry.get("action"))
    return MEASUREMENTS[IAM] + tags, ",".join(fields), time_ns


PartsEncoder = Callable[[dict[str, Any], str, bool], Parts]
LineParts = Callable[[bytes, bool], Parts]


def entry_parts(parts: PartsEncoder) -> LineParts:
    """A line encoder for a kind whose entries are read as dicts (orjson): its line checked to be a JSON object."""

    def line_parts(raw: bytes, include_message: bool) -> Parts:
        try:
            entry = orjson.loads(raw)  # valid JSON is valid UTF-8
        except orjson.JSONDecodeError:
            entry = None
        if entry.__class__ is not dict:
            entry = decode_entry(raw)  # raises BadLine with its reason
        series, fields, time_ns = parts(entry, raw.decode(), include_message)
        check_storable(series, time_ns)
        return series, fields, time_ns

    return line_parts


LINE_PARTS: dict[str, LineParts] = {
    S3: s3_line_parts,
    CONSOLE: entry_parts(console_parts),
    IAM: entry_parts(iam_parts),
}
"""Per kind: (line bytes, include message) → (series, fields, time_ns); a line that cannot be a point raises
BadLine."""
