"""The one S3 API line encoder against an independent reading of the JSON (tests/support/s3_reference.py): realistic
lines of both shapes, entries bent one way, lines bent at the byte level, generated entries; and PointTimes' bounds."""

from __future__ import annotations

import itertools
import json
import random
from copy import deepcopy
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from include.lyve_audit import lineproto
from include.lyve_audit.demo import s3_entry
from include.lyve_audit.encode import BUCKET_SHIFT, HORIZON_NS, ObjectCounts, PointTimes, encode_lines
from include.lyve_audit.keys import S3
from include.lyve_audit.kinds.s3 import line_parts as s3_line_parts
from include.lyve_audit.lineproto import escape_field_string, json_field_string, parse_time_ns
from include.lyve_audit.parse import BadLine
from tests.support.s3_reference import Bad, expected_point

MOMENT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def entries(count: int = 300) -> list[dict[str, Any]]:
    rng = random.Random(5)  # noqa: S311 - seeded test data
    return [s3_entry(rng, MOMENT + timedelta(seconds=index), "media-assets") for index in range(count)]


FULL_ENTRY: dict[str, Any] = {
    "version": "1",
    "deploymentid": "ef46b1cb-7a3e-4c1a-9c7e-2f1b7d7d1c55",
    "serviceAccountName": "backup-svc",
    "serviceAccountCreatorId": "ops@example.com",
    "auditEntry": {
        "api": {
            "name": "GetObject",
            "bucket": "media-assets",
            "object": "data/2026/part-00001.parquet",
            "status": "OK",
            "statusCode": 200,
            "timeToResponse": "2246401314ns",
            "timeToFirstByte": "1000ns",
            "rx": 512,
            "tx": 5637,
        },
        "time": "2026-11-20T10:00:00.699378337Z",
        "version": "1",
        "requestID": "165C883E70C2A5D0",
        "userAgent": "aws-sdk-java/1.12.261 Linux/5.15.0",
        "remotehost": "127.0.0.1",
        "requestHeader": {"User-Agent": "aws-sdk-java/1.12.261", "X-Real-Ip": "10.1.2.3:51512"},
        "responseHeader": {"Server": "LyveCloud/2.0"},
    },
}
"""Every key of the documented S3 API entry that the schema reads, with Lyve Cloud's types: the base of the bends."""


def variants() -> list[dict[str, Any]]:
    """The full entry, each bent one way (types, shapes, edge values)."""
    base = FULL_ENTRY
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
            holder.pop(path[-1], None)
        else:
            holder[path[-1]] = value
        out.append(entry)
    return out


def encoded(raw: bytes, include_message: bool) -> str | None:
    """The encoder's line for `raw`, or None when it quarantines it."""
    try:
        return s3_line_parts(raw, include_message)[1]
    except BadLine:
        return None


def reference(raw: bytes, include_message: bool) -> str | None:
    try:
        return expected_point(raw, include_message)
    except Bad:
        return None


def assert_as_reference(raw: bytes, include_message: bool = True) -> bool:
    """The encoder writes exactly the reference's line, or quarantines what the reference does; True if loaded."""
    expected = reference(raw, include_message)
    assert encoded(raw, include_message) == expected, raw
    return expected is not None


def bent_lines() -> list[bytes]:
    """Lines bent at the byte level: JSON details where a decoder that skips keys could differ from one reading all."""
    raw = orjson.dumps(FULL_ENTRY)
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
    """Lines at the edges of the encoder's inlined checks (time, client address, status code, printable bytes)."""
    raw = orjson.dumps(FULL_ENTRY)
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
    clients += [b" 10.0.0.1:80", b"10.0.0.1 :80", b"10.0.0.1: 80", b":80", b"my-host:80", "١٢:80".encode()]
    clients += [b"10.0.0.1\\:80", b"2001:db8::1", b"\u00a010.0.0.1:80", b"10.0.0.1:\u0661"]
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


@pytest.mark.parametrize("include_message", [True, False])
def test_realistic_and_bent_lines_encode_as_the_reference_reads_them(include_message: bool) -> None:
    """Generated lines all load; every bend either loads exactly as the reference reads it or is quarantined by both."""
    assert all(assert_as_reference(orjson.dumps(entry), include_message) for entry in entries())
    bent = [orjson.dumps(entry) for entry in variants()] + bent_lines() + edge_lines()
    loaded = [assert_as_reference(raw, include_message) for raw in bent]
    assert 0 < sum(loaded) < len(bent)


