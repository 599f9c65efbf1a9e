"""The run's steps without Airflow: planning over a listing, parsing into a local stage, and the run's counts."""

from __future__ import annotations

import gzip
import logging
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import orjson
import pytest

from include.lyve_audit.demo import generate
from include.lyve_audit.keys import ListedObject
from include.lyve_audit.pipeline import (
    Settings,
    TooManyBadLines,
    format_summary,
    parse_objects,
    plan_interval,
    summarize,
)
from include.lyve_audit.stage import read_staged

START, END = datetime(2026, 2, 1, 0, tzinfo=UTC), datetime(2026, 2, 1, 1, tzinfo=UTC)


def test_plan_lists_each_touched_month_and_asks_the_ledger_only_for_late_candidates() -> None:
    listings = {
        "January-2026/": [
            ListedObject("January-2026/IAM-2026-01-31-23-30-00.gz", 10, datetime(2026, 1, 31, 23, 30, 10, tzinfo=UTC)),
        ],
        "February-2026/": [
            ListedObject(f"February-2026/S3-b-2026-02-01-00-{minute:02d}-00.gz", 100 + minute, START)
            for minute in range(0, 60, 5)
        ]
        + [ListedObject("February-2026/other.csv", 1, START)],
    }
    asked: list[str] = []
    ledger_calls: list[tuple[datetime, datetime]] = []

    def list_prefix(prefix: str) -> list[ListedObject]:
        asked.append(prefix)
        return listings.get(prefix, [])

    def ledger(start: datetime, end: datetime) -> frozenset[str]:
        ledger_calls.append((start, end))
        return frozenset()

    plan = plan_interval(list_prefix, START, END, Settings(max_groups=4), ledger)
    assert asked == ["January-2026/", "February-2026/"]
    assert ledger_calls == []
    assert [len(group) for group in plan["groups"]] == [3, 3, 3, 3]
    assert plan["counts"] == {
        "listed": 14,
        "not_audit_logs": 1,
        "outside_interval": 1,
        "own": 12,
        "late": 0,
        "listed_by_kind": {"s3": 12, "iam": 1, "console": 0},
    }
    first = plan["groups"][0][0]
    assert set(first) == {"key", "size", "last_modified"}
    orjson.dumps(plan)  # everything in it can go to XCom as JSON

    listings["January-2026/"].append(
        ListedObject("January-2026/IAM-2026-01-31-22-59-30.gz", 10, datetime(2026, 2, 1, 0, 30, tzinfo=UTC))
    )
    plan = plan_interval(list_prefix, START, END, Settings(max_groups=4), ledger)
    assert ledger_calls == [(START - timedelta(hours=24), START)]
    assert plan["counts"]["late"] == 1


def test_two_thousand_objects_stay_under_the_mapping_limit() -> None:
    objects = [
        ListedObject(f"February-2026/S3-b{index}-2026-02-01-00-{index % 60:02d}-00.gz", 1000, START)
        for index in range(2000)
    ]
    plan = plan_interval(
        lambda prefix: objects if prefix == "February-2026/" else [], START, END, Settings(), lambda *_: frozenset()
    )
    assert len(plan["groups"]) == 32
    assert sum(len(group) for group in plan["groups"]) == 2000


def opener(folder: Path) -> object:
    def open_object(key: str) -> AbstractContextManager[IO[bytes]]:
        return (folder / key).open("rb")

    return open_object


def describe(key: str) -> dict[str, object]:
    return {"key": key, "size": 1, "last_modified": START.isoformat()}


def test_parse_stages_line_protocol_and_counts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="include.lyve_audit.pipeline")
    logs = tmp_path / "logs"
    objects = list(generate(START, 1, seed=3, s3_entries=10))
    for generated in objects:
        (logs / generated.key).parent.mkdir(parents=True, exist_ok=True)
        (logs / generated.key).write_bytes(generated.body())
    refs = parse_objects(
        [describe(generated.key) for generated in objects],
        opener(logs),
        tmp_path / "stage",
        tmp_path / "q",
        "run/1",
        Settings(),
    )
    assert [ref["key"] for ref in refs] == [generated.key for generated in objects]
    for ref, generated in zip(refs, objects, strict=True):
        staged = [line for batch in read_staged(Path(ref["stage"])) for line in batch.lines()]
        assert len(staged) == ref["points"] == ref["entries"] == len(generated.entries)
        assert ref["bad"] == 0 and ref["quarantine"] is None
    assert not (tmp_path / "q").exists()
    assert "S3 API lines of the usual shape: compiled encoder" in caplog.messages  # make venv built it


def test_parse_salvages_a_truncated_object_and_fails_on_the_threshold(tmp_path: Path) -> None:
    key = "February-2026/IAM-2026-02-01-00-59-30.gz"
    lines = b"".join(
        orjson.dumps({"date": f"2026-02-01T00:{index % 60:02d}:00Z", "content": {"user_name": f"u{index}"}}) + b"\n"
        for index in range(3000)
    )
    (tmp_path / "February-2026").mkdir()
    (tmp_path / key).write_bytes(gzip.compress(lines)[:-100])
    with pytest.raises(TooManyBadLines, match=rf"{key}: 1 bad of \d+ lines"):
        parse_objects(
            [describe(key)], opener(tmp_path), tmp_path / "stage", tmp_path / "q", "r", Settings(max_bad_ratio=0)
        )
    refs = parse_objects([describe(key)], opener(tmp_path), tmp_path / "stage", tmp_path / "q", "r", Settings())
    assert refs[0]["bad"] == 1
    assert refs[0]["points"] == refs[0]["entries"] - 1 > 2900
    record = orjson.loads(Path(refs[0]["quarantine"]).read_bytes())
    assert record["object_key"] == key and "truncated" in record["reason"]
    assert record["line"] == refs[0]["entries"]


def test_summary_counts_per_kind() -> None:
    plan_counts = {
        "listed": 5,
        "not_audit_logs": 1,
        "outside_interval": 2,
        "own": 2,
        "late": 0,
        "listed_by_kind": {"s3": 3, "iam": 1, "console": 0},
    }
    parsed = [
        [{"kind": "s3", "entries": 10, "bad": 1, "duplicates": 2}],
        [{"kind": "iam", "entries": 4, "bad": 0, "duplicates": 0}],
    ]
    loaded = [[{"kind": "s3", "written": 7}], [{"kind": "iam", "written": 4}]]
    summary = summarize(plan_counts, parsed, loaded)
    assert summary["by_kind"]["s3"] == {
        "objects_listed": 3,
        "objects_selected": 1,
        "objects_loaded": 1,
        "entries_parsed": 10,
        "entries_bad": 1,
        "entries_duplicate": 2,
        "points_written": 7,
    }
    assert summary["by_kind"]["console"]["objects_listed"] == 0
    table = format_summary(summary)
    assert table.splitlines()[1].split() == ["s3", "3", "1", "1", "10", "1", "2", "7"]
    assert "1 keys that are not audit logs, 2 objects of other intervals" in table
