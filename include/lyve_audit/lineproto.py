"""Line-protocol text: escaping, timestamps and durations, written by hand for speed and exactness.

Tag values cannot carry every string (checked on the engine): a newline or carriage return would end the line, and a
backslash at the end of a value, or right before a comma, space or `=`, breaks the tag. Such characters are mapped
deterministically, so equal inputs always give the same series:

| in a tag value                                   | becomes                    |
|--------------------------------------------------|----------------------------|
| line feed, carriage return                       | `␤` (U+2424), `␍` (U+240D) |
| `\\` at the end or before `,`, ` ` or `=`        | `⧵` (U+29F5)               |
| empty value                                      | the tag is left out        |

Field strings carry every string exactly (quotes and backslashes are escaped).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from orjson import dumps as _dumps

from include.lyve_audit.caching import BoundedCache
from include.lyve_audit.parse import BadLine

# What InfluxDB stores (checked on the engine): times in [MinInt64 + 2, MaxInt64 - 1] ns (1677-09-21 … 2262-04-11),
# series keys (measurement + tags) under 64 KiB with room for the field key. One line outside these limits would make
# the engine reject its whole write request and stop the load, so it is quarantined instead.
MIN_TIME_NS = -(2**63) + 2
MAX_TIME_NS = 2**63 - 2
# Integer fields are signed 64-bit: one value beyond would make the engine reject its whole write request too.
MIN_INTEGER = -(2**63)
MAX_INTEGER = 2**63 - 1
MAX_SERIES_KEY_BYTES = 65_000


def check_storable(series: str, time_ns: int) -> None:
    """Raise BadLine when InfluxDB would refuse the point (time out of its range, series key too long)."""
    if not MIN_TIME_NS <= time_ns <= MAX_TIME_NS:
        raise BadLine(f"time outside InfluxDB's range (1677-09-21 to 2262-04-11): {time_ns} ns")
    if len(series) > MAX_SERIES_KEY_BYTES // 4 and len(series.encode()) > MAX_SERIES_KEY_BYTES:
        raise BadLine(f"tags too long for InfluxDB: series key of {len(series.encode())} bytes")


_TAG_TRANSLATION = str.maketrans({",": "\\,", " ": "\\ ", "=": "\\=", "\n": "\u2424", "\r": "\u240d"})
_LONE_BACKSLASH = re.compile(r"\\(?=[, =]|$)")


def _escaped_tag_value(value: str) -> str:
    if "\\" in value:
        value = _LONE_BACKSLASH.sub("\u29f5", value)
    return value.translate(_TAG_TRANSLATION)


escape_tag_value: Callable[[str], str] = BoundedCache(_escaped_tag_value).__getitem__
"""Escape a tag value, remembered (tag values repeat heavily, and `translate` is slow): the cache's own lookup, so a
hit runs no Python code."""


def escape_field_string(value: str) -> str:
    """Quote a string field value (`str.replace` scans in C; a translate table is ~30x slower on long values)."""
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if '"' in value:
        value = value.replace('"', '\\"')
    return f'"{value}"'


def json_field_string(text: str) -> str:
    """`escape_field_string` of a JSON text as logged (the `message` field), with orjson's escaper doing the work.

    orjson escapes exactly `"` and `\\` like a field string, and also the control characters U+0000–U+001F. A JSON
    text can hold a raw control character only as whitespace between tokens (tab, CR, LF), so when none of those is
    present both escapings are the same bytes; otherwise the plain one is used.
    """
    if "\t" in text or "\r" in text or "\n" in text:
        return escape_field_string(text)
    return _dumps(text).decode()


def tag_set(pairs: list[tuple[str, str]]) -> str:
    """`,key=value` for every non-empty value, in the given (already sorted) key order."""
    return "".join(f",{key}={escape_tag_value(value)}" for key, value in pairs if value)


_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?"
    r" ?(Z|[+-]\d{2}:?\d{2})?(?: [A-Z]{1,5})?"
)


def parse_time_ns(text: str) -> int:
    """Nanoseconds since the epoch for an RFC 3339 time (`…T…Z`, any offset, up to 9 fraction digits) or a Go time
    (`2022-02-28 21:35:08.123456 +0000 UTC`). Times without an offset are UTC. Raises ValueError when unusable.

    The usual shape, `YYYY-MM-DDTHH:MM:SS[.fraction]Z` with ASCII digits, is answered from PREFIX_NS (entries
    share seconds heavily); every other shape, and every error, goes through the full parser.
    """
    if text[-1:] == "Z" and (size := len(text)) >= 20 and (start := PREFIX_NS[text[:19]]) is not None:
        if size == 20:
            return start
        fraction = text[20:-1]
        if text[19] == "." and 0 < len(fraction) <= 9 and fraction.isdigit() and fraction.isascii():
            return start + int(fraction) * _FRACTION_SCALE[len(fraction)]
    return full_parse_time_ns(text)


_FRACTION_SCALE: list[int] = [10 ** (9 - digits) for digits in range(10)]
"""Nanoseconds per unit of a fraction of `digits` digits (index: the number of digits)."""


def _prefix_ns(prefix: str) -> int | None:
    """`YYYY-MM-DDTHH:MM:SS` by the full parser; None when the prefix is not that shape, or when its second is not
    wholly inside InfluxDB's range (such times take the full parser, and check_storable words them)."""
    if len(prefix) != 19 or prefix[10] != "T" or not prefix.isascii():
        return None
    try:
        start = full_parse_time_ns(prefix)
    except ValueError:
        return None
    return start if MIN_TIME_NS <= start <= MAX_TIME_NS - 999_999_999 else None


