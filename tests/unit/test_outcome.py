"""A run's outcome record: its counts, its state from the other tasks' states, and its line protocol."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from include.lyve_audit.outcome import parse_outcome, run_line, run_record, unrecognised_count

START = datetime(2026, 2, 3, 10, tzinfo=UTC)
END = datetime(2026, 2, 3, 11, tzinfo=UTC)
FINISHED = datetime(2026, 2, 3, 11, 4, 5, 250000, tzinfo=UTC)


def test_parse_outcome_adds_up_the_objects_of_a_task() -> None:
    refs = [{"entries": 40, "bad": 1, "points": 39}, {"entries": 7, "bad": 0, "missing": True}]
    assert parse_outcome(refs) == {"objects": 2, "entries": 47, "bad": 1}
    assert parse_outcome([]) == {"objects": 0, "entries": 0, "bad": 0}


@pytest.mark.parametrize(
    ("states", "failed"),
    [
        pytest.param({"plan_objects": "success", "parse_objects_0": "success", "report": "success"}, 0, id="success"),
        pytest.param({"plan_objects": "success", "parse_objects": "skipped", "report": "success"}, 0, id="empty-hour"),
        pytest.param(
            {"parse_objects_0": "failed", "parse_objects_1": "success", "load_points": "upstream_failed"}, 2, id="bad"
        ),
    ],
)
def test_run_record_counts_failed_tasks(states: dict[str, str], failed: int) -> None:
    outcomes = [{"objects": 2, "entries": 50, "bad": 6}, None, {"objects": 1, "entries": 10, "bad": 0}]
    record = run_record((START, END), FINISHED, states, outcomes)
    assert (record.failed_tasks, record.objects, record.entries, record.bad) == (failed, 3, 60, 6)
    assert record.state == ("failed" if failed else "success")


def test_run_line_is_its_own_measurement_at_the_finish_time() -> None:
    record = run_record((START, END), FINISHED, {"parse_objects_0": "failed"}, [{"objects": 1, "entries": 9, "bad": 4}])
    assert run_line(record) == (
        b"lyve-pipeline-run,state=failed objects=1i,entries=9i,bad=4i,failed_tasks=1i,unrecognised_keys=0i,"
        b'interval_start="2026-02-03T10:00:00+00:00",interval_end="2026-02-03T11:00:00+00:00" '
        + str(int(FINISHED.timestamp()) * 10**9 + 250_000_000).encode()
    )


@pytest.mark.parametrize(
    ("plan_counts", "expected"),
    [
        pytest.param(None, 0, id="no-plan"),
        pytest.param({"listed": 3}, 0, id="earlier-plan-without-the-count"),
        pytest.param({"unrecognised": {}}, 0, id="all-recognised"),
        pytest.param(
            {
                "unrecognised": {
                    "Account: unknown kind": {"count": 4, "examples": []},
                    "S3: no logged bucket": {"count": 1},
                }
            },
            5,
            id="two-reasons",
        ),
    ],
)
def test_unrecognised_count_adds_up_the_plans_reasons(plan_counts: dict[str, object] | None, expected: int) -> None:
    assert unrecognised_count(plan_counts) == expected


def test_run_line_carries_the_unrecognised_keys() -> None:
    record = run_record((START, END), FINISHED, {}, [], unrecognised=7)
    assert b",unrecognised_keys=7i," in run_line(record)
