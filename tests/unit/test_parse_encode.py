"""Streaming gzip'd NDJSON into line protocol: line endings, bad lines, unreadable objects, colliding entries."""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from pathlib import Path

import orjson
import pytest

from include.lyve_audit.encode import ObjectCounts, PointTimes, QuarantinedLine, encode_lines
from include.lyve_audit.errors import TooManyBadLines
from include.lyve_audit.keys import S3
from include.lyve_audit.parse import LineBatch, ObjectReadError, inflate, line_batches

Line = tuple[int, bytes]


def numbered(batches: Iterable[LineBatch]) -> Iterator[Line]:
    """The lines of `line_batches` one by one with their numbers, blank ones left out (as the encoder skips them)."""
    for first, batch in batches:
        yield from ((number, raw) for number, raw in enumerate(batch, first) if raw)


def gz_file(tmp_path: Path, body: bytes, name: str = "S3-b-2026-01-10-13-20-59.gz") -> Path:
    path = tmp_path / name
    path.write_bytes(gzip.compress(body))
    return path


def entry(time: str, request_id: str = "R1", bucket: str = "b") -> bytes:
    return orjson.dumps(
        {"auditEntry": {"time": time, "requestID": request_id, "api": {"name": "GetObject", "bucket": bucket}}}
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(b"a\nb\n", [(1, b"a"), (2, b"b")], id="lf"),
        pytest.param(b"a\r\nb\r\n", [(1, b"a"), (2, b"b")], id="crlf"),
        pytest.param(b"a\nb", [(1, b"a"), (2, b"b")], id="no-final-newline"),
        pytest.param(b"a\n\n  \r\nb\n", [(1, b"a"), (4, b"b")], id="blank-lines-skipped-numbers-kept"),
        pytest.param(b"", [], id="empty-object"),
    ],
)
def test_line_batches(tmp_path: Path, body: bytes, expected: list[Line]) -> None:
    with gz_file(tmp_path, body).open("rb") as stream:
        assert list(numbered(line_batches(stream, "obj"))) == expected


def test_batches_number_every_line_blank_ones_empty_and_over_long_ones_true(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("include.lyve_audit.parse.SPLIT_BYTES", 6)
    with gz_file(tmp_path, b"a\n\nbb\r\n  \nccc\ndddddddddd\ne").open("rb") as stream:
        batches = list(line_batches(stream, "obj", max_line_bytes=5))
    assert [first for first, _ in batches] == [1, 4, 6, 7]  # lines up to 6 bytes or more a batch, numbers running on
    lines = [raw for _, batch in batches for raw in batch]
    assert lines[:5] == [b"a", b"", b"bb", b"", b"ccc"]
    assert lines[5] == b"" and lines[5] and lines[5].reason.startswith("line of 10 bytes")  # type: ignore[attr-defined]
    assert lines[6:] == [b"e"]


def test_inflated_pieces_start_small_and_double_up_to_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("include.lyve_audit.parse.FIRST_PIECE", 100)
    monkeypatch.setattr("include.lyve_audit.parse.INFLATED_PIECE", 1000)
    body = bytes(range(256)) * 20
    with gz_file(tmp_path, body).open("rb") as stream:
        pieces = list(inflate(stream, "obj"))
    assert [len(piece) for piece in pieces] == [100, 200, 400, 800, 1000, 1000, 1000, 620]
    assert b"".join(pieces) == body


def test_lines_across_read_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("include.lyve_audit.parse.READ_CHUNK", 7)
    body = b"".join(f"line-{index}\n".encode() for index in range(50))
    with gz_file(tmp_path, body).open("rb") as stream:
        lines = list(numbered(line_batches(stream, "obj")))
    assert [raw for _, raw in lines] == [f"line-{index}".encode() for index in range(50)]


@pytest.mark.parametrize("split", [1, 5, 64 << 10])
@pytest.mark.parametrize("piece", range(1, 30))
def test_lines_across_inflated_pieces_of_every_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, piece: int, split: int
) -> None:
    """Pieces ending anywhere (inside a line, on its CR, on its LF, inside an over-long line), split into batches of
    any size, give the same lines as splitting the whole text at once."""
    monkeypatch.setattr("include.lyve_audit.parse.INFLATED_PIECE", piece)
    monkeypatch.setattr("include.lyve_audit.parse.SPLIT_BYTES", split)
    body = b"a\r\nbb\n\n  \r\nccc\nlong-line-here\r\ntwelve-bytes\r\n\ne\nlast-line-13-b"
    expected = []
    for number, text in enumerate(body.split(b"\n"), 1):
        if (length := len(text.rstrip(b"\r"))) > 12:
            expected.append((number, f"line of {length:,} bytes, longer than the limit of 12: not read"))
        elif text.strip():
            expected.append((number, text.strip()))
    with gz_file(tmp_path, body).open("rb") as stream:
        lines = list(numbered(line_batches(stream, "obj", max_line_bytes=12)))
    assert [(number, getattr(raw, "reason", raw)) for number, raw in lines] == expected


