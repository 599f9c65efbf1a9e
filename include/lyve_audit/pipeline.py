"""The three steps of an interval's run (plan, parse, load) and its report, free of Airflow.

Each step takes what it needs as plain values and callables (list a prefix, open an object, a staging path), returns
the JSON-safe shapes of `contracts` (what goes to XCom), and is called by a few lines of the DAG.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Protocol

from include.lyve_audit.background import quick_handoffs
from include.lyve_audit.contracts import (
    KindCounts,
    LoadedObject,
    ObjectRef,
    ParsedObject,
    Plan,
    PlanCounts,
    RunSummary,
)
from include.lyve_audit.encode import ObjectCounts, encode_lines
from include.lyve_audit.errors import ObjectMissing, StagedFileMissing, TooManyBadLines
from include.lyve_audit.influx import (
    DEFAULT_BATCH_BYTES,
    ClaimedObject,
    InfluxClient,
    InfluxTarget,
    LedgerRecord,
    ledger_line,
    ledger_points,
    open_client,
    past_plans,
    plan_lines,
    write_batches,
    write_lines,
)
from include.lyve_audit.keys import (
    KINDS,
    ListedObject,
    LogKey,
    PastPlans,
    byte_groups,
    key_prefix,
    key_stamp,
    late_candidates,
    month_folders,
    parse_log_key,
    select_objects,
    unrecognised_keys,
)
from include.lyve_audit.parse import MAX_LINE_BYTES, line_batches
from include.lyve_audit.stage import QuarantineFile, StagePath, read_staged, safe_name, staged_path, write_staged

log = logging.getLogger(__name__)


DEFAULT_GROUP_BYTES = 256 << 20
"""Gzip'd bytes per parse/load task: about 2 million S3 entries, a minute or two of writing; smaller intervals are
one task pair, since a task's start-up costs seconds."""


@dataclass(frozen=True)
class Settings:
    """Run-time settings (Airflow Variables in the DAG; defaults here)."""

    lookback: timedelta = timedelta(hours=24)
    late_margin: timedelta = timedelta(minutes=15)
    max_groups: int = 32
    include_message: bool = True
    max_bad_ratio: float = 0.01
    batch_bytes: int = DEFAULT_BATCH_BYTES
    group_bytes: int = DEFAULT_GROUP_BYTES
    prefix_discovery: timedelta = timedelta(hours=12)
    max_line_bytes: int = MAX_LINE_BYTES


class PlanLedger(Protocol):
    """What planning needs of InfluxDB: read what earlier runs recorded, and record this plan."""

    def past(self, start: datetime, end: datetime) -> PastPlans: ...

    def record(self, lines: list[bytes]) -> None: ...


class PrefixCatalog(Protocol):
    """The key prefixes (`<Month>-<YYYY>/<Kind>-<bucket>-`) last found in each month folder, and when."""

    def known(self, folder: str) -> tuple[datetime, list[str]] | None: ...

    def remember(self, folder: str, discovered_at: datetime, prefixes: list[str]) -> None: ...


@dataclass(frozen=True)
class RangeListing:
    """Listing a window by key ranges: `list_range(prefix, start_after, stop_at)` yields the keys of a prefix after
    `start_after`, stopping before the first key at or past `stop_at`; prefixes come from `catalog`."""

    list_range: Callable[[str, str, str], Iterable[ListedObject]]
    catalog: PrefixCatalog
    now: datetime


