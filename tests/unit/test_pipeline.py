"""The run's steps without Airflow: planning over a listing, parsing into a local stage, and the run's counts."""

from __future__ import annotations

import gzip
import logging
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import orjson
import pytest

from include.lyve_audit.contracts import PlanCounts, UnrecognisedKeys
from include.lyve_audit.demo import generate
from include.lyve_audit.keys import ListedObject, PastPlans
from include.lyve_audit.pipeline import (
    RangeListing,
    Settings,
    TooManyBadLines,
    format_summary,
    parse_objects,
    plan_interval,
    summarize,
)
from include.lyve_audit.stage import read_staged, safe_name

START, END = datetime(2026, 2, 1, 0, tzinfo=UTC), datetime(2026, 2, 1, 1, tzinfo=UTC)


@dataclass
class FakeLedger:
    """The plan ledger in memory: what `past` was asked and what `record` wrote."""

    plans: PastPlans = field(default_factory=PastPlans)
    asked: list[tuple[datetime, datetime]] = field(default_factory=list)
    recorded: list[bytes] = field(default_factory=list)

    def past(self, start: datetime, end: datetime) -> PastPlans:
        self.asked.append((start, end))
        return self.plans

    def record(self, lines: list[bytes]) -> None:
        self.recorded.extend(lines)


def test_plan_lists_each_touched_month_and_asks_the_ledger_only_for_late_candidates() -> None:
    listings = {
        "January-2026/": [],
        "February-2026/": [
            ListedObject(f"February-2026/S3-b-2026-02-01-00-{minute:02d}-00.gz", 100 + minute, START)
            for minute in range(0, 60, 5)
        ]
        + [
            ListedObject("February-2026/other.csv", 1, START),
            ListedObject("February-2026/IAM-2026-02-01-01-00-00.gz", 10, END),
            ListedObject("February-2026/Account-2026-02-01-00-10-00.gz", 1, START),
        ],
    }
    asked: list[str] = []

    def list_prefix(prefix: str) -> list[ListedObject]:
        asked.append(prefix)
        return listings.get(prefix, [])

    ledger = FakeLedger()
    plan = plan_interval(list_prefix, START, END, Settings(max_groups=4, group_bytes=300), ledger, "scheduled__1")
    assert asked == ["January-2026/", "February-2026/"]
    assert ledger.asked == []
    assert len(plan["groups"]) == 4  # 1,530 bytes at 300 a group would be 6: capped by max_groups
    assert plan["counts"] == {
        "listed": 15,
        "not_audit_logs": 2,
        "outside_interval": 1,
        "own": 12,
        "late": 0,
        "listed_by_kind": {"s3": 12, "iam": 1, "console": 0},
        "own_by_kind": {"s3": 12, "iam": 0, "console": 0},
        "late_by_kind": {"s3": 0, "iam": 0, "console": 0},
        "unrecognised": {
            "Account: unknown kind (known: S3-<bucket>, IAM, Console)": {
                "count": 1,
                "examples": ["February-2026/Account-2026-02-01-00-10-00.gz"],
            }
        },
    }
    first = plan["groups"][0][0]
    assert set(first) == {"key", "size", "last_modified"}
    orjson.dumps(plan)  # everything in it can go to XCom as JSON
    # The plan record: one claim per object taken, then the interval's marker.
    assert len(ledger.recorded) == 13
    assert ledger.recorded[-1] == (
        b'lyve-pipeline-plan,kind=interval interval_end="2026-02-01T01:00:00+00:00",objects=12i,'
        b'run="scheduled__1" 1769904000000000000'
    )
    assert ledger.recorded[0].startswith(b"lyve-pipeline-plan,bucket=b,kind=s3 object=")

    listings["January-2026/"].append(
        ListedObject("January-2026/IAM-2026-01-31-22-59-30.gz", 10, datetime(2026, 2, 1, 0, 30, tzinfo=UTC))
    )
    ledger.plans = PastPlans(planned=((datetime(2026, 1, 31, 22, tzinfo=UTC), datetime(2026, 1, 31, 23, tzinfo=UTC)),))
    plan = plan_interval(list_prefix, START, END, Settings(max_groups=4), ledger, "scheduled__1")
    assert ledger.asked == [(START - timedelta(hours=24), START)]
    assert plan["counts"]["late"] == 1 and plan["counts"]["late_by_kind"]["iam"] == 1
    assert len(plan["groups"]) == 1  # 1 KB of objects: one parse and one load task


