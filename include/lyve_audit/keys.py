"""Audit-log object keys: what kind of log a key holds, when it was written, and which interval owns it.

Lyve Cloud writes keys as `<MonthName>-<YYYY>/<Kind>-…-<yyyy-MM-dd-HH-mm-ss>.gz`, kind being `S3-<logged bucket>`,
`IAM` or `Console` (the docs also spell it `console`). Bucket names contain hyphens, so the timestamp is read from the
right. Objects are selected by this key timestamp, never by LastModified, so that a backfill of any past hour finds
exactly the objects of that hour.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

S3, IAM, CONSOLE = "s3", "iam", "console"
KINDS: tuple[str, ...] = (S3, IAM, CONSOLE)

MONTH_NAMES: tuple[str, ...] = tuple(calendar.month_name[1:])
_MONTH_NUMBER = {name.lower(): number for number, name in enumerate(MONTH_NAMES, start=1)}

_KEY = re.compile(
    r"^(?P<month>[A-Za-z]+)-(?P<year>\d{4})/"
    r"(?P<name>[^/]+?)-(?P<stamp>\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})\.gz$"
)


@dataclass(frozen=True, slots=True)
class LogKey:
    """A parsed audit-log key."""

    key: str
    kind: str
    logged_bucket: str | None
    timestamp: datetime


def parse_log_key(key: str) -> LogKey | None:
    """Parse an object key; None when it is not an audit-log key (other files, impossible dates)."""
    match = _KEY.match(key)
    if match is None or match["month"].lower() not in _MONTH_NUMBER:
        return None
    try:
        timestamp = datetime.strptime(match["stamp"], "%Y-%m-%d-%H-%M-%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    name = match["name"]
    prefix, _, rest = name.partition("-")
    kind = prefix.lower()
    if kind == S3:
        if not rest:
            return None
        return LogKey(key, S3, rest, timestamp)
    if kind in (IAM, CONSOLE):
        return LogKey(key, kind, None, timestamp)
    return None


def month_folder(moment: datetime) -> str:
    """The folder Lyve Cloud writes a moment's logs to, e.g. `January-2026/`."""
    return f"{MONTH_NAMES[moment.month - 1]}-{moment.year:04d}/"


def month_folders(start: datetime, end: datetime) -> list[str]:
    """Every month folder from the one holding `start` to the one holding `end`, both included.

    `end` is included on purpose: an object stamped just before midnight on the last day of a month can be filed in
    the next month's folder, so the hour that ends on the first of a month lists that folder too.
    """
    folders: list[str] = []
    year, month = start.year, start.month
    while (year, month) <= (end.year, end.month):
        folders.append(f"{MONTH_NAMES[month - 1]}-{year:04d}/")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return folders


@dataclass(frozen=True, slots=True)
class ListedObject:
    """One object as a listing returns it (the fields of S3's ListObjectsV2 that matter here)."""

    key: str
    size: int
    last_modified: datetime


@dataclass(frozen=True, slots=True)
class Selection:
    """The objects an interval's run processes, and what it passed over."""

    own: list[tuple[LogKey, ListedObject]]
    late: list[tuple[LogKey, ListedObject]]
    not_audit_logs: int
    outside: int
    listed_by_kind: dict[str, int]

    @property
    def selected(self) -> list[tuple[LogKey, ListedObject]]:
        return self.own + self.late


def interval_end_for(moment: datetime, start: datetime, length: timedelta) -> datetime:
    """End of the interval (aligned on `start`, of `length`) that contains `moment`."""
    steps = (moment - start) // length
    return start + (steps + 1) * length


def select_objects(
    objects: Iterable[ListedObject],
    start: datetime,
    end: datetime,
    lookback: timedelta,
    late_margin: timedelta,
    loaded: frozenset[str] = frozenset(),
) -> Selection:
    """Choose the objects the run of `[start, end)` loads.

    Own objects are those whose key timestamp lies in the interval; a rerun always reloads them, and identical points
    overwrite. Late objects are those of the `lookback` before `start` that reached the bucket after their own
    interval had ended (less `late_margin`, which covers uploads still in flight when their own run listed) and that
    the load ledger does not show as loaded: each is loaded by the first later run that sees it.
    """
    length = end - start
    own: list[tuple[LogKey, ListedObject]] = []
    late: list[tuple[LogKey, ListedObject]] = []
    not_audit, outside = 0, 0
    seen: set[str] = set()
    listed_by_kind = dict.fromkeys(KINDS, 0)
    for listed in objects:
        log_key = parse_log_key(listed.key)
        if log_key is None:
            not_audit += 1
            continue
        if listed.key in seen:
            continue
        seen.add(listed.key)
        listed_by_kind[log_key.kind] += 1
        stamp = log_key.timestamp
        if start <= stamp < end:
            own.append((log_key, listed))
        elif (
            start - lookback <= stamp < start
            and listed.key not in loaded
            and listed.last_modified >= interval_end_for(stamp, start, length) - late_margin
        ):
            late.append((log_key, listed))
        else:
            outside += 1
    own.sort(key=lambda pair: pair[0].key)
    late.sort(key=lambda pair: pair[0].key)
    return Selection(own, late, not_audit, outside, listed_by_kind)


def balanced_groups(items: Sequence[tuple[str, int]], max_groups: int) -> list[list[str]]:
    """Split `(name, size)` items into at most `max_groups` groups of similar total size.

    Bounds the number of mapped tasks (Airflow's `max_map_length`) while keeping large objects apart so that the
    workers finish at about the same time. Largest first, each into the lightest group; deterministic.
    """
    if max_groups < 1:
        raise ValueError("max_groups must be at least 1")
    count = min(max_groups, len(items))
    groups: list[list[str]] = [[] for _ in range(count)]
    totals = [0] * count
    for name, size in sorted(items, key=lambda item: (-item[1], item[0])):
        lightest = min(range(count), key=lambda index: (totals[index], index))
        groups[lightest].append(name)
        totals[lightest] += size
    return [sorted(group) for group in groups]