def test_what_influxdb_cannot_store_is_quarantined() -> None:
    """Integers beyond signed 64-bit and times beyond 2262 would make the engine refuse a whole write."""
    raw = orjson.dumps(FULL_ENTRY)
    for bent in (
        raw.replace(b'"rx":', b'"rx":9223372036854775808,"rx2":'),
        raw.replace(b'"timeToResponse":"', b'"timeToResponse":"9223372036854775808ns","ttr2":"'),
        raw.replace(b'"time":"2026', b'"time":"9999'),
    ):
        assert encoded(bent, True) is None
        assert reference(bent, True) is None


@pytest.mark.parametrize("text", ["plain/key-1", 'say "hi"', "back\\slash", ""])
@pytest.mark.parametrize("present", list(itertools.product([False, True], repeat=4)))
def test_own_strings_in_every_combination_as_the_reference_reads_them(text: str, present: tuple[bool, ...]) -> None:
    """Object, request ID, request path and error, each present or not, holding a quote, a backslash or nothing to
    escape: the usual sets (Lyve Cloud's request ID alone, MinIO's object call) and every other."""
    entry = deepcopy(FULL_ENTRY)
    audit = entry["auditEntry"]
    audit["api"].pop("object")
    audit.pop("requestID")
    holders = [(audit["api"], "object"), (audit, "requestID"), (audit, "requestPath"), (audit, "error")]
    for (holder, name), shown in zip(holders, present, strict=True):
        if shown:
            holder[name] = f"{text}-{name}" if text else ""
    for include_message in (True, False):
        assert assert_as_reference(orjson.dumps(entry), include_message)


LATENCIES = [
    "absent",
    None,
    "2246401314ns",
    "1000ns",
    "0ns",
    "007ns",
    "1.5ms",
    "",
    "x",
    12345,
    "9" * 19 + "ns",
    "\u0661ns",
]
"""Values of `timeToResponse` / `timeToFirstByte`: Lyve Cloud's usual `"<digits>ns"`, and every form around it."""


@pytest.mark.parametrize("first", LATENCIES)
@pytest.mark.parametrize("response", LATENCIES)
def test_latencies_in_every_combination_as_the_reference_reads_them(response: object, first: object) -> None:
    """The two usual latencies are written as they are; any other pair, or one of them, goes through the checks,
    with the same result as the reference's."""
    entry = deepcopy(FULL_ENTRY)
    api = entry["auditEntry"]["api"]
    for name, value in (("timeToResponse", response), ("timeToFirstByte", first)):
        if value == "absent":
            api.pop(name)
        else:
            api[name] = value
    assert_as_reference(orjson.dumps(entry))


@pytest.mark.parametrize(
    ("time", "stored"),
    [
        ("2262-04-11T23:47:16.854775806Z", True),  # InfluxDB's last nanosecond
        ("2262-04-11T23:47:16.854775807Z", False),
        ("1677-09-21T00:12:43.145224194Z", True),  # its first
        ("1677-09-21T00:12:43.145224193Z", False),
    ],
)
def test_times_at_the_edges_of_influxdb_range(time: str, stored: bool) -> None:
    """The seconds InfluxDB stores only in part take the full parser and its range check."""
    entry = deepcopy(FULL_ENTRY)
    entry["auditEntry"]["time"] = time
    assert assert_as_reference(orjson.dumps(entry)) is stored


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_lines_encode_as_the_reference_reads_them(data: st.DataObject) -> None:
    """Any byte mutation of a realistic line: loaded exactly as the reference reads it, or quarantined by both (a
    line holds no LF: the object is split into lines around them)."""
    raw = bytearray(orjson.dumps([FULL_ENTRY, *entries(2)][data.draw(st.integers(0, 2))]))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        byte = data.draw(st.sampled_from(list(b'"\\{}[],:0123456789eE.-+ \t\rnsZTu\x00\x7f\xc3\xa9\xff')))
        if action == "replace":
            raw[at] = byte
        elif action == "insert":
            raw.insert(at, byte)
        else:
            del raw[at]
    event("loaded" if assert_as_reference(bytes(raw)) else "quarantined")


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
    lineproto.PREFIX_NS.clear()
    first = parse_time_ns(text)  # fills the cache
    assert parse_time_ns(text) == first == lineproto.full_parse_time_ns(text)