def test_truncated_gzip_yields_complete_lines_then_names_object_and_line(tmp_path: Path) -> None:
    body = b"".join(entry(f"2026-01-10T13:00:{second:02d}Z") + b"\n" for second in range(60)) * 50
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(body)[:-200])
    seen: list[Line] = []
    with (
        path.open("rb") as stream,
        pytest.raises(ObjectReadError, match=r"^obj-key: gzip stream ends early \(truncated object\) after line \d+"),
    ):
        seen.extend(numbered(line_batches(stream, "obj-key")))
    assert len(seen) > 2000
    assert [number for number, _ in seen] == list(range(1, len(seen) + 1))


def test_not_gzip_is_an_object_error(tmp_path: Path) -> None:
    path = tmp_path / "plain.gz"
    path.write_bytes(b'{"a": 1}\n')
    with (
        path.open("rb") as stream,
        pytest.raises(ObjectReadError, match=r"obj-key: not gzip or corrupt .* after line 0"),
    ):
        list(numbered(line_batches(stream, "obj-key")))


def run_encode(lines: list[bytes]) -> tuple[list[str], ObjectCounts, list[QuarantinedLine]]:
    counts = ObjectCounts()
    quarantined: list[QuarantinedLine] = []
    out = list(
        encode_lines(
            [(1, lines)],
            S3,
            "January-2026/S3-b-2026-01-10-13-20-59.gz",
            counts,
            quarantined.append,
            include_message=False,
        )
    )
    return out, counts, quarantined


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(b"{not json", "not JSON", id="not-json"),
        pytest.param(b"[1, 2]", "JSON list, not an object", id="json-array"),
        pytest.param(b'"text"', "JSON str, not an object", id="json-string"),
        pytest.param(b'{"auditEntry": {}}', "auditEntry.time: missing", id="missing-time"),
        pytest.param(b'{"auditEntry": {"time": "2026-13-01T00:00:00Z"}}', "impossible time", id="month-13"),
        pytest.param(b"\xff\xfe{}", "not JSON", id="invalid-utf8"),
        pytest.param(b"[" * 10_000 + b"]" * 10_000, "not JSON", id="nested-10000"),
    ],
)
def test_bad_lines_are_quarantined_with_key_line_and_reason(raw: bytes, reason: str) -> None:
    good = entry("2026-01-10T13:00:00Z")
    out, counts, quarantined = run_encode([good, raw, good.replace(b"R1", b"R2")])
    assert len(out) == 2
    assert (counts.entries, counts.points, counts.bad) == (3, 2, 1)
    assert len(quarantined) == 1
    record = quarantined[0]
    assert (record.object_key, record.line) == ("January-2026/S3-b-2026-01-10-13-20-59.gz", 2)
    assert reason in record.reason


def test_colliding_distinct_entries_are_all_kept_at_consecutive_nanoseconds() -> None:
    same_time = "2026-01-10T13:00:00.000000100Z"
    out, counts, _ = run_encode([entry(same_time, "R1"), entry(same_time, "R2"), entry(same_time, "R3")])
    assert [line.rsplit(" ", 1)[1] for line in out] == [
        "1768050000000000100",
        "1768050000000000101",
        "1768050000000000102",
    ]
    assert (counts.points, counts.moved, counts.duplicates) == (3, 2, 0)


def test_moved_entry_does_not_take_a_later_entrys_slot() -> None:
    out, _, _ = run_encode(
        [
            entry("2026-01-10T13:00:00.000000100Z", "R1"),
            entry("2026-01-10T13:00:00.000000100Z", "R2"),
            entry("2026-01-10T13:00:00.000000101Z", "R3"),
        ]
    )
    assert [line.rsplit(" ", 1)[1][-3:] for line in out] == ["100", "101", "102"]


def test_byte_identical_lines_are_one_event() -> None:
    line = entry("2026-01-10T13:00:00Z")
    out, counts, _ = run_encode([line, line, line])
    assert len(out) == 1
    assert (counts.entries, counts.points, counts.duplicates) == (3, 1, 2)


def test_same_time_in_other_series_does_not_collide() -> None:
    out, counts, _ = run_encode([entry("2026-01-10T13:00:00Z", bucket="a"), entry("2026-01-10T13:00:00Z", bucket="b")])
    assert [line.rsplit(" ", 1)[1] for line in out] == ["1768050000000000000"] * 2
    assert counts.moved == 0


