"""Key parsing, month folders and the choice of objects for an interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from include.lyve_audit.keys import (
    CONSOLE,
    IAM,
    S3,
    ListedObject,
    LogKey,
    PastPlans,
    balanced_groups,
    byte_groups,
    interval_end_for,
    month_folders,
    parse_log_key,
    select_objects,
    unrecognised_reason,
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param(
            "January-2026/S3-media-assets-2026-01-10-13-20-59.gz",
            LogKey(
                "January-2026/S3-media-assets-2026-01-10-13-20-59.gz", S3, "media-assets", utc(2026, 1, 10, 13, 20, 59)
            ),
            id="s3-bucket-with-hyphens",
        ),
        pytest.param(
            "March-2025/S3-a-2025-03-01-00-00-00.gz",
            LogKey("March-2025/S3-a-2025-03-01-00-00-00.gz", S3, "a", utc(2025, 3, 1)),
            id="s3-short-bucket",
        ),
        pytest.param(
            "January-2026/IAM-2026-01-10-13-59-30.gz",
            LogKey("January-2026/IAM-2026-01-10-13-59-30.gz", IAM, None, utc(2026, 1, 10, 13, 59, 30)),
            id="iam",
        ),
        pytest.param(
            "january-2026/console-2026-01-10-13-59-30.gz",
            LogKey("january-2026/console-2026-01-10-13-59-30.gz", CONSOLE, None, utc(2026, 1, 10, 13, 59, 30)),
            id="console-lowercase",
        ),
        pytest.param(
            "February-2026/Console-node7-2026-02-01-00-00-00.gz",
            LogKey("February-2026/Console-node7-2026-02-01-00-00-00.gz", CONSOLE, None, utc(2026, 2, 1)),
            id="console-with-middle-part",
        ),
        pytest.param("January-2026/S3-2026-01-10-13-20-59.gz", None, id="s3-without-bucket"),
        pytest.param("January-2026/S3-b-2026-13-10-13-20-59.gz", None, id="month-13"),
        pytest.param("January-2026/S3-b-0000-01-10-13-20-59.gz", None, id="year-0"),
        pytest.param("January-2026/S3-b-2026-01-10-25-20-59.gz", None, id="hour-25"),
        pytest.param("January-2026/S3-b-2026-01-10-13-20-59.json", None, id="not-gz"),
        pytest.param("Smarch-2026/S3-b-2026-01-10-13-20-59.gz", None, id="no-such-month"),
        pytest.param("S3-b-2026-01-10-13-20-59.gz", None, id="no-folder"),
        pytest.param("January-2026/Billing-2026-01-10-13-20-59.gz", None, id="unknown-kind"),
        pytest.param("January-2026/", None, id="folder-marker"),
    ],
)
def test_parse_log_key(key: str, expected: LogKey | None) -> None:
    assert parse_log_key(key) == expected


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        pytest.param(utc(2026, 1, 10, 13), utc(2026, 1, 10, 14), ["January-2026/"], id="inside-a-month"),
        pytest.param(
            utc(2026, 1, 31, 23), utc(2026, 2, 1, 0), ["January-2026/", "February-2026/"], id="hour-ending-on-the-1st"
        ),
        pytest.param(
            utc(2025, 12, 31, 12), utc(2026, 1, 1, 1), ["December-2025/", "January-2026/"], id="across-new-year"
        ),
        pytest.param(
            utc(2026, 1, 20), utc(2026, 3, 2), ["January-2026/", "February-2026/", "March-2026/"], id="three-months"
        ),
    ],
)
def test_month_folders(start: datetime, end: datetime, expected: list[str]) -> None:
    assert month_folders(start, end) == expected


def listed(key: str, last_modified: datetime, size: int = 100) -> ListedObject:
    return ListedObject(key, size, last_modified)


START, END = utc(2026, 1, 10, 13), utc(2026, 1, 10, 14)
LOOKBACK, MARGIN = timedelta(hours=24), timedelta(minutes=15)


def test_interval_edges_belong_to_the_interval_that_starts_there() -> None:
    objects = [
        listed("January-2026/IAM-2026-01-10-12-59-59.gz", utc(2026, 1, 10, 13, 0, 5)),  # previous hour, loaded
        listed("January-2026/IAM-2026-01-10-13-00-00.gz", utc(2026, 1, 10, 13, 0, 5)),  # first second: ours
        listed("January-2026/IAM-2026-01-10-13-59-59.gz", utc(2026, 1, 10, 14, 0, 1)),  # last second: ours
        listed("January-2026/IAM-2026-01-10-14-00-00.gz", utc(2026, 1, 10, 14, 0, 5)),  # next hour
        listed("January-2026/notes.txt", utc(2026, 1, 10, 13)),
    ]
    loaded = frozenset({"January-2026/IAM-2026-01-10-12-59-59.gz"})
    selection = select_objects(objects, START, END, LOOKBACK, MARGIN, PastPlans(loaded=loaded))
    assert [log_key.key for log_key, _ in selection.own] == [
        "January-2026/IAM-2026-01-10-13-00-00.gz",
        "January-2026/IAM-2026-01-10-13-59-59.gz",
    ]
    assert selection.late == []
    assert (selection.not_audit_logs, selection.outside) == (1, 2)
    assert selection.listed_by_kind == {S3: 0, IAM: 4, CONSOLE: 0}


def test_intervals_loaded_by_an_earlier_version_go_by_arrival() -> None:
    """No plan record, but ledger points (the version before plan records loaded the hour): the arrival rule."""
    late_key = "January-2026/S3-b-2026-01-10-11-20-00.gz"
    loaded_then = frozenset({"January-2026/S3-b-2026-01-10-11-00-00.gz"})
    objects = [
        listed(late_key, utc(2026, 1, 10, 13, 30)),  # its hour ended at 12:00; it arrived at 13:30
        listed("January-2026/S3-b-2026-01-10-11-40-00.gz", utc(2026, 1, 10, 11, 44, 59)),  # on time: never late
        listed("January-2026/S3-b-2026-01-10-11-59-00.gz", utc(2026, 1, 10, 11, 50)),  # within the margin: late
        listed("January-2026/S3-b-2026-01-09-12-00-00.gz", utc(2026, 1, 10, 13, 30)),  # older than the look-back
    ]
    first = select_objects(objects, START, END, LOOKBACK, MARGIN, PastPlans(loaded=loaded_then))
    assert [log_key.key for log_key, _ in first.late] == [late_key, "January-2026/S3-b-2026-01-10-11-59-00.gz"]
    again = select_objects(objects, START, END, LOOKBACK, MARGIN, PastPlans(loaded=loaded_then | {late_key}))
    assert [log_key.key for log_key, _ in again.late] == ["January-2026/S3-b-2026-01-10-11-59-00.gz"]


def test_an_interval_not_planned_yet_is_left_to_its_own_run() -> None:
    """Several runs active: an earlier interval whose plan has not run keeps its objects, however late they arrived."""
    uploaded_in_one_go = [
        listed("January-2026/IAM-2026-01-10-12-30-00.gz", utc(2026, 1, 10, 13, 50)),
        listed("January-2026/S3-b-2026-01-10-11-20-00.gz", utc(2026, 1, 10, 13, 50)),
    ]
    selection = select_objects(uploaded_in_one_go, START, END, LOOKBACK, MARGIN, PastPlans(planned=PLANNED[:0]))
    assert selection.late == [] and selection.outside == 2


def test_duplicate_listing_of_a_key_counts_once() -> None:
    key = "January-2026/IAM-2026-01-10-13-10-00.gz"
    selection = select_objects([listed(key, START), listed(key, START)], START, END, LOOKBACK, MARGIN)
    assert len(selection.own) == 1


def test_interval_end_for() -> None:
    assert interval_end_for(utc(2026, 1, 10, 11, 20), START, timedelta(hours=1)) == utc(2026, 1, 10, 12)
    assert interval_end_for(utc(2026, 1, 10, 12), START, timedelta(hours=1)) == utc(2026, 1, 10, 13)
    assert interval_end_for(utc(2026, 1, 10, 13, 5), START, timedelta(hours=1)) == utc(2026, 1, 10, 14)


def test_balanced_groups_bound_the_number_of_mapped_tasks() -> None:
    items = [(f"k{index:04d}", 1000 + index) for index in range(2000)]
    groups = balanced_groups(items, 32)
    assert len(groups) == 32
    assert sorted(name for group in groups for name in group) == sorted(name for name, _ in items)
    totals = [sum(1000 + int(name[1:]) for name in group) for group in groups]
    assert max(totals) - min(totals) <= 2000 + 1999


def test_balanced_groups_keep_large_objects_apart() -> None:
    groups = balanced_groups([("big1", 500), ("big2", 500), ("s1", 1), ("s2", 1)], 2)
    assert groups == [["big1", "s1"], ["big2", "s2"]]
    assert balanced_groups([], 8) == []
    assert balanced_groups([("only", 5)], 8) == [["only"]]


PLANNED = ((utc(2026, 1, 10, 11), utc(2026, 1, 10, 12)), (utc(2026, 1, 10, 12), utc(2026, 1, 10, 13)))


@pytest.mark.parametrize(
    ("claimed_by", "loaded", "late"),
    [
        pytest.param(None, False, True, id="planned-interval-did-not-claim-it: arrived after its plan"),
        pytest.param(utc(2026, 1, 10, 11), False, False, id="claimed-by-its-own-run: that run loads it"),
        pytest.param(utc(2026, 1, 10, 12), False, False, id="claimed-late-by-another-run"),
        pytest.param(START, False, True, id="claimed-by-this-interval-before: a rerun takes it again"),
        pytest.param(None, True, False, id="in-the-ledger"),
    ],
)
def test_late_objects_of_planned_intervals_go_by_claims(claimed_by: datetime | None, loaded: bool, late: bool) -> None:
    key = "January-2026/S3-b-2026-01-10-11-20-00.gz"
    # Uploaded long before this run, as in a catch-up: the arrival time no longer decides anything.
    objects = [listed(key, utc(2026, 1, 10, 11, 20, 30))]
    past = PastPlans(
        loaded=frozenset({key} if loaded else ()),
        planned=PLANNED,
        claims={key: claimed_by} if claimed_by else {},
    )
    selection = select_objects(objects, START, END, LOOKBACK, MARGIN, past)
    assert [log_key.key for log_key, _ in selection.late] == ([key] if late else [])


@pytest.mark.parametrize(
    ("sizes", "target", "max_groups", "expected"),
    [
        pytest.param([40_000] * 11, 256 << 20, 32, 1, id="an-hour-of-small-objects-is-one-task"),
        pytest.param([500 << 20] * 20, 256 << 20, 32, 20, id="large-objects-spread"),
        pytest.param([300 << 20] * 100, 256 << 20, 32, 32, id="capped-by-max-groups"),
        pytest.param([100, 100, 100], 150, 32, 2, id="rounded-up"),
        pytest.param([], 150, 32, 0, id="nothing"),
    ],
)
def test_byte_groups_count(sizes: list[int], target: int, max_groups: int, expected: int) -> None:
    items = [(f"k{index}", size) for index, size in enumerate(sizes)]
    groups = byte_groups(items, target, max_groups)
    assert len(groups) == expected
    assert sorted(name for group in groups for name in group) == sorted(name for name, _ in items)


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        pytest.param("May-2026/Account-2026-05-01-10-00-00.gz", "Account: unknown kind", id="unknown-kind"),
        pytest.param("May-2026/S3-2026-05-01-10-00-00.gz", "S3: no logged bucket", id="s3-without-bucket"),
        pytest.param("May-2026/IAM-2026-02-30-10-00-00.gz", "IAM: impossible date 2026-02-30-10-00-00", id="feb-30"),
        pytest.param("May-2026/S3-b-2026-05-01.gz", "S3: no yyyy-MM-dd-HH-mm-ss time stamp", id="short-stamp"),
        pytest.param("May-2026/S3-b-2026-05-01-10-00-00.gz", None, id="recognised"),
        pytest.param("May-2026/notes.txt", None, id="not-gzip"),
        pytest.param("May-2026/archive/S3-b-2026-05-01-10-00-00.gz", None, id="nested-folder"),
        pytest.param("Backups-2026/S3-b-2026-05-01-10-00-00.gz", None, id="not-a-month-folder"),
    ],
)
def test_unrecognised_reason(key: str, reason: str | None) -> None:
    found = unrecognised_reason(key)
    assert found == reason if reason is None else found is not None and found.startswith(reason)
