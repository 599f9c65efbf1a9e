"""S3 API entries → `audit-01`, time `auditEntry.time`; tags `auditEntry.api.bucket`, `auditEntry.api.name`,
`auditEntry.api.statusCode`, `auditEntry.requestHeader.X-Real-Ip` (client IP, port dropped), `serviceAccountCreatorId`,
`serviceAccountName`. A bare MinIO entry (no Lyve Cloud wrapper: `time`, `api`, … at the top level) is read as its own
`auditEntry`, its account tags taken from `parentUser` / `accessKey`.

msgspec decodes only the keys the schema reads, checking their types in C, and skips the rest of the entry: the one
decoder of S3 API lines. This runs once per entry of the biggest objects, so the common cases (`"<digits>ns"`
latencies, in-range integers, a plain IPv4 client address, string fields without quotes or backslashes) are written
as they are, the tags and shared string fields come from one cache lookup, and every other case goes through the
same checks as the rest of the schema (kinds/values.py, lineproto.py). Measured in docs/performance.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import msgspec
from orjson import dumps

from include.lyve_audit.caching import BoundedCache
from include.lyve_audit.kinds.values import (
    Parts,
    as_integer,
    as_text,
    as_time_ns,
    decode_entry,
    storable_integer,
)
from include.lyve_audit.lineproto import (
    MAX_INTEGER,
    MAX_SERIES_KEY_BYTES,
    MIN_INTEGER,
    PREFIX_NS,
    check_storable,
    escape_field_string,
    host_without_port,
    parse_duration_ns,
    parse_time_ns,
    tag_set,
)
from include.lyve_audit.parse import BadLine

MEASUREMENT = "audit-01"
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
"""String fields whose values many entries share (cached with the tags), written first."""
OWN_STRING_FIELDS = ("auditEntry.api.object", "auditEntry.requestID", "auditEntry.requestPath", "auditEntry.error")
"""String fields of each request, written after the shared ones. Each string field only when present and not empty."""


def _entry_structs(text: Any, code: Any) -> Iterator[type[msgspec.Struct]]:
    """The Structs of an S3 API line (api, request headers, audit record, line), every key optional, with `text` the
    type of tags and string fields and `code` that of the status code. One spec read two ways: as Lyve Cloud and
    MinIO write it (strings) for every usual line, and with any JSON scalar there for the rest."""
    duration = str | int | float | None  # a Go duration (`"2246401314ns"`, `"2.143308ms"`) or nanoseconds
    integer = int | str | None  # a JSON integer or a string of digits (MinIO writes `…InNS` both ways)
    options: dict[str, Any] = {"rename": "camel", "gc": False}
    api = msgspec.defstruct(  # the fields in the order Lyve Cloud and MinIO write them (found at the first try)
        "Api",
        [
            ("name", text, None),
            ("bucket", text, None),
            ("object", text, None),
            ("objects", list[msgspec.Raw] | None, None),
            ("status", text, None),
            ("status_code", code, None),
            ("rx", integer, None),
            ("tx", integer, None),
            ("time_to_response", duration, None),
            ("time_to_response_in_ns", integer, msgspec.field(default=None, name="timeToResponseInNS")),
            ("time_to_first_byte", duration, None),
            ("time_to_first_byte_in_ns", integer, msgspec.field(default=None, name="timeToFirstByteInNS")),
        ],
        **options,
    )
    headers = msgspec.defstruct("Headers", [("real_ip", text, msgspec.field(default=None, name="X-Real-Ip"))], gc=False)
    audit = msgspec.defstruct(  # Lyve Cloud's `auditEntry`, or a bare MinIO entry as a whole
        "Audit",
        [
            ("time", text, None),
            ("api", api | None, None),
            ("request_id", text, msgspec.field(default=None, name="requestID")),
            ("user_agent", text, None),
            ("request_path", text, None),
            ("request_host", text, None),
            ("request_header", headers | None, None),
            ("access_key", text, None),
            ("parent_user", text, None),
            ("error", text, None),
        ],
        **options,
    )
    line = msgspec.defstruct(  # a bare MinIO entry is read by the fields it inherits from `audit`
        "Line",
        [
            ("audit_entry", audit | None, None),
            ("service_account_creator_id", text, None),
            ("service_account_name", text, None),
        ],
        bases=(audit,),
        **options,
    )
    yield from (api, headers, audit, line)


_TEXT_STRUCTS = tuple(_entry_structs(str | None, int | str | None))
_ANY_STRUCTS = tuple(_entry_structs(str | int | float | bool | None, str | int | float | bool | None))
_AS_TEXT_STRUCT = dict(zip(_ANY_STRUCTS, _TEXT_STRUCTS, strict=True))
_decode_text_line: Callable[[bytes], Any] = msgspec.json.Decoder(_TEXT_STRUCTS[-1]).decode
_decode_any_line: Callable[[bytes], Any] = msgspec.json.Decoder(_ANY_STRUCTS[-1]).decode
_NO_API: Any = _TEXT_STRUCTS[0]()
_NO_HEADERS: Any = _TEXT_STRUCTS[1]()
_SAFE_DIGITS = len(str(MAX_INTEGER)) - 1
"""Latencies of at most this many digits fit a 64-bit integer field; longer ones are checked."""
_LONG_SERIES = MAX_SERIES_KEY_BYTES // 4
"""A series of at most this many characters fits InfluxDB's key limit whatever they encode to; a longer one is
checked."""


def _with_text(value: Any) -> Any:
    """A Struct of any JSON scalars as its text Struct: numbers and booleans where text belongs as they are written
    (`as_text`), an integer status code kept (it is the same tag as its digits)."""
    values = {}
    for name in value.__struct_fields__:
        item = getattr(value, name)
        if item.__class__ in _AS_TEXT_STRUCT:
            item = _with_text(item)
        elif item is not None and item.__class__ is not str and _TEXT_FIELD.get(name, False):
            if not (name == "status_code" and item.__class__ is int):
                item = as_text(item)
        values[name] = item
    return _AS_TEXT_STRUCT[value.__class__](**values)


_TEXT_FIELD = {
    name: name not in ("time", "objects", "time_to_response", "time_to_first_byte", "rx", "tx")
    and not name.endswith("_in_ns")
    for struct in _TEXT_STRUCTS
    for name in struct.__struct_fields__
}
"""Fields that hold a tag or string value (the others are integers, durations, nested records, and the time: a number
there stays one, so that the bad line says "missing or not a string")."""


def _heads(key: tuple[Any, ...]) -> tuple[str, str, str]:
    """(measurement + tags before the client IP, tags after it, the shared string fields) of
    (bucket, name, code, creator, account, *SHARED_STRING_FIELDS values)."""
    bucket, name, code, creator, account = map(as_text, key[:5])
    head = [("auditEntry.api.bucket", bucket), ("auditEntry.api.name", name), ("auditEntry.api.statusCode", code)]
    tail = [("serviceAccountCreatorId", creator), ("serviceAccountName", account)]
    return MEASUREMENT + tag_set(head), tag_set(tail), _string_fields(SHARED_STRING_FIELDS, key[5:])


_HEADS: BoundedCache[tuple[Any, ...], tuple[str, str, str]] = BoundedCache(_heads)
"""`_heads`, remembered: its key holds only strings, None and an integer status code (text Structs), whose equality
means equal output."""


def _ip_tag(address: str) -> str:
    """The client IP tag of an address (port dropped)."""
    return tag_set([("auditEntry.requestHeader.X-Real-Ip", host_without_port(address))])


def _string_fields(names: tuple[str, ...], values: tuple[Any, ...]) -> str:
    """`,name="value"` for each non-empty value, escaped as a field string."""
    return "".join(f",{name}={escape_field_string(value)}" for name, value in zip(names, values, strict=True) if value)


def _nanoseconds(name: str, value: Any) -> int:
    try:
        nanos = parse_duration_ns(value)
    except ValueError as error:
        raise BadLine(f"{name}: {error}") from None
    return storable_integer(name, nanos)


def _latency(name: str, in_ns: Any, duration: Any) -> str:
    """`,name=<ns>i` from the `…InNS` integer when given, else from the Go duration; empty when neither is.

    MinIO's usual values (an integer or digits in range) are written as they are; any other goes through the
    checks (Lyve Cloud's usual `"<digits>ns"` is written as it is by line_parts itself)."""
    if in_ns is None:
        if duration is None or duration == "":
            return ""
        return f",{name}={_nanoseconds(name, duration)}i"
    if in_ns.__class__ is int and 0 <= in_ns <= MAX_INTEGER:  # MinIO's integer
        return f",{name}={in_ns}i"
    if in_ns.__class__ is str and in_ns.isdigit() and in_ns.isascii() and len(in_ns) <= _SAFE_DIGITS:
        return f",{name}={in_ns if in_ns[0] != '0' else int(in_ns)}i"
    if in_ns == "":
        return _latency(name, None, duration)
    nanos = as_integer(f"{name}InNS", in_ns)
    if nanos < 0:
        raise BadLine(f"{name}InNS: negative duration: {in_ns!r}")
    return f",{name}={nanos}i"


def _integer_field(name: str, value: Any) -> str:
    """`,name=<value>i` of an integer or a string of digits, or empty for an empty string."""
    return "" if value == "" else f",{name}={as_integer(name, value)}i"


def line_parts(raw: bytes, include_message: bool) -> Parts:
    """One S3 API line (either shape, without its line feed) → `audit-01` parts; a line that cannot be a point
    raises BadLine."""
    try:
        entry = _decode_text_line(raw)
    except msgspec.ValidationError:  # a number or boolean where text belongs, or a wrong type
        try:
            entry = _with_text(_decode_any_line(raw))
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as error:
            raise _bad_line(raw, error) from None
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as error:
        raise _bad_line(raw, error) from None
    if include_message or not raw.isascii():
        try:  # msgspec checks the UTF-8 of the strings it reads only
            text = raw.decode()
        except UnicodeDecodeError as error:
            raise _bad_line(raw, error) from None
    audit = entry.audit_entry
    if audit is not None:
        creator, account = entry.service_account_creator_id, entry.service_account_name
    elif entry.time is not None and entry.api is not None:  # a bare MinIO entry: the account is its access key
        audit, creator, account = entry, entry.parent_user, entry.access_key
    else:
        raise BadLine(NEITHER_SHAPE)

    when = audit.time
    if (  # Go's RFC 3339 with nanoseconds, as Lyve Cloud and MinIO write nine times in ten: parse_time_ns inlined
        when.__class__ is str  # (a number where the time belongs stays one: see _TEXT_FIELD)
        and len(when) == 30
        and when[19::10] == ".Z"
        and (fraction := when[20:29]).isdigit()
        and fraction.isascii()
        and (start := PREFIX_NS[when[:19]]) is not None  # (a second InfluxDB can store)
    ):
        time_ns = start + int(fraction)
    else:  # any other time (fewer digits, an offset, a Go time) through parse_time_ns itself
        time_ns = _time_ns("auditEntry.time" if audit is not entry else "time", when)

    api = audit.api or _NO_API
    head, tail, shared = _HEADS[
        api.bucket,
        api.name,
        api.status_code,
        creator,
        account,
        api.status,
        audit.user_agent,
        audit.access_key,
        audit.parent_user,
        audit.request_host,
    ]
    if ip := (audit.request_header or _NO_HEADERS).real_ip:
        host, colon, port = ip.partition(":")
        if (not colon or port.isdigit()) and host.replace(".", "").isalnum():  # an IPv4 address or a name, its port
            series = f"{head},auditEntry.requestHeader.X-Real-Ip={host}{tail}"  # dropped: nothing to strip or escape
        else:
            series = f"{head}{_ip_tag(ip)}{tail}"
    else:
        series = head + tail
    if len(series) > _LONG_SERIES:  # (the time is storable: checked above)
        check_storable(series, time_ns)

    numbers = ""  # integers written as they are when plainly in range; any other value through the checks
    if api is not _NO_API:
        response, first = api.time_to_response, api.time_to_first_byte
        if (  # Lyve Cloud's "<digits>ns" latencies (time to first byte absent or the same), written as they are:
            response.__class__ is str  # (any other value through _latency)
            and response[-2:] == "ns"
            and (response := response[:-2]).isdigit()
            and response.isascii()
            and len(response) <= _SAFE_DIGITS
            and response[0] != "0"
            and api.time_to_response_in_ns is None
            and api.time_to_first_byte_in_ns is None
        ):
            if first is None:
                numbers = f",auditEntry.api.timeToResponse={response}i"
            elif (
                first.__class__ is str
                and first[-2:] == "ns"
                and (first := first[:-2]).isdigit()
                and first.isascii()
                and len(first) <= _SAFE_DIGITS
                and first[0] != "0"
            ):
                numbers = f",auditEntry.api.timeToResponse={response}i,auditEntry.api.timeToFirstByte={first}i"
            else:
                numbers = f",auditEntry.api.timeToResponse={response}i"
                numbers += _latency("auditEntry.api.timeToFirstByte", None, api.time_to_first_byte)
        else:
            numbers = _latency("auditEntry.api.timeToResponse", api.time_to_response_in_ns, api.time_to_response)
            numbers += _latency("auditEntry.api.timeToFirstByte", api.time_to_first_byte_in_ns, api.time_to_first_byte)
        if (rx := api.rx) is not None:
            numbers += (
                f",auditEntry.api.rx={rx}i"
                if rx.__class__ is int and MIN_INTEGER <= rx <= MAX_INTEGER
                else _integer_field("auditEntry.api.rx", rx)
            )
        if (tx := api.tx) is not None:
            numbers += (
                f",auditEntry.api.tx={tx}i"
                if tx.__class__ is int and MIN_INTEGER <= tx <= MAX_INTEGER
                else _integer_field("auditEntry.api.tx", tx)
            )
        if api.objects:
            numbers += f",auditEntry.api.objectCount={len(api.objects)}i"
    thing, request, path, failure = api.object, audit.request_id, audit.request_path, audit.error
    # each request's own strings, quoted as they are when none holds `"` or `\\` (the usual two sets, then any)
    if thing is None and path is None and failure is None and request and '"' not in request and "\\" not in request:
        own = f',auditEntry.requestID="{request}"'  # Lyve Cloud's: only the request ID
    elif (
        failure is None
        and thing
        and request
        and path
        and '"' not in (own := f"{thing}{request}{path}")
        and "\\" not in own
    ):  # MinIO's for an object
        own = f',auditEntry.api.object="{thing}",auditEntry.requestID="{request}",auditEntry.requestPath="{path}"'
    elif '"' in (own := f"{thing}{request}{path}{failure}") or "\\" in own:
        own = _string_fields(OWN_STRING_FIELDS, (thing, request, path, failure))
    else:
        own = (
            (f',auditEntry.api.object="{thing}"' if thing else "")
            + (f',auditEntry.requestID="{request}"' if request else "")
            + (f',auditEntry.requestPath="{path}"' if path else "")
            + (f',auditEntry.error="{failure}"' if failure else "")
        )
    if not include_message:
        return series, f"{series} entry_bytes={len(raw)}i{numbers}{shared}{own} {time_ns}", time_ns
    # the message last, with orjson's escaper (json_field_string, inlined; a line holds no LF, split off around it)
    message = escape_field_string(text) if "\t" in text or "\r" in text else dumps(text).decode()
    return series, f"{series} entry_bytes={len(raw)}i{numbers}{shared}{own},message={message} {time_ns}", time_ns


def _time_ns(name: str, when: Any) -> int:
    """The point time of any time value but the usual one (parse_time_ns), checked to be one InfluxDB stores."""
    try:
        time_ns = parse_time_ns(when)
    except (ValueError, TypeError):  # not a time, or absent (None)
        time_ns = as_time_ns(name, when)  # raises the BadLine
    check_storable("", time_ns)  # (the time only: an empty series fits)
    return time_ns


def _bad_line(raw: bytes, error: Exception) -> BadLine:
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