def test_point_times_are_reproducible() -> None:
    lines = [entry("2026-01-10T13:00:00Z", f"R{index % 7}") for index in range(50)]
    assert run_encode(lines)[0] == run_encode(lines)[0]
    times = PointTimes()
    assert times.assign("s", 5, b"x") == 5
    assert times.assign("s", 5, b"x") is None
    assert times.assign("s", 5, b"y") == 6


def test_concatenated_gzip_members_are_one_object(tmp_path: Path) -> None:
    path = tmp_path / "multi.gz"
    path.write_bytes(gzip.compress(b"a\nb") + gzip.compress(b"c\n"))
    with path.open("rb") as stream:
        assert [raw for _, raw in numbered(line_batches(stream, "obj"))] == [b"a", b"bc"]


def test_empty_file_has_no_lines(tmp_path: Path) -> None:
    path = tmp_path / "zero.gz"
    path.write_bytes(b"")
    with path.open("rb") as stream:
        assert list(numbered(line_batches(stream, "obj"))) == []


def test_unreadable_tail_is_one_quarantined_line_after_the_lines_before_it(tmp_path: Path) -> None:
    """A truncated object: its complete lines become points, the damage is one bad line numbered after them."""
    times = [f"2026-01-10T13:{index // 60:02d}:{index % 60:02d}Z" for index in range(3000)]
    body = b"".join(entry(time, request_id=f"R{index}") + b"\n" for index, time in enumerate(times))
    path = tmp_path / "cut.gz"
    path.write_bytes(gzip.compress(body)[:-200])
    counts, quarantined = ObjectCounts(), []
    with path.open("rb") as stream:
        points = list(encode_lines(line_batches(stream, "obj-key"), S3, "obj-key", counts, quarantined.append))
    assert len(points) == counts.points == counts.entries - 1 > 2000
    assert counts.bad == 1
    [record] = quarantined
    assert (record.object_key, record.line) == ("obj-key", counts.points + 1)
    assert record.reason.startswith("obj-key: gzip stream ends early (truncated object) after line ")


@pytest.mark.parametrize(
    ("read_chunk", "piece"),
    [
        pytest.param(1 << 20, 4 << 20, id="within-one-piece"),
        pytest.param(512, 700, id="across-many-pieces"),
    ],
)
def test_a_line_over_the_limit_is_quarantined_by_its_length(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, read_chunk: int, piece: int
) -> None:
    """The over-long line is never held whole: its length and first bytes are kept, its neighbours load."""
    monkeypatch.setattr("include.lyve_audit.parse.READ_CHUNK", read_chunk)
    monkeypatch.setattr("include.lyve_audit.parse.INFLATED_PIECE", piece)
    long = entry("2026-01-10T13:00:00Z", "LONG").replace(b'"LONG"', b'"' + b"x" * 9_000 + b'"')
    body = b"\n".join([entry("2026-01-10T13:00:00Z", "R1"), long, long + b"\r", entry("2026-01-10T13:00:01Z", "R2")])
    with gz_file(tmp_path, body + b"\n" + long).open("rb") as stream:
        batches = list(line_batches(stream, "obj", max_line_bytes=5_000))
    assert [number for number, _ in numbered(batches)] == [1, 2, 3, 4, 5]
    counts, quarantined = ObjectCounts(), []
    points = list(encode_lines(batches, S3, "obj", counts, quarantined.append, include_message=False))
    assert len(points) == 2 and (counts.entries, counts.bad) == (5, 3)
    reason = f"line of {len(long):,} bytes, longer than the limit of 5,000: not read"
    assert [(record.line, record.reason) for record in quarantined] == [(2, reason), (3, reason), (5, reason)]
    assert quarantined[0].text == long[:2048].decode()


def test_an_object_clearly_past_the_bad_share_stops_early(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("include.lyve_audit.encode.EARLY_STOP_BAD_LINES", 50)
    good = entry("2026-01-10T13:00:00Z")
    lines = [good, *[b"{bad"] * 1_000]
    counts, quarantined = ObjectCounts(), []
    with pytest.raises(TooManyBadLines, match=r"^obj: 50 bad of its first 51 lines \(stopped reading it there\)$"):
        list(encode_lines([(1, lines)], S3, "obj", counts, quarantined.append, max_bad_ratio=0.01))
    assert len(quarantined) == counts.bad == 50
    counts = ObjectCounts()  # with a threshold of 100 % every line is read
    list(encode_lines([(1, lines)], S3, "obj", counts, lambda record: None, max_bad_ratio=1.0))
    assert (counts.entries, counts.bad) == (1_001, 1_000)
