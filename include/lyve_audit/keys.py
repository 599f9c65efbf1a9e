"""Audit-log object keys: what kind of log a key holds, when it was written, and which interval owns it.

Lyve Cloud writes keys as `<MonthName>-<YYYY>/<Kind>-…-<yyyy-MM-dd-HH-mm-ss>.gz`, kind being `S3-<logged bucket>`,
`IAM` or `Console` (the docs also spell it `console`). Bucket names contain hyphens, so the timestamp is read from the
right. Objects are selected by this key timestamp, never by LastModified, so that a backfill of any past hour finds
exactly the objects of that hour.
"""

from __future__ import annotations

import bisect
import calendar
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from include.lyve_audit.contracts import UnrecognisedKeys

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


_MONTH_FOLDER_OBJECT = re.compile(r"^(?P<month>[A-Za-z]+)-\d{4}/(?P<name>[^/]+)\.gz$")
_STAMP = re.compile(r"-(\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2})$")
UNRECOGNISED_EXAMPLES = 3


def unrecognised_reason(key: str) -> str | None:
    """Why a key that looks like a log object (a `.gz` right in a month folder) is not one the pipeline loads, as
    `<prefix>: <reason>`; None for a recognised key or one that does not look like a log object at all."""
    match = _MONTH_FOLDER_OBJECT.match(key)
    if match is None or match["month"].lower() not in _MONTH_NUMBER or parse_log_key(key) is not None:
        return None
    name = match["name"]
    prefix = name.partition("-")[0]
    stamp = _STAMP.search(name)
    if stamp is None:
        return f"{prefix}: no yyyy-MM-dd-HH-mm-ss time stamp"
    try:
        datetime.strptime(stamp[1], "%Y-%m-%d-%H-%M-%S")
    except ValueError:
        return f"{prefix}: impossible date {stamp[1]}"
    if prefix.lower() == S3:
        return f"{prefix}: no logged bucket"
    return f"{prefix}: unknown kind (known: S3-<bucket>, IAM, Console)"


def unrecognised_keys(keys: Iterable[str]) -> dict[str, UnrecognisedKeys]:
    """Keys that look like log objects but are not recognised, by `<prefix>: <reason>`, counted, with examples."""
    found: dict[str, UnrecognisedKeys] = {}
    for key in keys:
        reason = unrecognised_reason(key)
        if reason is None:
            continue
        entry = found.setdefault(reason, {"count": 0, "examples": []})
        entry["count"] += 1
        if len(entry["examples"]) < UNRECOGNISED_EXAMPLES:
            entry["examples"].append(key)
    return found


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


_STAMP_LENGTH = len("2026-01-31-23-59-59.gz")


def key_prefix(key: str) -> str | None:
    """The part of an audit-log key before its timestamp (`January-2026/S3-media-assets-`), None for other keys.

    Within one such prefix keys sort by time, so the objects of a time window are one contiguous key range.
    """
    return key[:-_STAMP_LENGTH] if parse_log_key(key) is not None else None


def key_stamp(moment: datetime) -> str:
    """A moment as the timestamp part of a key (`2026-01-31-23-59-59`): range bounds for a prefix's listing."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d-%H-%M-%S")


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


_LATEST = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class PastPlans:
    """What earlier runs recorded about the look-back window: objects loaded, intervals planned, objects claimed.

    `claims` maps an object key to the start of the interval whose plan took it; `planned` holds the
    `(start, end)` of every interval whose plan has run (and written its claims).
    """

    loaded: frozenset[str] = frozenset()
    planned: tuple[tuple[datetime, datetime], ...] = ()
    claims: Mapping[str, datetime] = field(default_factory=dict)

    def was_planned(self, moment: datetime) -> bool:
        """Whether the plan of the interval holding `moment` has run (`planned` sorted by start, as read)."""
        index = bisect.bisect_right(self.planned, (moment, _LATEST)) - 1
        return index >= 0 and self.planned[index][0] <= moment < self.planned[index][1]


def select_objects(
    objects: Iterable[ListedObject],
    start: datetime,
    end: datetime,
    lookback: timedelta,
    late_margin: timedelta,
    past: PastPlans | None = None,
) -> Selection:
    """Choose the objects the run of `[start, end)` loads.

    Own objects are those whose key timestamp lies in the interval; a rerun always reloads them, and identical points
    overwrite. An object of the `lookback` before `start` that the ledger does not show as loaded is late when:

    * its own interval was planned and that plan did not claim it (it reached the bucket after that plan listed), and
      no other run's plan claimed it since; or this interval's plan claimed it before (a rerun takes it again);
    * its own interval has no plan record but ledger points (an earlier version loaded it) and it reached the bucket
      after that interval ended, less `late_margin` (uploads still in flight when the interval ended).

    An interval with no plan record and nothing loaded is left to its own run, which takes its objects as its own
    whenever it plans: so however many runs are active, and in whatever order they plan, a run never takes as late
    what another run loads.
    """
    past = past or PastPlans()
    length = end - start
    loaded_before = _intervals_loaded_before(past, start, length)
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
            and listed.key not in past.loaded
            and _is_late(listed, stamp, start, length, late_margin, past, loaded_before)
        ):
            late.append((log_key, listed))
        else:
            outside += 1
    own.sort(key=lambda pair: pair[0].key)
    late.sort(key=lambda pair: pair[0].key)
    return Selection(own, late, not_audit, outside, listed_by_kind)


def _is_late(
    listed: ListedObject,
    stamp: datetime,
    start: datetime,
    length: timedelta,
    late_margin: timedelta,
    past: PastPlans,
    loaded_before: set[datetime],
) -> bool:
    claimed_by = past.claims.get(listed.key)
    if claimed_by is not None:
        return claimed_by == start
    if past.was_planned(stamp):
        return True
    own_end = interval_end_for(stamp, start, length)
    return own_end in loaded_before and listed.last_modified >= own_end - late_margin


def _intervals_loaded_before(past: PastPlans, start: datetime, length: timedelta) -> set[datetime]:
    """Ends of the intervals that show ledger points but no plan record: loaded by a version that kept no plans."""
    ends = set()
    for key in past.loaded:
        log_key = parse_log_key(key)
        if log_key is not None and not past.was_planned(log_key.timestamp):
            ends.add(interval_end_for(log_key.timestamp, start, length))
    return ends


def late_candidates(objects: Iterable[ListedObject], start: datetime, lookback: timedelta) -> bool:
    """Whether any listed object lies in the look-back window (only then is the ledger worth asking)."""
    for listed in objects:
        log_key = parse_log_key(listed.key)
        if log_key is not None and start - lookback <= log_key.timestamp < start:
            return True
    return False


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


def byte_groups(items: Sequence[tuple[str, int]], target_bytes: int, max_groups: int) -> list[list[str]]:
    """Split `(name, size)` items into as many groups as their total size needs at `target_bytes` a group.

    Each group is one parse and one load task: an interval of small objects is a single pair of tasks (task start-up
    costs seconds), while a large one still spreads over up to `max_groups` workers, balanced by size.
    """
    if target_bytes < 1:
        raise ValueError("target_bytes must be at least 1")
    total = sum(size for _, size in items)
    wanted = max(1, -(-total // target_bytes))
    return balanced_groups(items, min(wanted, max_groups))
