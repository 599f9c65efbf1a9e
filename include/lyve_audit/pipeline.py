"""The three steps of an interval's run (plan, parse, load) and its report, free of Airflow.

Each step takes what it needs as plain values and callables (list a prefix, open an object, a staging path), returns
JSON-safe dicts of references and counts (what goes to XCom), and is called by a few lines of the DAG.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO, Any

from include.lyve_audit.background import quick_handoffs
from include.lyve_audit.encode import ObjectCounts, QuarantinedLine, encode_lines
from include.lyve_audit.errors import ObjectMissing, TooManyBadLines
from include.lyve_audit.influx import (
    DEFAULT_BATCH_BYTES,
    InfluxTarget,
    LedgerRecord,
    ledger_line,
    loaded_keys,
    open_client,
    write_batches,
    write_lines,
)
from include.lyve_audit.keys import (
    KINDS,
    ListedObject,
    LogKey,
    balanced_groups,
    month_folders,
    parse_log_key,
    select_objects,
)
from include.lyve_audit.parse import iter_lines
from include.lyve_audit.schema import S3_LINE_ENCODER
from include.lyve_audit.stage import StagePath, read_staged, safe_name, staged_path, write_quarantine, write_staged

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Settings:
    """Run-time settings (Airflow Variables in the DAG; defaults here)."""

    lookback: timedelta = timedelta(hours=24)
    late_margin: timedelta = timedelta(minutes=15)
    max_groups: int = 32
    include_message: bool = True
    max_bad_ratio: float = 0.01
    batch_bytes: int = DEFAULT_BATCH_BYTES


def plan_interval(
    list_prefix: Callable[[str], Iterable[ListedObject]],
    start: datetime,
    end: datetime,
    settings: Settings,
    ledger: Callable[[datetime, datetime], frozenset[str]],
) -> dict[str, Any]:
    """List the month folders the interval and its look-back touch, and group the objects to load.

    The ledger is asked only when late candidates exist, so an ordinary hour costs one listing per folder.
    """
    listed: list[ListedObject] = []
    for folder in month_folders(start - settings.lookback, end):
        listed.extend(list_prefix(folder))
    selection = select_objects(listed, start, end, settings.lookback, settings.late_margin)
    if selection.late:
        loaded = ledger(start - settings.lookback, start)
        selection = select_objects(listed, start, end, settings.lookback, settings.late_margin, loaded)
    chosen = {pair[1].key: pair[1] for pair in selection.selected}
    groups = balanced_groups([(key, obj.size) for key, obj in chosen.items()], settings.max_groups)
    return {
        "groups": [[_describe(chosen[key]) for key in group] for group in groups],
        "counts": {
            "listed": len(listed),
            "not_audit_logs": selection.not_audit_logs,
            "outside_interval": selection.outside,
            "own": len(selection.own),
            "late": len(selection.late),
            "listed_by_kind": selection.listed_by_kind,
        },
    }


def _describe(listed: ListedObject) -> dict[str, Any]:
    return {"key": listed.key, "size": listed.size, "last_modified": listed.last_modified.isoformat()}


def _key_fields(log_key: LogKey) -> dict[str, Any]:
    return {
        "kind": log_key.kind,
        "logged_bucket": log_key.logged_bucket,
        "key_time": log_key.timestamp.isoformat(),
    }


def parse_objects(
    objects: list[dict[str, Any]],
    open_object: Callable[[str], AbstractContextManager[IO[bytes]]],
    stage_root: StagePath,
    quarantine_root: StagePath,
    run_key: str,
    settings: Settings,
) -> list[dict[str, Any]]:
    """Encode each object into a staged file; returns one reference with counts per object.

    All objects are staged before the bad-line threshold is checked, so one bad object names itself and the others
    are not parsed twice on the next try.
    """
    refs: list[dict[str, Any]] = []
    too_bad: list[str] = []
    log.info("S3 API lines of the usual shape: %s encoder", S3_LINE_ENCODER)
    for described in objects:
        key = described["key"]
        log_key = parse_log_key(key)
        if log_key is None:
            raise ValueError(f"{key}: not an audit-log key")
        counts = ObjectCounts()
        quarantined: list[QuarantinedLine] = []
        try:
            opened = open_object(key)
        except ObjectMissing:
            fields = {"stage": None, "quarantine": None, "missing": True, **counts.as_dict()}
            refs.append({**described, **_key_fields(log_key), **fields})
            continue
        with opened as stream, quick_handoffs():  # reader, encoder and stage writer on two cores
            path = staged_path(stage_root, run_key, key)
            lines = iter_lines(stream, key)
            encoded = encode_lines(lines, log_key.kind, key, counts, quarantined.append, settings.include_message)
            write_staged(path, encoded, settings.batch_bytes)
        quarantine_file = None
        if quarantined:
            quarantine_root.mkdir(parents=True, exist_ok=True)
            quarantine_path = quarantine_root / f"{safe_name(key)}.jsonl"
            write_quarantine(quarantine_path, quarantined)
            quarantine_file = str(quarantine_path)
            if counts.bad > settings.max_bad_ratio * max(counts.entries, 1):
                too_bad.append(f"{key}: {counts.bad} bad of {counts.entries} lines (see {quarantine_file})")
        refs.append(
            {
                **described,
                **_key_fields(log_key),
                "stage": str(path),
                "quarantine": quarantine_file,
                **counts.as_dict(),
            }
        )
    if too_bad:
        raise TooManyBadLines(
            f"bad lines above {settings.max_bad_ratio:.2%} of an object's lines: " + "; ".join(too_bad)
        )
    return refs


def load_staged(
    refs: list[dict[str, Any]],
    target: InfluxTarget,
    open_stage: Callable[[str], StagePath],
) -> list[dict[str, Any]]:
    """Write each staged object, then its ledger point, then delete the staged file; returns per-object counts.

    The staged batches are posted as they were written (batch size and compression were settled at parse time).
    """
    results: list[dict[str, Any]] = []
    with open_client(target) as client:
        for ref in refs:
            if ref.get("missing"):
                continue  # gone before it was read: counted by the report, nothing staged
            path = open_stage(ref["stage"])
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


def ledger_reader(target: InfluxTarget) -> Callable[[datetime, datetime], frozenset[str]]:
    """A ledger look-up bound to a target, for `plan_interval`."""

    def read(start: datetime, end: datetime) -> frozenset[str]:
        with open_client(target) as client:
            return loaded_keys(client, target, start, end)

    return read


def summarize(
    plan_counts: dict[str, Any], parsed: list[list[dict[str, Any]]], loaded: list[list[dict[str, Any]]]
) -> dict[str, Any]:
    """Per-kind counts of a run: objects listed/selected/loaded, entries parsed/bad/duplicate, points written."""
    by_kind: dict[str, dict[str, int]] = {
        kind: {
            "objects_listed": plan_counts["listed_by_kind"].get(kind, 0),
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
    return {
        "by_kind": by_kind,
        "objects_missing": len(missing),
        "missing_keys": missing,
        "keys_not_audit_logs": plan_counts["not_audit_logs"],
        "objects_outside_interval": plan_counts["outside_interval"],
        "objects_late": plan_counts["late"],
    }


def format_summary(summary: dict[str, Any]) -> str:
    """The run's counts as a small table for the task log."""
    columns = list(next(iter(summary["by_kind"].values())).keys())
    lines = ["kind     " + " ".join(f"{column:>18}" for column in columns)]
    for kind, row in summary["by_kind"].items():
        lines.append(f"{kind:<8} " + " ".join(f"{row[column]:>18}" for column in columns))
    lines.append(
        f"skipped: {summary['keys_not_audit_logs']} keys that are not audit logs, "
        f"{summary['objects_outside_interval']} objects of other intervals; "
        f"late objects taken: {summary['objects_late']}; "
        f"objects gone before they were read: {summary.get('objects_missing', 0)}"
    )
    return "\n".join(lines)
