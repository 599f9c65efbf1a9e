"""What the log kinds share: JSON values → tag and field values, the `Parts` of a point, a line read as a dict.

A value of the wrong type for a typed field makes the line bad (quarantined), since InfluxDB rejects a whole batch on
a field-type conflict.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from include.lyve_audit.lineproto import (
    MAX_INTEGER,
    MIN_INTEGER,
    check_storable,
    escape_field_string,
    json_field_string,
    parse_time_ns,
)
from include.lyve_audit.parse import BadLine

Parts = tuple[str, str, int]
"""(series, point, time_ns): one entry's series (measurement + tags, which tell points apart), its whole
line-protocol point (series, fields and time, built in one piece), and the point's time."""
LineParts = Callable[[bytes, bool], Parts]
"""(line bytes, include message) → Parts; a line that cannot be a point raises BadLine."""
EntryParts = Callable[[dict[str, Any], str, bool], tuple[str, str, int]]
"""(entry as a dict, line as text, include message) → (series, fields, time_ns)."""


def as_text(value: Any) -> str:
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


def storable_integer(name: str, value: int) -> int:
    """The value, if InfluxDB can store it as an integer field (signed 64-bit); a bad line otherwise."""
    if not MIN_INTEGER <= value <= MAX_INTEGER:
        raise BadLine(f"{name}: outside InfluxDB's integer range (signed 64-bit): {str(value)[:64]}")
    return value


def as_integer(name: str, value: Any) -> int:
    """An integer field value; decimal digit strings (optionally signed) are accepted, anything else is a bad line."""
    if isinstance(value, int) and not isinstance(value, bool):
        return storable_integer(name, value)
    if isinstance(value, str) and (digits := value.strip()).removeprefix("-").isdecimal():
        return storable_integer(name, int(digits))
    raise BadLine(f"{name}: not an integer: {str(value)[:64]!r}")


def as_object(entry: dict[str, Any], name: str) -> dict[str, Any]:
    """`entry[name]` as an object (absent or null: empty); anything else is a bad line."""
    value = entry.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadLine(f"{name}: expected an object, got {type(value).__name__}")
    return value


def as_time_ns(name: str, value: Any) -> int:
    """A point time from a time string (lineproto.parse_time_ns); anything else is a bad line."""
    if not isinstance(value, str) or not value:
        raise BadLine(f"{name}: missing or not a string")
    try:
        return parse_time_ns(value)
    except ValueError as error:
        raise BadLine(f"{name}: {error}") from None


def as_epoch_or_time_ns(name: str, value: Any) -> int:
    """A time string, or epoch seconds / milliseconds / microseconds / nanoseconds told apart by magnitude."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value <= 0:
            raise BadLine(f"{name}: not a positive epoch: {value!r}")
        for limit, scale in ((1e11, 10**9), (1e14, 10**6), (1e17, 10**3)):
            if value < limit:
                return round(value * scale)
        return int(value)
    return as_time_ns(name, value)


def base_fields(raw: str, include_message: bool) -> list[str]:
    """The fields every point has: `entry_bytes` and, unless turned off, `message` (the entry as logged)."""
    fields = [f"entry_bytes={len(raw)}i"]
    if include_message:
        fields.append(f"message={json_field_string(raw)}")
    return fields


def add_string_field(fields: list[str], name: str, value: Any) -> None:
    """Append `name="value"` when the value is present and not empty."""
    text = as_text(value)
    if text:
        fields.append(f"{name}={escape_field_string(text)}")


def decode_entry(raw: bytes) -> dict[str, Any]:
    """Parse one line as a JSON object; a bad line (worded by orjson) otherwise."""
    try:
        entry = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BadLine(f"not JSON: {error}") from None
    if not isinstance(entry, dict):
        raise BadLine(f"JSON {type(entry).__name__}, not an object")
    return entry


def dict_line_parts(parts: EntryParts) -> LineParts:
    """The line encoder of a kind whose entries are read as dicts (orjson), its points checked to be storable."""

    def line_parts(raw: bytes, include_message: bool) -> Parts:
        entry = decode_entry(raw)  # valid JSON is valid UTF-8
        series, fields, time_ns = parts(entry, raw.decode(), include_message)
        check_storable(series, time_ns)
        return series, f"{series} {fields} {time_ns}", time_ns

    return line_parts