def list_window(
    list_prefix: Callable[[str], Iterable[ListedObject]],
    folders: list[str],
    window_start: datetime,
    end: datetime,
    ranges: RangeListing | None,
    discovery: timedelta,
) -> list[ListedObject]:
    """The objects of `folders` whose keys may lie in `[window_start, end)`.

    A folder whose prefixes were found less than `discovery` ago is listed prefix by prefix from the window's start
    (LIST requests in proportion to prefixes and window, not to the month's keys); otherwise it is listed whole and
    its prefixes remembered, so a new logged bucket is found within `discovery` (kept below the look-back, so its
    first objects are then still taken as late).
    """
    listed: list[ListedObject] = []
    for folder in folders:
        known = ranges.catalog.known(folder) if ranges is not None else None
        if ranges is None or known is None or ranges.now - known[0] >= discovery:
            whole = list(list_prefix(folder))
            if ranges is not None:
                prefixes = sorted({prefix for item in whole if (prefix := key_prefix(item.key)) is not None})
                ranges.catalog.remember(folder, ranges.now, prefixes)
            listed.extend(whole)
            continue
        first, stop = key_stamp(window_start), key_stamp(end)
        for prefix in known[1]:
            listed.extend(ranges.list_range(prefix, prefix + first, prefix + stop))
    return listed


def plan_interval(
    list_prefix: Callable[[str], Iterable[ListedObject]],
    start: datetime,
    end: datetime,
    settings: Settings,
    ledger: PlanLedger,
    run_id: str,
    ranges: RangeListing | None = None,
) -> Plan:
    """List the objects the interval and its look-back may hold, choose and group them, record the plan.

    The ledger is read only when the look-back holds objects. The plan record (what this interval claimed) is written
    before the plan returns, so a later interval's plan never takes this run's objects as late.
    """
    folders = month_folders(start - settings.lookback, end)
    discovery = min(settings.prefix_discovery, settings.lookback / 2)
    listed = list_window(list_prefix, folders, start - settings.lookback, end, ranges, discovery)
    past = ledger.past(start - settings.lookback, start) if late_candidates(listed, start, settings.lookback) else None
    selection = select_objects(listed, start, end, settings.lookback, settings.late_margin, past)
    ledger.record(
        plan_lines(
            start,
            end,
            run_id,
            (ClaimedObject(key.key, key.kind, key.logged_bucket, key.timestamp) for key, _ in selection.selected),
        )
    )
    chosen = {pair[1].key: pair[1] for pair in selection.selected}
    groups = byte_groups([(key, obj.size) for key, obj in chosen.items()], settings.group_bytes, settings.max_groups)
    return {
        "groups": [[_describe(chosen[key]) for key in group] for group in groups],
        "counts": {
            "listed": len(listed),
            "not_audit_logs": selection.not_audit_logs,
            "outside_interval": selection.outside,
            "own": len(selection.own),
            "late": len(selection.late),
            "listed_by_kind": selection.listed_by_kind,
            "own_by_kind": _by_kind(selection.own),
            "late_by_kind": _by_kind(selection.late),
            "unrecognised": unrecognised_keys(listed_object.key for listed_object in listed),
        },
    }


def _by_kind(pairs: list[tuple[LogKey, ListedObject]]) -> dict[str, int]:
    counts = dict.fromkeys(KINDS, 0)
    for log_key, _ in pairs:
        counts[log_key.kind] += 1
    return counts


def _describe(listed: ListedObject) -> ObjectRef:
    return {"key": listed.key, "size": listed.size, "last_modified": listed.last_modified.isoformat()}


def _parsed(
    described: ObjectRef, log_key: LogKey, stage: str | None, quarantine: str | None, counts: ObjectCounts
) -> ParsedObject:
    return {
        "key": described["key"],
        "size": described["size"],
        "last_modified": described["last_modified"],
        "kind": log_key.kind,
        "logged_bucket": log_key.logged_bucket,
        "key_time": log_key.timestamp.isoformat(),
        "stage": stage,
        "quarantine": quarantine,
        "entries": counts.entries,
        "points": counts.points,
        "bad": counts.bad,
        "duplicates": counts.duplicates,
        "moved": counts.moved,
    }


