"""The fast paths added for throughput give the same bytes as the general code, and PointTimes stays bounded."""

from __future__ import annotations

import random
from copy import deepcopy
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from include.lyve_audit import encode, lineproto, schema
from include.lyve_audit.demo import s3_entry
from include.lyve_audit.encode import BUCKET_SHIFT, HORIZON_NS, ObjectCounts, PointTimes, QuarantinedLine, encode_lines
from include.lyve_audit.keys import S3
from include.lyve_audit.lineproto import escape_field_string, json_field_string, parse_time_ns
from include.lyve_audit.parse import MAX_SERIES_KEY_BYTES, BadLine, check_storable
from include.lyve_audit.schema import UsualPartsEncoder, compiled_s3_usual_parts, s3_parts, s3_usual_parts

MOMENT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
COMPILED = compiled_s3_usual_parts()
USUAL_PATHS = pytest.mark.parametrize("usual", [s3_usual_parts, COMPILED or s3_usual_parts], ids=["python", "compiled"])
"""Every check of the usual-shape path runs on the pure-Python one and on its compiled twin (_s3_line.pyx)."""


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


def general(raw: bytes, include_message: bool) -> Any:
    """What the general path makes of a line: its parts, or ("bad", reason) as encode_lines would quarantine it."""
    try:
        entry = orjson.loads(raw)
        if not isinstance(entry, dict):
            return ("bad", "not an object")
        parts = s3_parts(entry, raw.decode(), include_message)
        check_storable(parts[0], parts[2])
    except (orjson.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return ("bad", "not JSON")
    except BadLine as error:
        return ("bad", str(error))
    return parts


def assert_usual_or_general(raw: bytes, include_message: bool, usual: UsualPartsEncoder = s3_usual_parts) -> bool:
    """The usual-shape path either declines the line or gives exactly the general path's parts; True if it took it."""
    parts = usual(raw, include_message)
    if parts is None:
        return False
    assert parts == general(raw, include_message), raw
    return True


def bent_lines() -> list[bytes]:
    """Lines bent at the byte level: JSON details where a decoder that skips keys could differ from one reading all."""
    raw = orjson.dumps(entries(1)[0])
    version = b'"version":"1"'
    return [
        raw.replace(version, b'"version":"\\x"'),  # an invalid escape in a key not read
        raw.replace(version, b'"version":"\xff"'),  # invalid UTF-8
        raw.replace(version, b'"version":"\xc3"'),  # a cut UTF-8 sequence
        raw.replace(version, b'"version":"\xed\xa0\x80"'),  # a surrogate encoded as UTF-8
        raw.replace(version, b'"version":"\\ud800"'),  # a lone surrogate escape
        raw.replace(version, b'"version":"\\ud83d\\ude00"'),  # a surrogate pair
        raw.replace(version, b'"version":"\\u00e9t\\u00e9"'),
        raw.replace(version, '"version":"été"'.encode()),  # valid UTF-8, not ASCII
        raw.replace(version, b'"version":' + b"[" * 600 + b"]" * 600),
        raw.replace(version, b'"version":' + b"[" * 2000 + b"]" * 2000),
        raw.replace(version, b'"version":123456789012345678901234567890'),
        raw.replace(version, b'"version":"1","version":7'),
        raw.replace(b'"bucket":"media-assets"', b'"bucket":"x","bucket":"media-assets"'),
        raw.replace(b'"bucket":"media-assets"', b'"bucket":"media-assets","bucket":7'),
        raw.replace(b'"bucket":"media-assets"', b'"bucket":"\\u006dedia-assets"'),
        raw.replace(b'"bucket":"media-assets"', '"bucket":"média"'.encode()),
        raw.replace(b'"rx":', b'"rx":9223372036854775807,"rx2":'),
        raw.replace(b'"rx":', b'"rx":9223372036854775808,"rx2":'),
        raw.replace(b'"rx":', b'"rx":-9223372036854775809,"rx2":'),
        raw.replace(b'"rx":', b'"rx":18446744073709551616,"rx2":'),
        raw.replace(b'"rx":', b'"rx":1e3,"rx2":'),
        raw.replace(b'"rx":', b'"rx":-0,"rx2":'),
        raw.replace(b'"statusCode":', b'"statusCode":18446744073709551616,"code2":'),
        raw.replace(b'"statusCode":', b'"statusCode":9223372036854775808,"code2":'),
        raw.replace(b'"timeToResponse":"', b'"timeToResponse":"9223372036854775808ns","ttr2":"'),
        raw.replace(b'"timeToResponse":"', b'"timeToResponse":"922337203685477580ns","ttr2":"'),
        raw.replace(b'"timeToResponse":"', b'"timeToResponse":"00000000000000000000000000001ns","ttr2":"'),
        raw.replace(b'"timeToResponse":"', b'"timeToResponse":"99999999999999999999ns","ttr2":"'),
        raw.replace(b'"object":"', b'"object":"q\\"x\\\\","o2":"'),
        raw.replace(b'"object":"', b'"object":"line\\nfeed","o2":"'),
        raw.replace(b'"time":"2026', b'"time":"9999'),
        raw.replace(b'"time":"2026', b'"time":"1000'),
        raw.replace(b'","', b'", "').replace(b'":"', b'" :\t"'),  # whitespace between tokens
        raw.replace(b"{", b"{\r\n "),
        raw + b" x",
        raw[:-1],
        b"[" + raw + b"]",
    ]


def edge_lines() -> list[bytes]:
    """Lines at the edges of the compiled path's own checks (time, client address, status code, printable bytes)."""
    raw = next(line for line in map(orjson.dumps, entries(20)) if b'"timeToFirstByte"' in line)
    at = raw.index(b'"time":"') + 8
    when = raw[at - 8 : at + 20]  # `"time":"YYYY-MM-DDTHH:MM:SS.`
    client = b'"X-Real-Ip":"'
    times = [
        b"1677-12-31T23:59:59.",
        b"1678-01-01T00:00:00.",
        b"2261-12-31T23:59:59.",
        b"2262-01-01T00:00:00.",
        b"2024-02-29T10:00:00.",
        b"2023-02-29T10:00:00.",
        b"2100-02-29T10:00:00.",
        b"2000-02-29T10:00:00.",
        b"2026-04-31T10:00:00.",
        b"2026-12-31T23:59:60.",
        b"2026-13-01T10:00:00.",
        b"2026-00-01T10:00:00.",
        b"2026-11-00T10:00:00.",
        b"2026-11-20T24:00:00.",
        b"2026-11-20T10:60:00.",
        b"2026-11-20T10:00:61.",
        b"2026-11-20t10:00:00.",
        b"2026-11-20 10:00:00.",
        b"2026-1a-20T10:00:00.",
    ]
    clients = [b"", b"10.0.0.1", b"10.0.0.1:", b"h:1:2", b"a b:80", b"[::1]:80", b"10.0.0.1:8x", b"host:007", b"a,b=c"]
    codes = [b'"404"', b'""', b'"4 04"', b'"a=b,c"', b'"x\\"y"', b'"\u00e9"', b"-1", b"9223372036854775807"]
    lines = [raw.replace(when, b'"time":"' + stamp) for stamp in times]
    lines += [raw.replace(client, client + address + b'", "old":"') for address in clients]
    lines += [raw.replace(b'"statusCode":', b'"statusCode":' + code + b',"code2":') for code in codes]
    lines += [
        raw.replace(b'"version":"1"', b'"version":"\x7f"'),  # DEL as is: valid JSON, handed over
        raw.replace(b'"version":"1"', b'"version":"\\u007f\\u0007"'),  # escaped: printable bytes
        raw.replace(b'"rx":', b'"rx":-9223372036854775808,"rx2":'),
        raw.replace(b'"rx":', b'"rx":0,"rx2":'),
        raw.replace(b'"timeToResponse":"', b'"timeToResponse":"0ns","ttr2":"'),
        raw.replace(b'"timeToResponse":"', b'"timeToResponse":"ns","ttr2":"'),
        raw.replace(b'"timeToFirstByte":"', b'"timeToFirstByte":null,"ttfb2":"'),
        raw.replace(b'"timeToFirstByte":"', b'"timeToFirstByte":"00ns","ttfb2":"'),
        raw.replace(b'"bucket":"media-assets"', b'"bucket":"a b,c=d"'),
        raw.replace(b'"serviceAccountName":"', b'"serviceAccountName":"","old":"'),
        raw.replace(b'"object":"', b'"object":"\t","o2":"'),  # a raw tab: not JSON
        raw.replace(b'"object":"', b'"object":"\\t","o2":"'),  # an escaped tab
    ]
    assert raw not in lines
    return lines


@USUAL_PATHS
@pytest.mark.parametrize("include_message", [True, False])
def test_usual_shape_path_equals_the_general_code(include_message: bool, usual: UsualPartsEncoder) -> None:
    """Realistic lines all take the usual-shape path; bent ones either leave it or give the same bytes."""
    realistic = [orjson.dumps(entry) for entry in entries()]
    assert all(assert_usual_or_general(raw, include_message, usual) for raw in realistic)
    for raw in [orjson.dumps(entry) for entry in variants()] + bent_lines() + edge_lines():
        assert_usual_or_general(raw, include_message, usual)


def test_compiled_path_is_built_and_takes_realistic_lines_itself() -> None:
    """`make venv` builds the compiled twin; realistic lines never reach its Python fallback, so the C code is what
    the equality tests above check on them."""
    assert COMPILED is not None, "include/lyve_audit/_s3_line.pyx is not built: run `make venv`"
    from include.lyve_audit import _s3_line

    handed_over: list[bytes] = []

    def fallback(raw: bytes, include_message: bool) -> schema.Parts | None:
        handed_over.append(raw)
        return s3_usual_parts(raw, include_message)

    _s3_line.configure(schema._decode_usual_s3, fallback, MAX_SERIES_KEY_BYTES)
    try:
        realistic = [orjson.dumps(entry) for entry in entries()]
        assert all(COMPILED(raw, True) == s3_usual_parts(raw, True) for raw in realistic)
        assert handed_over == []
        edges = edge_lines()
        for raw in edges:
            assert_usual_or_general(raw, True, COMPILED)
        assert 0 < len(handed_over) < len(edges)  # some edges are the compiled path's own, others are handed over
    finally:
        _s3_line.configure(schema._decode_usual_s3, s3_usual_parts, MAX_SERIES_KEY_BYTES)


@USUAL_PATHS
def test_usual_shape_path_declines_what_influxdb_cannot_store(usual: UsualPartsEncoder) -> None:
    """Integers beyond signed 64-bit and times beyond 2262 take the general path, which quarantines them."""
    raw = orjson.dumps(entries(1)[0])
    for bent in (
        raw.replace(b'"rx":', b'"rx":9223372036854775808,"rx2":'),
        raw.replace(b'"timeToResponse":"', b'"timeToResponse":"9223372036854775808ns","ttr2":"'),
        raw.replace(b'"time":"2026', b'"time":"9999'),
    ):
        assert usual(bent, True) is None
        assert general(bent, True)[0] == "bad"


@USUAL_PATHS
def test_number_beyond_a_double_in_a_key_not_read_is_the_one_documented_difference(usual: UsualPartsEncoder) -> None:
    """orjson refuses 1e400 anywhere; msgspec only checks the keys it reads. The entry loads (docs/guarantees.md)."""
    raw = orjson.dumps(entries(1)[0]).replace(b'"version":"1"', b'"version":1e400')
    assert general(raw, True) == ("bad", "not JSON")
    parts = usual(raw, True)
    assert parts is not None
    assert parts[0] == general(raw.replace(b"1e400", b"1.0"), True)[0]
    assert '\\"version\\":1e400' in parts[1]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_usual_shape_path_equals_the_general_code_on_mutated_lines(data: st.DataObject) -> None:
    """Any byte mutation of a realistic line: the usual-shape path declines it or gives the general path's parts."""
    raw = bytearray(orjson.dumps(entries(3)[data.draw(st.integers(0, 2))]))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = data.draw(st.sampled_from(list(b'"\\{}[],:0123456789eE.-+ \t\r\nnsZTu\x00\x7f\xc3\xa9\xff')))
        if action == "replace":
            raw[at] = byte
        elif action == "insert":
            raw.insert(at, byte)
        else:
            del raw[at]
    line = bytes(raw)
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError as error:
        if "infinity" in str(error):
            return  # a number beyond a double: the documented difference above
    event("usual shape" if assert_usual_or_general(line, True) else "general path")
    assert_usual_or_general(line, True, COMPILED or s3_usual_parts)


def test_message_with_whitespace_between_tokens_is_escaped_exactly() -> None:
    raw = '{"auditEntry":\t{"time": "2026-11-20T10:00:00Z",\r"api": {"object": "q\\"\\\\"}}}'
    assert json_field_string(raw) == escape_field_string(raw)


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


def test_encode_lines_gives_the_same_points_with_or_without_the_usual_shape_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Points, counts and quarantine records of one object are identical whichever path each line took."""
    realistic = [orjson.dumps(entry) for entry in entries(50)]
    twin = realistic[7].replace(b'"requestID":"', b'"requestID":"TWIN')  # same series and nanosecond, other entry
    raws = [*realistic, realistic[3], twin, *bent_lines(), *edge_lines(), b"{not json", b""]

    def encoded() -> tuple[list[str], ObjectCounts, list[QuarantinedLine]]:
        counts, quarantined = ObjectCounts(), []
        lines = [(number, raw) for number, raw in enumerate(raws, 1) if raw]
        points = list(encode_lines(lines, S3, "k", counts, quarantined.append))
        return points, counts, quarantined

    with_usual = encoded()
    monkeypatch.setattr(encode, "USUAL_PARTS", {S3: s3_usual_parts})
    assert encoded() == with_usual
    monkeypatch.setattr(encode, "USUAL_PARTS", {})
    assert encoded() == with_usual
    points, counts, quarantined = with_usual
    assert counts.duplicates == 1  # the repeat of realistic[3]
    twin_time = int(next(point for point in points if 'requestID="TWIN' in point).rsplit(" ", 1)[1])
    assert twin_time == int(points[7].rsplit(" ", 1)[1]) + 1  # moved by 1 ns (the bent lines are moved too)
    assert counts.entries == len(raws) - 1 == counts.points + counts.bad + counts.duplicates
    assert len(points) == counts.points and len(quarantined) == counts.bad > 0
