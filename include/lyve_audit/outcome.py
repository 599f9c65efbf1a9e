"""Each run's outcome as its own point, so alerts can tell "the pipeline stopped" from "a bucket was quiet".

Ledger points (`lyve-pipeline`) exist only for loaded objects, at their key time: an empty hour writes none and an
object failed by the bad-line threshold never reaches the ledger. The run record (`lyve-pipeline-run`) is written at
the end of every run, whatever its outcome, at the time it finished: tag `state` (success / failed), fields
`objects`, `entries` (lines read), `bad`, `failed_tasks`, `interval_start`, `interval_end`. It is a separate
measurement, so `loaded_keys` and the ledger panels never read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from include.lyve_audit.contracts import ParsedObject, ParseOutcome, PlanCounts
from include.lyve_audit.influx import InfluxTarget, open_client, write_lines
from include.lyve_audit.lineproto import escape_field_string, tag_set

RUN_MEASUREMENT = "lyve-pipeline-run"
FAILED_STATES = frozenset({"failed", "upstream_failed"})


@dataclass(frozen=True, slots=True)
class RunRecord:
    """What one run did: its interval, when it finished, whether it failed, and the lines its objects held."""

    interval_start: datetime
    interval_end: datetime
    finished: datetime
    failed_tasks: int
    objects: int
    entries: int
    bad: int
    unrecognised: int = 0

    @property
    def state(self) -> str:
        return "failed" if self.failed_tasks else "success"


def parse_outcome(refs: Iterable[ParsedObject]) -> ParseOutcome:
    """Counts of one parse task's objects (pushed as XCom even when the task fails on bad lines)."""
    counts: ParseOutcome = {"objects": 0, "entries": 0, "bad": 0}
    for ref in refs:
        counts["objects"] += 1
        counts["entries"] += ref["entries"]
        counts["bad"] += ref["bad"]
    return counts


def unrecognised_count(plan_counts: PlanCounts | None) -> int:
    """Keys of the plan's listing that look like log objects but are not recognised (`keys.unrecognised_keys`).

    0 when the plan failed before counting, or was made by a version that did not count them (a run in flight while
    the DAG is upgraded): the run record must be written whatever the plan was.
    """
    if plan_counts is None:
        return 0
    return sum(found["count"] for found in plan_counts.get("unrecognised", {}).values())


def run_record(
    interval: tuple[datetime, datetime],
    finished: datetime,
    task_states: Mapping[str, str | None],
    outcomes: Iterable[ParseOutcome | None],
    unrecognised: int = 0,
) -> RunRecord:
    """The record of a run from its task states (this task's own excluded) and the parse tasks' outcomes."""
    counted = [outcome for outcome in outcomes if outcome is not None]  # None: a parse task that failed early
    failed = sum(1 for state in task_states.values() if state in FAILED_STATES)
    return RunRecord(
        interval[0],
        interval[1],
        finished,
        failed,
        objects=sum(outcome["objects"] for outcome in counted),
        entries=sum(outcome["entries"] for outcome in counted),
        bad=sum(outcome["bad"] for outcome in counted),
        unrecognised=unrecognised,
    )


def run_line(record: RunRecord) -> bytes:
    """The run's point, at the time it finished (two runs never share a nanosecond, so never a point)."""
    fields = ",".join(
        [
            f"objects={record.objects}i",
            f"entries={record.entries}i",
            f"bad={record.bad}i",
            f"failed_tasks={record.failed_tasks}i",
            f"unrecognised_keys={record.unrecognised}i",
            f"interval_start={escape_field_string(record.interval_start.isoformat())}",
            f"interval_end={escape_field_string(record.interval_end.isoformat())}",
        ]
    )
    time_ns = int(record.finished.timestamp()) * 1_000_000_000 + record.finished.microsecond * 1000
    return f"{RUN_MEASUREMENT}{tag_set([('state', record.state)])} {fields} {time_ns}".encode()


def write_run_record(target: InfluxTarget, record: RunRecord) -> None:
    with open_client(target) as client:
        write_lines(client, target, [run_line(record)])