def parse_objects(
    objects: list[ObjectRef],
    open_object: Callable[[str], AbstractContextManager[IO[bytes]]],
    stage_root: StagePath,
    quarantine_root: StagePath,
    run_key: str,
    settings: Settings,
) -> list[ParsedObject]:
    """Encode each object into a staged file; returns one reference with counts per object.

    All objects are staged before the bad-line threshold is checked, so one bad object names itself and the others
    are not parsed twice on the next try.
    """
    refs: list[ParsedObject] = []
    too_bad: list[str] = []
    for described in objects:
        key = described["key"]
        log_key = parse_log_key(key)
        if log_key is None:
            raise ValueError(f"{key}: not an audit-log key")
        counts = ObjectCounts()
        try:
            opened = open_object(key)
        except ObjectMissing:
            missing = _parsed(described, log_key, None, None, counts)
            missing["missing"] = True
            refs.append(missing)
            continue
        quarantine = QuarantineFile(quarantine_root, f"{safe_name(key)}.jsonl")
        with opened as stream, quick_handoffs(), quarantine:  # reader, encoder and stage writer on two cores
            path = staged_path(stage_root, run_key, key)
            batches = line_batches(stream, key, settings.max_line_bytes)
            encoded = encode_lines(
                batches, log_key.kind, key, counts, quarantine.write, settings.include_message, settings.max_bad_ratio
            )
            try:
                write_staged(path, encoded, settings.batch_bytes)
            except TooManyBadLines as error:  # clearly past the threshold: not read to its end
                path.unlink(missing_ok=True)
                too_bad.append(f"{error} (see {quarantine.path})")
                continue
        quarantine_file = str(quarantine.path) if quarantine.count else None
        if counts.bad > settings.max_bad_ratio * max(counts.entries, 1):
            too_bad.append(f"{key}: {counts.bad} bad of {counts.entries} lines (see {quarantine_file})")
        refs.append(_parsed(described, log_key, str(path), quarantine_file, counts))
    if too_bad:
        raise TooManyBadLines(
            f"bad lines above {settings.max_bad_ratio:.2%} of an object's lines: " + "; ".join(too_bad), refs
        )
    return refs


def load_staged(
    refs: list[ParsedObject],
    target: InfluxTarget,
    open_stage: Callable[[str], StagePath],
) -> list[LoadedObject]:
    """Write each staged object, then its ledger point, then delete the staged file; returns per-object counts.

    Safe to retry or clear at any time: a staged file that exists is written (again: points rewrite in place); one that
    is gone was deleted by an earlier try after its ledger point, which the ledger confirms (nothing is written twice).
    """
    results: list[LoadedObject] = []
    with open_client(target) as client:
        for ref in refs:
            if ref.get("missing") or ref["stage"] is None:
                continue  # gone before it was read: counted by the report, nothing staged
            path = open_stage(ref["stage"])
            if not path.exists():
                written = _written_by_an_earlier_try(client, target, ref)
                results.append({"key": ref["key"], "kind": ref["kind"], "written": written, "earlier_try": True})
                continue
            written = write_batches(client, target, read_staged(path))
            record = LedgerRecord(
                object_key=ref["key"],
                kind=ref["kind"],
                logged_bucket=ref["logged_bucket"],
                key_time=datetime.fromisoformat(ref["key_time"]),
                last_modified=datetime.fromisoformat(ref["last_modified"]),
                size=ref["size"],
                entries=ref["entries"],
                points=ref["points"],
                bad=ref["bad"],
            )
            write_lines(client, target, [ledger_line(record)])
            path.unlink(missing_ok=True)
            results.append({"key": ref["key"], "kind": ref["kind"], "written": written})
    return results


def _written_by_an_earlier_try(client: InfluxClient, target: InfluxTarget, ref: ParsedObject) -> int:
    """A staged file is gone: an earlier try of this run loaded it when the ledger shows the object (its points are
    this run's writes), else only parsing again helps."""
    points = ledger_points(client, target, ref["key"], datetime.fromisoformat(ref["key_time"]))
    if points is not None:
        log.info("%s: loaded by an earlier try (the ledger shows %d points); nothing to write", ref["key"], points)
        return points
    raise StagedFileMissing(
        f"{ref['key']}: its staged file {ref['stage']} is gone and the ledger does not show the object loaded; "
        "clear this run's parse_objects task with its downstream tasks to parse it again"
    )