def test_point_times_remember_every_slot_however_far_behind() -> None:
    times = PointTimes()
    second = 1_000_000_000
    start = 1_768_050_000 * second
    assert times.assign("s", start, b"a") == start
    assert times.assign("s", start + 100 * second, b"b") == start + 100 * second
    assert times.assign("s", start, b"c") == start + 1
    assert times.assign("s", start, b"a") is None
    # Far later entries push the first bucket behind the horizon: it is packed, and still exact.
    assert times.assign("s", start + HORIZON_NS + (2 << BUCKET_SHIFT), b"d") is not None
    times.compact()
    assert start >> BUCKET_SHIFT in times._packed
    assert times.assign("s", start, b"a") is None
    assert times.assign("s", start, b"e") == start + 2  # added to the packed bucket
    assert times.assign("s", start, b"e") is None
    times.compact()
    assert times.assign("s", start, b"f") == start + 3
    assert len(times) == 6  # a, b, c, d, e, f


def test_point_times_keep_recent_slots_in_dicts_and_pack_the_rest() -> None:
    times = PointTimes()
    step = 2_000_000  # 500 entries per second of log time
    start = 1_768_050_000 * 1_000_000_000
    count = 300_000
    for index in range(count):
        times.assign("s", start + index * step, b"%d" % index)
        if index % 65_536 == 0:
            times.compact()
    times.compact()
    recent = sum(len(slots) for slots in times._buckets.values())
    assert recent <= HORIZON_NS // step + 2 * ((1 << BUCKET_SHIFT) // step)
    assert len(times) == count
    packed_bytes = sum(
        slots.itemsize * len(slots) + contents.itemsize * len(contents) for slots, contents in times._packed.values()
    )
    assert packed_bytes == 16 * (count - recent)


def test_colliding_entries_are_all_kept_in_any_order_and_reruns_give_the_same_points() -> None:
    """Entries sharing series and nanosecond, scattered through an object whose times jump by hours."""
    rng = random.Random(3)  # noqa: S311 - seeded test data
    raws = []
    for group in range(300):
        moment = MOMENT + timedelta(seconds=rng.randrange(4 * 3600))
        for member in range(4):  # the same series and nanosecond, four distinct entries
            entry = {"auditEntry": {"time": f"{moment:%Y-%m-%dT%H:%M:%S}.000000001Z", "requestID": f"{group}-{member}"}}
            raws.append(orjson.dumps(entry))
    raws += raws[:50]  # byte-identical repeats: the same events
    rng.shuffle(raws)

    def run() -> tuple[list[str], ObjectCounts]:
        counts = ObjectCounts()
        points = list(encode_lines([(1, raws)], S3, "k", counts, lambda record: None, include_message=False))
        return points, counts

    points, counts = run()
    assert (counts.points, counts.duplicates) == (1200, 50)
    assert len({point.rsplit(" ", 1)[1] for point in points}) == 1200  # one series: every time distinct
    assert run() == (points, counts)