def test_two_thousand_objects_stay_under_the_mapping_limit() -> None:
    objects = [
        ListedObject(f"February-2026/S3-b{index}-2026-02-01-00-{index % 60:02d}-00.gz", 10 << 20, START)
        for index in range(2000)
    ]
    plan = plan_interval(
        lambda prefix: objects if prefix == "February-2026/" else [], START, END, Settings(), FakeLedger(), "r"
    )
    assert len(plan["groups"]) == 32
    assert sum(len(group) for group in plan["groups"]) == 2000


def opener(folder: Path) -> object:
    def open_object(key: str) -> AbstractContextManager[IO[bytes]]:
        return (folder / key).open("rb")

    return open_object


def describe(key: str) -> dict[str, object]:
    return {"key": key, "size": 1, "last_modified": START.isoformat()}


def test_parse_stages_line_protocol_and_counts(tmp_path: Path) -> None:
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


def test_an_object_mostly_bad_stops_early_names_itself_and_the_others_are_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its quarantine file holds what was read (written as found); its partial staged file is removed."""
    monkeypatch.setattr("include.lyve_audit.encode.EARLY_STOP_BAD_LINES", 100)
    bad_key, good_key = "February-2026/IAM-2026-02-01-00-59-30.gz", "February-2026/IAM-2026-02-01-01-59-30.gz"
    good = orjson.dumps({"date": "2026-02-01T00:00:00Z", "content": {"user_name": "u"}}) + b"\n"
    (tmp_path / "February-2026").mkdir()
    (tmp_path / bad_key).write_bytes(gzip.compress(good + b"{bad\n" * 5_000))
    (tmp_path / good_key).write_bytes(gzip.compress(good))
    with pytest.raises(TooManyBadLines) as raised:
        parse_objects(
            [describe(bad_key), describe(good_key)],
            opener(tmp_path),
            tmp_path / "stage",
            tmp_path / "q",
            "r",
            Settings(),
        )
    quarantine = tmp_path / "q" / f"{safe_name(bad_key)}.jsonl"
    assert str(raised.value) == (
        f"bad lines above 1.00% of an object's lines: {bad_key}: 100 bad of its first 101 lines "
        f"(stopped reading it there) (see {quarantine})"
    )
    assert [orjson.loads(line)["line"] for line in quarantine.read_bytes().splitlines()] == list(range(2, 102))
    staged = sorted(path.name for path in (tmp_path / "stage").rglob("*.lpb"))
    assert staged == [f"{safe_name(good_key)}.lpb"]


def test_unrecognised_keys_are_reported_by_prefix_and_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    unrecognised: dict[str, UnrecognisedKeys] = {
        "S3: no logged bucket": {"count": 4, "examples": [f"May-2026/S3-2026-05-01-00-0{i}-00.gz" for i in range(3)]}
    }
    no_objects = {"s3": 0, "iam": 0, "console": 0}
    plan_counts: PlanCounts = {
        "listed": 4,
        "not_audit_logs": 4,
        "outside_interval": 0,
        "own": 0,
        "late": 0,
        "listed_by_kind": no_objects,
        "own_by_kind": no_objects,
        "late_by_kind": no_objects,
        "unrecognised": unrecognised,
    }
    with caplog.at_level(logging.WARNING, logger="include.lyve_audit.pipeline"):
        summary = summarize(plan_counts, [], [])
    assert summary["unrecognised_keys"] == unrecognised
    assert caplog.messages == [
        "4 keys not loaded, S3: no logged bucket; e.g. May-2026/S3-2026-05-01-00-00-00.gz, "
        "May-2026/S3-2026-05-01-00-01-00.gz, May-2026/S3-2026-05-01-00-02-00.gz",
        "NO AUDIT LOG RECOGNISED: 4 keys listed in the month folders, none of them an audit-log key "
        "(<Month>-<YYYY>/<Kind>-…-<yyyy-MM-dd-HH-mm-ss>.gz); nothing was loaded",
    ]
    assert "not loaded, S3: no logged bucket: 4 keys, e.g. May-2026/S3-2026-05-01-00-00-00.gz" in format_summary(
        summary
    )


def test_summary_counts_per_kind() -> None:
    plan_counts: PlanCounts = {
        "listed": 5,
        "not_audit_logs": 1,
        "outside_interval": 2,
        "own": 1,
        "late": 1,
        "listed_by_kind": {"s3": 3, "iam": 1, "console": 0},
        "own_by_kind": {"s3": 0, "iam": 1, "console": 0},
        "late_by_kind": {"s3": 1, "iam": 0, "console": 0},
        "unrecognised": {},
    }
    parsed = [
        [{"kind": "s3", "entries": 10, "bad": 1, "duplicates": 2}],
        [{"kind": "iam", "entries": 4, "bad": 0, "duplicates": 0}],
    ]
    loaded = [[{"kind": "s3", "written": 7}], [{"kind": "iam", "written": 4}]]
    summary = summarize(plan_counts, parsed, loaded)
    assert summary["by_kind"]["s3"] == {
        "objects_listed": 3,
        "objects_own": 0,
        "objects_late": 1,
        "objects_selected": 1,
        "objects_loaded": 1,
        "entries_parsed": 10,
        "entries_bad": 1,
        "entries_duplicate": 2,
        "points_written": 7,
    }
    assert summary["by_kind"]["console"]["objects_listed"] == 0
    table = format_summary(summary)
    assert table.splitlines()[1].split() == ["s3", "3", "0", "1", "1", "1", "10", "1", "2", "7"]
    assert "1 keys that are not audit logs, 2 objects of other intervals" in table


@dataclass
class MemoryCatalog:
    entries: dict[str, tuple[datetime, list[str]]] = field(default_factory=dict)

    def known(self, folder: str) -> tuple[datetime, list[str]] | None:
        return self.entries.get(folder)

    def remember(self, folder: str, discovered_at: datetime, prefixes: list[str]) -> None:
        self.entries[folder] = (discovered_at, prefixes)


def test_known_prefixes_are_listed_from_the_window_start_and_a_new_bucket_is_found_by_the_next_discovery() -> None:
    keys = [
        f"February-2026/S3-{bucket}-{(START - timedelta(hours=hours)).strftime('%Y-%m-%d-%H-%M-%S')}.gz"
        for bucket in ("a", "a-b")
        for hours in range(-1, 30)
    ] + ["February-2026/IAM-2026-02-01-00-30-00.gz", "February-2026/notes.txt"]
    folder = [ListedObject(key, 10, START) for key in sorted(keys)]
    full_lists: list[str] = []
    ranges_asked: list[tuple[str, str, str]] = []

    def list_prefix(prefix: str) -> list[ListedObject]:
        full_lists.append(prefix)
        return [item for item in folder if item.key.startswith(prefix)]

    def list_range(prefix: str, start_after: str, stop_at: str) -> list[ListedObject]:
        ranges_asked.append((prefix, start_after, stop_at))
        return [item for item in folder if item.key.startswith(prefix) and start_after < item.key < stop_at]

    catalog = MemoryCatalog()
    settings = Settings(max_groups=4)
    chosen = []
    for hours_later in (0, 1, 13):
        ranges = RangeListing(list_range, catalog, START + timedelta(hours=hours_later))
        plan = plan_interval(list_prefix, START, END, settings, FakeLedger(), "r", ranges)
        chosen.append(sorted(item["key"] for group in plan["groups"] for item in group))
    # First plan: no prefixes known, both folders listed whole and their prefixes kept.
    assert full_lists[:2] == ["January-2026/", "February-2026/"]
    assert catalog.entries["February-2026/"][1] == [
        "February-2026/IAM-",
        "February-2026/S3-a-",
        "February-2026/S3-a-b-",
    ]
    # An hour later: one ranged listing per known prefix (January has none), from the look-back's start.
    assert ranges_asked == [
        (
            f"February-2026/{kind}",
            f"February-2026/{kind}2026-01-31-00-00-00",
            f"February-2026/{kind}2026-02-01-01-00-00",
        )
        for kind in ("IAM-", "S3-a-", "S3-a-b-")
    ]
    assert chosen[0] == chosen[1]  # the same objects as with the full listing
    # 13 hours on (past half the look-back): the folders are listed whole again, so a new bucket would be found.
    assert full_lists == ["January-2026/", "February-2026/"] * 2
    assert chosen[2] == chosen[0]