PREFIX_NS: BoundedCache[str, int | None] = BoundedCache(_prefix_ns)
"""Nanoseconds since the epoch of a `YYYY-MM-DDTHH:MM:SS` prefix (UTC), or None when it is not one or its second
lies (partly) outside InfluxDB's range; remembered. A time answered from here is always storable."""


def full_parse_time_ns(text: str) -> int:
    """The full parser behind `parse_time_ns` (every shape it accepts, every error it words)."""
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not a time: {text[:64]!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    if int(hour) > 23 or int(minute) > 59 or int(second) > 60:
        raise ValueError(f"impossible time: {text[:64]!r}")
    try:
        midnight = int(datetime(int(year), int(month), int(day), tzinfo=UTC).timestamp())
    except ValueError as error:
        raise ValueError(f"impossible time: {text[:64]!r} ({error})") from None
    seconds = midnight + int(hour) * 3600 + int(minute) * 60 + int(second)
    if offset and offset != "Z":
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        seconds -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    nanos = int(fraction.ljust(9, "0")) if fraction else 0
    return seconds * 1_000_000_000 + nanos


_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 10**9,
    "m": 60 * 10**9,
    "h": 3600 * 10**9,
}


def parse_duration_ns(value: object) -> int:
    """Integer nanoseconds from a Go duration string (`"2246401314ns"`, `"1.5s"`) or a number of nanoseconds.

    Negative or unparseable durations raise ValueError: latency panels must not average in garbage.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int):
        nanos = value
    elif isinstance(value, float):
        nanos = round(value)
    elif isinstance(value, str):
        if value.endswith("ns") and value[:-2].isdigit():
            return int(value[:-2])
        text = value.strip()
        parts = _GO_DURATION_PART.findall(text)
        if not parts or "".join(number + unit for number, unit in parts) != text:
            raise ValueError(f"not a duration: {value[:64]!r}")
        nanos = round(sum(float(number) * _UNIT_NS[unit] for number, unit in parts))
    else:
        raise ValueError(f"not a duration: {value!r}")
    if nanos < 0:
        raise ValueError(f"negative duration: {value!r}")
    return nanos


def host_without_port(address: str) -> str:
    """The host part of `ip:port`, `[v6]:port`, or a bare IPv4/IPv6 address (a per-request port must not be a tag)."""
    address = address.strip()
    if address.startswith("["):
        return address[1 : address.find("]")] if "]" in address else address
    if address.count(":") == 1:
        return address.split(":", 1)[0]
    return address
