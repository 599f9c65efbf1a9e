"""What the DAG's tasks pass each other through XCom, as named, JSON-safe shapes.

plan_objects → `Plan` (`groups` mapped over parse_objects, `counts` to report and record_run); parse_objects →
`list[ParsedObject]` (and its `ParseOutcome` under the XCom key `outcome`); load_points → `list[LoadedObject]`;
report → `RunSummary`; record_run → `RunResult`. Times are ISO strings, since XCom stores JSON.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict


class ObjectRef(TypedDict):
    """A listed object chosen for the run: what parse needs to read it and the ledger to record it."""

    key: str
    size: int
    last_modified: str


class UnrecognisedKeys(TypedDict):
    """Keys of one `<prefix>: <reason>` that look like log objects but are not loaded."""

    count: int
    examples: list[str]


class PlanCounts(TypedDict):
    """What the plan's listing held and what it chose, for the report and the run record."""

    listed: int
    not_audit_logs: int
    outside_interval: int
    own: int
    late: int
    listed_by_kind: dict[str, int]
    own_by_kind: dict[str, int]
    late_by_kind: dict[str, int]
    unrecognised: dict[str, UnrecognisedKeys]


class Plan(TypedDict):
    """plan_objects' result: one group of objects per parse/load task pair, and the counts."""

    groups: list[list[ObjectRef]]
    counts: PlanCounts


class ParsedObject(ObjectRef):
    """One object after parsing: where its points are staged (None: nothing staged), its quarantine file, its counts."""

    kind: str
    logged_bucket: str | None  # None: Console logs name no bucket
    key_time: str
    stage: str | None
    quarantine: str | None
    entries: int
    points: int
    bad: int
    duplicates: int
    moved: int
    missing: NotRequired[bool]  # listed, but gone when read: counted by the report, nothing staged or loaded


class ParseOutcome(TypedDict):
    """One parse task's totals, pushed even when it fails on bad lines, for the run record."""

    objects: int
    entries: int
    bad: int


class LoadedObject(TypedDict):
    """One object written by load_points: its points written by this try (those of an earlier try: `earlier_try`)."""

    key: str
    kind: str
    written: int
    earlier_try: NotRequired[bool]


class KindCounts(TypedDict):
    """A log kind's row of the run's report."""

    objects_listed: int
    objects_own: int
    objects_late: int
    objects_selected: int
    objects_loaded: int
    entries_parsed: int
    entries_bad: int
    entries_duplicate: int
    points_written: int


class RunSummary(TypedDict):
    """report's result: per-kind counts and what was skipped, missing or not recognised."""

    by_kind: dict[str, KindCounts]
    objects_missing: int
    missing_keys: list[str]
    keys_not_audit_logs: int
    objects_outside_interval: int
    objects_late: int
    unrecognised_keys: dict[str, UnrecognisedKeys]


class RunResult(TypedDict):
    """record_run's result: the run's recorded state and totals."""

    state: str
    objects: int
    entries: int
    bad: int