@dataclass(frozen=True)
class InfluxPlanLedger:
    """The plan ledger kept in the InfluxDB bucket the points go to (`lyve-pipeline` and `lyve-pipeline-plan`)."""

    target: InfluxTarget

    def past(self, start: datetime, end: datetime) -> PastPlans:
        with open_client(self.target) as client:
            return past_plans(client, self.target, start, end)

    def record(self, lines: list[bytes]) -> None:
        with open_client(self.target) as client:
            write_lines(client, self.target, lines)


def summarize(
    plan_counts: PlanCounts, parsed: Iterable[list[ParsedObject]], loaded: Iterable[list[LoadedObject]]
) -> RunSummary:
    """Per-kind counts of a run: objects listed/own/late/selected/loaded, entries parsed/bad/duplicate, points written.

    Points written count this run's writes only: an object an earlier try had loaded adds none, so the points written
    over all runs' reports equal the entries when each object is loaded once.
    """
    parsed, loaded = list(parsed), list(loaded)
    by_kind: dict[str, KindCounts] = {
        kind: {
            "objects_listed": plan_counts["listed_by_kind"].get(kind, 0),
            "objects_own": plan_counts["own_by_kind"].get(kind, 0),
            "objects_late": plan_counts["late_by_kind"].get(kind, 0),
            "objects_selected": 0,
            "objects_loaded": 0,
            "entries_parsed": 0,
            "entries_bad": 0,
            "entries_duplicate": 0,
            "points_written": 0,
        }
        for kind in KINDS
    }
    for ref in (ref for group in parsed for ref in group):
        row = by_kind[ref["kind"]]
        row["objects_selected"] += 1
        row["entries_parsed"] += ref["entries"]
        row["entries_bad"] += ref["bad"]
        row["entries_duplicate"] += ref["duplicates"]
    for result in (result for group in loaded for result in group):
        row = by_kind[result["kind"]]
        row["objects_loaded"] += 1
        row["points_written"] += result["written"]
    missing = sorted(ref["key"] for group in parsed for ref in group if ref.get("missing"))
    _warn_unrecognised(plan_counts)
    return {
        "by_kind": by_kind,
        "objects_missing": len(missing),
        "missing_keys": missing,
        "keys_not_audit_logs": plan_counts["not_audit_logs"],
        "objects_outside_interval": plan_counts["outside_interval"],
        "objects_late": plan_counts["late"],
        "unrecognised_keys": plan_counts["unrecognised"],
    }


def _warn_unrecognised(plan_counts: PlanCounts) -> None:
    """Keys that look like log objects but are not loaded are never silent: a warning per kind of key, and a loud
    one when the listing found objects but recognised none (a new key layout, or the wrong bucket)."""
    for reason, found in plan_counts["unrecognised"].items():
        log.warning("%d keys not loaded, %s; e.g. %s", found["count"], reason, ", ".join(found["examples"]))
    if plan_counts["listed"] and not sum(plan_counts["listed_by_kind"].values()):
        log.warning(
            "NO AUDIT LOG RECOGNISED: %d keys listed in the month folders, none of them an audit-log key "
            "(<Month>-<YYYY>/<Kind>-…-<yyyy-MM-dd-HH-mm-ss>.gz); nothing was loaded",
            plan_counts["listed"],
        )


def format_summary(summary: RunSummary) -> str:
    """The run's counts as a small table for the task log."""
    columns = list(next(iter(summary["by_kind"].values())).keys())
    lines = ["kind     " + " ".join(f"{column:>18}" for column in columns)]
    for kind, row in summary["by_kind"].items():
        lines.append(f"{kind:<8} " + " ".join(f"{value:>18}" for value in row.values()))
    lines.append(
        f"skipped: {summary['keys_not_audit_logs']} keys that are not audit logs, "
        f"{summary['objects_outside_interval']} objects of other intervals; "
        f"late objects taken: {summary['objects_late']}; "
        f"objects gone before they were read: {summary['objects_missing']}"
    )
    for reason, found in summary["unrecognised_keys"].items():
        lines.append(f"not loaded, {reason}: {found['count']} keys, e.g. {', '.join(found['examples'])}")
    return "\n".join(lines)
