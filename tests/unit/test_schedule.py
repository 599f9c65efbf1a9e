"""The DAG's schedule settings: interval length, the required start date, interval names and manual intervals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from airflow.models import DagBag

from include.lyve_audit.errors import SettingError
from include.lyve_audit.schedule import cron, interval_label, interval_minutes, manual_interval, start_date
from tests.conftest import ROOT


@pytest.mark.parametrize(
    ("raw", "minutes", "expression"),
    [
        pytest.param(None, 60, "0 * * * *", id="default-hourly"),
        pytest.param("15", 15, "*/15 * * * *", id="quarter-hours"),
        pytest.param("5", 5, "*/5 * * * *", id="five-minutes"),
    ],
)
def test_interval_minutes(raw: str | None, minutes: int, expression: str) -> None:
    environ = {} if raw is None else {"LYVE_AUDIT_INTERVAL_MINUTES": raw}
    assert interval_minutes(environ) == minutes
    assert cron(minutes) == expression


@pytest.mark.parametrize("raw", [pytest.param("7", id="not-a-divisor"), pytest.param("1h", id="not-a-number")])
def test_an_interval_that_does_not_divide_the_hour_is_refused(raw: str) -> None:
    with pytest.raises(SettingError, match=r"LYVE_AUDIT_INTERVAL_MINUTES=.*one of 5, 10, 15, 20, 30, 60"):
        interval_minutes({"LYVE_AUDIT_INTERVAL_MINUTES": raw})


def test_start_date_is_required_and_says_what_to_set() -> None:
    with pytest.raises(SettingError, match=r"LYVE_AUDIT_START_DATE is not set.*LYVE_AUDIT_START_DATE=2026-12-01T00"):
        start_date({})
    with pytest.raises(SettingError, match="not an ISO time"):
        start_date({"LYVE_AUDIT_START_DATE": "yesterday"})
    assert start_date({"LYVE_AUDIT_START_DATE": "2026-11-01T00:00:00Z"}) == datetime(2026, 11, 1, tzinfo=UTC)
    assert start_date({"LYVE_AUDIT_START_DATE": "2026-11-01T02:00:00+02:00"}) == datetime(2026, 11, 1, tzinfo=UTC)


def test_the_dag_without_a_start_date_is_an_import_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LYVE_AUDIT_START_DATE", raising=False)
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert list(bag.import_errors.values()) and "LYVE_AUDIT_START_DATE is not set" in next(
        iter(bag.import_errors.values())
    )


def test_the_dag_runs_every_15_minutes_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LYVE_AUDIT_INTERVAL_MINUTES", "15")
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    assert bag.dags["lyve_audit_logs"].timetable.expression == "*/15 * * * *"


def test_interval_labels_name_the_interval() -> None:
    assert interval_label(datetime(2026, 1, 31, 23, 45, tzinfo=UTC), 15) == "2026-01-31T2345Z-15m"
    assert interval_label(datetime(2026, 1, 31, 23, tzinfo=UTC), 60) == "2026-01-31T2300Z-60m"


def test_manual_interval_must_start_an_interval() -> None:
    assert manual_interval("2026-12-01T15:30:00Z", 15) == (
        datetime(2026, 12, 1, 15, 30, tzinfo=UTC),
        datetime(2026, 12, 1, 15, 45, tzinfo=UTC),
    )
    with pytest.raises(SettingError, match="does not start a 60-minute interval"):
        manual_interval("2026-12-01T15:30:00Z", 60)
    with pytest.raises(SettingError, match="not an ISO time"):
        manual_interval("15h", 60)
