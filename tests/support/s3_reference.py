"""An independent reading of S3 API lines, for the tests: the stdlib's `json` and plain dicts, no msgspec, no caches.

It states the `audit-01` mapping as directly as possible (docs/guarantees.md, docs/schema.md), so the product's
encoder, which decodes with msgspec and inlines its common cases for speed, can be compared with it line by line.
It shares only lineproto's documented text helpers (time and duration parsing, escaping), tested on their own.
"""

from __future__ import annotations

import json
from typing import Any

from include.lyve_audit.lineproto import (
    escape_field_string,
    escape_tag_value,
    host_without_port,
    json_field_string,
    parse_duration_ns,
    parse_time_ns,
)

INT64 = (-(2**63), 2**63 - 1)
TIME_RANGE = (-(2**63) + 2, 2**63 - 2)


class Bad(Exception):
    """The line must be quarantined."""


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise Bad("not a scalar")


def _object(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Bad("not an object")
    return value


def _int64(value: int) -> int:
    if not INT64[0] <= value <= INT64[1]:
        raise Bad("beyond int64")
    return value


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise Bad("not an integer")
    if isinstance(value, str):
        text = value.strip()
        if not text.removeprefix("-").isdecimal():
            raise Bad("not an integer")
        return _int64(int(text))
    return _int64(value)


def _duration(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Bad("not a duration")
    try:
        return _int64(parse_duration_ns(value))
    except ValueError:
        raise Bad("not a duration") from None


def _absent(value: Any) -> bool:
    return value is None or value == ""


def read_entry(entry: Any) -> tuple[dict[str, str], dict[str, int | str], int]:
    """(tags, fields without `entry_bytes`/`message`, time in ns) of a parsed S3 API entry; raises Bad when the line
    must be quarantined. Tags and string fields are left out when empty, as written."""
    if not isinstance(entry, dict):
        raise Bad("not an object")
    if entry.get("auditEntry") is not None:
        audit = _object(entry["auditEntry"])
        creator, account = entry.get("serviceAccountCreatorId"), entry.get("serviceAccountName")
    elif entry.get("time") is not None and entry.get("api") is not None:
        audit = entry
        creator, account = entry.get("parentUser"), entry.get("accessKey")
    else:
        raise Bad("neither shape")
    api = _object(audit.get("api"))
    headers = _object(audit.get("requestHeader"))
    when = audit.get("time")
    if not isinstance(when, str) or not when:
        raise Bad("no time")
    try:
        time_ns = parse_time_ns(when)
    except ValueError:
        raise Bad("bad time") from None
    if not TIME_RANGE[0] <= time_ns <= TIME_RANGE[1]:
        raise Bad("time beyond InfluxDB")
    tags = {
        "auditEntry.api.bucket": _text(api.get("bucket")),
        "auditEntry.api.name": _text(api.get("name")),
        "auditEntry.api.statusCode": _text(api.get("statusCode")),
        "auditEntry.requestHeader.X-Real-Ip": host_without_port(_text(headers.get("X-Real-Ip"))),
        "serviceAccountCreatorId": _text(creator),
        "serviceAccountName": _text(account),
    }
    fields: dict[str, int | str] = {}
    for name in ("timeToResponse", "timeToFirstByte"):
        if not _absent(api.get(f"{name}InNS")):
            fields[f"auditEntry.api.{name}"] = _integer(api[f"{name}InNS"])
            if fields[f"auditEntry.api.{name}"] < 0:  # type: ignore[operator]
                raise Bad("negative duration")
        elif not _absent(api.get(name)):
            fields[f"auditEntry.api.{name}"] = _duration(api[name])
    for name in ("rx", "tx"):
        if not _absent(api.get(name)):
            fields[f"auditEntry.api.{name}"] = _integer(api[name])
    objects = api.get("objects")
    if objects is not None and not isinstance(objects, list):
        raise Bad("objects not a list")
    if objects:
        fields["auditEntry.api.objectCount"] = len(objects)
    strings = [
        ("auditEntry.api.status", api.get("status")),
        *[(f"auditEntry.{name}", audit.get(name)) for name in ("userAgent", "accessKey", "parentUser", "requestHost")],
        ("auditEntry.api.object", api.get("object")),
        *[(f"auditEntry.{name}", audit.get(name)) for name in ("requestID", "requestPath", "error")],
    ]
    fields |= {name: _text(value) for name, value in strings if _text(value)}
    return {key: value for key, value in sorted(tags.items()) if value}, fields, time_ns


def expected_point(raw: bytes, include_message: bool) -> str:
    """The exact line-protocol line of an S3 API line; raises Bad when it must be quarantined."""
    try:
        text = raw.decode("utf-8")
        entry = json.loads(text)
        json.dumps(entry, ensure_ascii=False).encode()  # a lone surrogate escape is not Unicode: not JSON either
    except (UnicodeError, ValueError, RecursionError):
        raise Bad("not JSON") from None
    tags, values, time_ns = read_entry(entry)
    series = "audit-01" + "".join(f",{key}={escape_tag_value(value)}" for key, value in tags.items())
    if len(series.encode()) > 65_000:
        raise Bad("series key too long")
    fields = [f"entry_bytes={len(raw)}i"]
    fields += [
        f"{name}={value}i" if isinstance(value, int) else f"{name}={escape_field_string(value)}"
        for name, value in values.items()
    ]
    if include_message:
        fields.append(f"message={json_field_string(text)}")
    return f"{series} {','.join(fields)} {time_ns}"
