"""The fast paths added for throughput give the same bytes as the general code, and PointTimes stays bounded."""

from __future__ import annotations

import random
from copy import deepcopy
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from include.lyve_audit import lineproto
from include.lyve_audit.demo import s3_entry
from include.lyve_audit.encode import BUCKET_SHIFT, HORIZON_NS, PointTimes
from include.lyve_audit.lineproto import escape_field_string, json_field_string, parse_time_ns
from include.lyve_audit.parse import BadLine
from include.lyve_audit.schema import _s3_parts_general, s3_parts

MOMENT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def entries(count: int = 300) -> list[dict[str, Any]]:
    rng = random.Random(5)  # noqa: S311 - seeded test data
    return [s3_entry(rng, MOMENT + timedelta(seconds=index), "media-assets") for index in range(count)]


def variants() -> list[dict[str, Any]]:
    """Realistic entries, each bent one way that must leave the fast path (or exercise its edges)."""
    base = entries(1)[0]
    bends: list[tuple[tuple[str, ...], Any]] = [
        (("auditEntry", "api", "statusCode"), "404"),
        (("auditEntry", "api", "statusCode"), True),
        (("auditEntry", "api", "statusCode"), 200.0),
        (("auditEntry", "api", "bucket"), 7),
        (("auditEntry", "api", "bucket"), ""),
        (("auditEntry", "api", "name"), "a b,c=d"),
        (("auditEntry", "api", "object"), 'say "hi"\\'),
        (("auditEntry", "api", "object"), ""),
        (("auditEntry", "api", "object"), None),
        (("auditEntry", "api", "status"), 12),
        (("auditEntry", "api", "timeToResponse"), "0012ns"),
        (("auditEntry", "api", "timeToResponse"), "1.5s"),
        (("auditEntry", "api", "timeToResponse"), 1500),
        (("auditEntry", "api", "timeToResponse"), "٣ns"),
        (("auditEntry", "api", "timeToFirstByte"), "7ns"),
        (("auditEntry", "api", "timeToFirstByte"), "x"),
        (("auditEntry", "api", "rx"), "512"),
        (("auditEntry", "api", "rx"), True),
        (("auditEntry", "api", "tx"), None),
        (("auditEntry", "time"), "2026-11-20T10:00:00Z"),
        (("auditEntry", "time"), "2026-11-20T10:00:00.5Z"),
        (("auditEntry", "time"), "2026-11-20T12:00:00.123+02:00"),
        (("auditEntry", "time"), "2026-11-20 10:00:00.123456 +0000 UTC"),
        (("auditEntry", "time"), "2026-11-20T10:00:00.1234567890Z"),
        (("auditEntry", "time"), "2026-11-20T10:00:60Z"),
        (("auditEntry", "time"), "2026-02-30T10:00:00Z"),
        (("auditEntry", "time"), " 2026-11-20T10:00:00Z"),
        (("auditEntry", "requestHeader", "X-Real-Ip"), "[2001:db8::1]:443"),
        (("auditEntry", "requestHeader", "X-Real-Ip"), "2001:db8::1"),
        (("auditEntry", "requestHeader", "X-Real-Ip"), " 10.0.0.1:5 "),
        (("auditEntry", "requestHeader", "X-Real-Ip"), ":5"),
        (("auditEntry", "requestHeader", "X-Real-Ip"), "10.0.0.1"),
        (("auditEntry", "requestHeader", "X-Real-Ip"), "h\u00e9te:80"),
        (("serviceAccountName",), None),
        (("serviceAccountName",), ["x"]),
        (("auditEntry", "userAgent"), "tab\there"),
        (("auditEntry", "requestHeader"), None),
    ]
    out = []
    for path, value in bends:
        entry = deepcopy(base)
        holder = entry
        for name in path[:-1]:
            holder = holder[name]
        if value is None and path[-1] in ("tx", "object"):
            holder.pop(path[-1])
        else:
            holder[path[-1]] = value
        out.append(entry)
    return out


def outcome(encode: Any, entry: dict[str, Any], raw: str, include_message: bool) -> Any:
    try:
        return encode(entry, raw, include_message)
    except BadLine as error:
        return ("bad", str(error))


@pytest.mark.parametrize("include_message", [True, False])
def test_s3_fast_path_equals_the_general_code(include_message: bool) -> None:
    for entry in entries() + variants():
        raw = orjson.dumps(entry).decode()
        assert outcome(s3_parts, entry, raw, include_message) == outcome(
            _s3_parts_general, entry, raw, include_message
        ), raw


def test_message_with_whitespace_between_tokens_is_escaped_exactly() -> None:
    raw = '{"auditEntry":\t{"time": "2026-11-20T10:00:00Z",\r"api": {"object": "q\\"\\\\"}}}'
    assert json_field_string(raw) == escape_field_string(raw)
    entry = orjson.loads(raw)
    assert s3_parts(entry, raw, True) == _s3_parts_general(entry, raw, True)


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-20T10:00:00.000000001Z",
        "2026-11-20T10:00:00.1Z",
        "2026-11-20T10:00:00Z",
        "1970-01-01T00:00:00Z",
        "2016-12-31T23:59:60.5Z",
    ],
)
def test_cached_time_prefix_equals_the_full_parser(text: str) -> None:
    lineproto._SECONDS.clear()
    first = parse_time_ns(text)  # fills the cache
    assert parse_time_ns(text) == first == lineproto._parse_time_ns(text)


def test_point_times_forget_only_slots_beyond_the_horizon() -> None:
    times = PointTimes()
    second = 1_000_000_000
    start = 1_768_050_000 * second
    assert times.assign("s", start, b"a") == start
    # Within the horizon of the latest entry: still detected, even out of order.
    assert times.assign("s", start + 100 * second, b"b") == start + 100 * second
    assert times.assign("s", start, b"c") == start + 1
    assert times.assign("s", start, b"a") is None
    # Far later entries make the old buckets go; a late repeat is then no longer recognised (documented).
    assert times.assign("s", start + HORIZON_NS + (2 << BUCKET_SHIFT), b"d") is not None
    assert times.assign("s", start, b"a") == start


def test_point_times_memory_follows_the_horizon_not_the_object() -> None:
    times = PointTimes()
    step = 2_000_000  # 500 entries per second of log time, for one hour
    start = 1_768_050_000 * 1_000_000_000
    peak = 0
    for index in range(1_800_000):
        times.assign("s", start + index * step, b"%d" % index)
        if index % 50_000 == 0:
            peak = max(peak, len(times))
    horizon_entries = HORIZON_NS // step
    assert peak <= horizon_entries + 2 * ((1 << BUCKET_SHIFT) // step)
    assert peak < 1_800_000 / 10
