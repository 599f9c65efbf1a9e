"""The DAG imports cleanly and is wired as designed; the core package stays free of Airflow."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pendulum
import pytest
from airflow.models import DagBag

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dag_bag() -> DagBag:
    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors(dag_bag: DagBag) -> None:
    assert dag_bag.import_errors == {}
    assert set(dag_bag.dag_ids) == {"lyve_audit_logs"}


def test_hourly_intervals_with_catchup(dag_bag: DagBag) -> None:
    from airflow.sdk import CronDataIntervalTimetable

    dag = dag_bag.dags["lyve_audit_logs"]
    assert isinstance(dag.timetable, CronDataIntervalTimetable)
    assert dag.catchup is True
    assert (dag.timetable.expression, str(dag.timetable.timezone)) == ("0 * * * *", "UTC")
    from airflow.timetables.interval import CronDataIntervalTimetable as SchedulerTimetable

    scheduled = SchedulerTimetable(dag.timetable.expression, dag.timetable.timezone)
    interval = scheduled.infer_manual_data_interval(run_after=pendulum.datetime(2026, 1, 10, 13, 30, tz="UTC"))
    assert (interval.start, interval.end) == (
        datetime(2026, 1, 10, 12, tzinfo=UTC),
        datetime(2026, 1, 10, 13, tzinfo=UTC),
    )
    assert interval.end - interval.start == timedelta(hours=1)
    assert 1 <= dag.max_active_runs <= 16
    assert dag.tags and dag.doc_md


def test_tasks_retry_with_backoff_and_load_declares_the_asset(dag_bag: DagBag) -> None:
    dag = dag_bag.dags["lyve_audit_logs"]
    assert [task.task_id for task in dag.tasks] == [
        "plan_objects",
        "parse_objects",
        "load_points",
        "report",
        "record_run",
    ]
    for task in dag.tasks:
        assert task.retries >= 2, task.task_id
        assert task.retry_exponential_backoff, task.task_id
    load = dag.get_task("load_points")
    assert [outlet.uri for outlet in load.outlets] == ["influxdb://influxdb_default/lyve-audit"]
    assert dag.get_task("parse_objects").upstream_task_ids == {"plan_objects"}
    assert dag.get_task("load_points").upstream_task_ids == {"parse_objects"}
    # The run's outcome is recorded whatever happened; as the only leaf, record_run re-fails a failed run.
    record = dag.get_task("record_run")
    assert record.trigger_rule == "all_done" and record.upstream_task_ids == {"report"}
    assert [task.task_id for task in dag.tasks if not task.downstream_task_ids] == ["record_run"]


def test_report_takes_the_plan_counts_as_an_argument(dag_bag: DagBag) -> None:
    """The plan's counts reach the report through the wiring (the XCom of key `counts`), not an xcom_pull inside it."""
    from airflow.sdk.definitions.xcom_arg import PlainXComArg

    report = dag_bag.dags["lyve_audit_logs"].get_task("report")
    assert report.upstream_task_ids == {"plan_objects", "parse_objects", "load_points"}
    counts = report.op_args[0]
    assert isinstance(counts, PlainXComArg)
    assert (counts.operator.task_id, counts.key) == ("plan_objects", "counts")
    source = (ROOT / "dags" / "lyve_audit_logs.py").read_text()
    assert source.count('task_ids="plan_objects"') == 1, "only record_run pulls (it runs after failed tasks too)"


def test_core_package_does_not_import_airflow() -> None:
    for path in (ROOT / "include" / "lyve_audit").glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(name.split(".")[0] == "airflow" for name in names), f"{path.name} imports {names}"


def test_dag_file_does_no_work_at_parse_time() -> None:
    source = (ROOT / "dags" / "lyve_audit_logs.py").read_text()
    tree = ast.parse(source)
    top_level_imports = {node.module for node in tree.body if isinstance(node, ast.ImportFrom) and node.module} | {
        alias.name for node in tree.body if isinstance(node, ast.Import) for alias in node.names
    }
    # Only the schedule settings (stdlib only) are read at parse time; everything else is imported inside tasks.
    parse_time = {name for name in top_level_imports if name.startswith("include")}
    assert parse_time <= {"include.lyve_audit"}, "import the package inside tasks"
    assert "from include.lyve_audit import schedule" in source
    assert "Variable.get" not in source and "get_connection" not in source