def test_encode_lines_writes_each_line_as_the_reference_reads_it() -> None:
    """A whole object: points, duplicates, moves and quarantine records, line by line against the reference."""
    realistic = [orjson.dumps(entry) for entry in entries(50)]
    twin = realistic[7].replace(b'"requestID":"', b'"requestID":"TWIN')  # same series and nanosecond, other entry
    raws = [*realistic, realistic[3], twin, *bent_lines(), *edge_lines(), b"{not json", b""]
    counts, quarantined = ObjectCounts(), []
    lines = [(number, raw) for number, raw in enumerate(raws, 1) if raw]
    points = list(encode_lines([(1, raws)], S3, "k", counts, quarantined.append))
    assert counts.duplicates == 1  # the repeat of realistic[3]
    twin_time = int(next(point for point in points if 'requestID="TWIN' in point).rsplit(" ", 1)[1])
    assert twin_time == int(points[7].rsplit(" ", 1)[1]) + 1  # moved by 1 ns
    assert counts.entries == len(raws) - 1 == counts.points + counts.bad + counts.duplicates
    assert len(points) == counts.points and len(quarantined) == counts.bad > 0
    expected = [reference(raw, True) for _, raw in lines]
    assert [record.line for record in quarantined] == [
        n for (n, _), line in zip(lines, expected, strict=True) if line is None
    ]
    unmoved = [point for point in points if point in expected]
    assert len(unmoved) == counts.points - counts.moved


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
"""Any Unicode text (quotes, backslashes, newlines, commas, `=`, non-ASCII), surrogates aside (not Unicode)."""
DURATION = st.one_of(
    st.integers(0, 10**12).map(lambda nanos: f"{nanos}ns"),
    st.sampled_from(["0s", "2.143308ms", "1.5s", "350µs", "1m2s", "12.000001s"]),
    st.integers(0, 10**12),
)
IN_NS = st.one_of(st.integers(0, 10**15), st.integers(0, 10**15).map(str), st.just(""))
COUNT = st.one_of(st.integers(0, 2**40), st.integers(0, 2**40).map(str))
CLIENT = st.one_of(
    st.tuples(*[st.integers(0, 255)] * 4, st.integers(1, 65535)).map(lambda p: "{}.{}.{}.{}:{}".format(*p)),
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda p: "{}.{}.{}.{}".format(*p)),
    st.sampled_from(["[2001:db8::1]:443", "2001:db8::7", ""]),
    TEXT,
)
API = st.fixed_dictionaries(
    {},
    optional={
        "name": st.one_of(st.sampled_from(["GetObject", "PutObject", "DeleteObjects", "ListBuckets"]), TEXT),
        "bucket": TEXT,
        "object": TEXT,
        "objects": st.lists(st.fixed_dictionaries({"objectName": TEXT}), max_size=3),
        "status": TEXT,
        "statusCode": st.sampled_from([200, 204, 206, 304, 400, 403, 404, 500, "200", "404"]),
        "timeToResponse": DURATION,
        "timeToFirstByte": DURATION,
        "timeToResponseInNS": IN_NS,
        "timeToFirstByteInNS": IN_NS,
        "rx": COUNT,
        "tx": COUNT,
        "args": st.dictionaries(TEXT, TEXT, max_size=2),
    },
)
AUDIT_KEYS = {
    "requestHeader": st.fixed_dictionaries({}, optional={"X-Real-Ip": CLIENT, "User-Agent": TEXT}),
    "requestID": TEXT,
    "userAgent": TEXT,
    "accessKey": TEXT,
    "parentUser": TEXT,
    "error": TEXT,
    "requestPath": TEXT,
    "requestHost": TEXT,
    "requestQuery": st.dictionaries(TEXT, TEXT, max_size=2),
    "requestClaims": st.dictionaries(TEXT, TEXT, max_size=2),
    "tags": st.dictionaries(TEXT, TEXT, max_size=2),
    "remotehost": TEXT,
    "deploymentid": TEXT,
}


@st.composite
def log_time(draw: st.DrawFn) -> str:
    """RFC 3339 with 6 to 9 fraction digits, `Z` or an offset."""
    moment = draw(st.datetimes(datetime(1980, 1, 1), datetime(2100, 1, 1)))
    fraction = f"{draw(st.integers(0, 999_999_999)):09d}"[: draw(st.integers(6, 9))]
    zone = draw(st.sampled_from(["Z", "Z", "+02:00", "-05:30"]))
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{fraction}{zone}"


@st.composite
def s3_lines(draw: st.DrawFn) -> bytes:
    """An S3 API line of either shape, every optional key present or absent, serialized as Python or orjson would."""
    audit = draw(st.fixed_dictionaries({"time": log_time()}, optional={"api": API, **AUDIT_KEYS}))
    if draw(st.booleans()):
        wrapper = {"serviceAccountCreatorId": TEXT, "serviceAccountName": TEXT, "version": st.just("1")}
        entry = {**draw(st.fixed_dictionaries({}, optional=wrapper)), "auditEntry": audit}
    else:
        entry = {"version": "1", **audit, "api": audit.get("api") or draw(API)}
    style = draw(st.sampled_from(["orjson", "python", "python-ascii"]))
    if style == "orjson":
        return orjson.dumps(entry)
    return json.dumps(entry, ensure_ascii=style == "python-ascii").encode()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(s3_lines(), st.booleans())
def test_generated_entries_of_both_shapes_encode_as_the_reference_reads_them(raw: bytes, include_message: bool) -> None:
    event("bare MinIO" if b'"auditEntry"' not in raw else "Lyve Cloud")
    assert assert_as_reference(raw, include_message)
