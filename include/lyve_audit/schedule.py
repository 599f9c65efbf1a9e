"""The DAG's schedule from its environment: interval length, first interval, and how an interval is named.

Read when the DAG file is parsed (a schedule cannot come from Variables read at run time), so a wrong or missing
value is an import error that names the setting to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from include.lyve_audit.errors import SettingError

START_DATE_ENV = "LYVE_AUDIT_START_DATE"
INTERVAL_ENV = "LYVE_AUDIT_INTERVAL_MINUTES"
INTERVAL_CHOICES = (5, 10, 15, 20, 30, 60)
"""Divisors of an hour, so that every interval lies inside one hour and intervals line up with the clock."""


def interval_minutes(environ: Mapping[str, str]) -> int:
    """`LYVE_AUDIT_INTERVAL_MINUTES` (default 60), one of `INTERVAL_CHOICES`."""
    raw = environ.get(INTERVAL_ENV, "60").strip() or "60"
    if not raw.isdigit() or int(raw) not in INTERVAL_CHOICES:
        choices = ", ".join(map(str, INTERVAL_CHOICES))
        raise SettingError(f"{INTERVAL_ENV}={raw!r}: the interval must be one of {choices} minutes")
    return int(raw)


def cron(minutes: int) -> str:
    """The cron expression whose runs start every `minutes` on the clock."""
    return "0 * * * *" if minutes == 60 else f"*/{minutes} * * * *"


def start_date(environ: Mapping[str, str]) -> datetime:
    """`LYVE_AUDIT_START_DATE`, required: the first interval to load (catch-up starts there), as an aware UTC time.

    Required rather than defaulted: a fixed default means weeks of empty catch-up on a fresh install, and a default
    that moves with the clock would skip the hours a lagging deployment has not run yet.
    """
    raw = environ.get(START_DATE_ENV, "").strip()
    example = "LYVE_AUDIT_START_DATE=2026-12-01T00:00:00Z"
    if not raw:
        raise SettingError(
            f"{START_DATE_ENV} is not set: set it to the first hour to load in UTC, e.g. {example} "
            "(a deployment that already runs keeps its history: set the date it started from)"
        )
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise SettingError(f"{START_DATE_ENV}={raw!r} is not an ISO time, e.g. {example}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def interval_label(start: datetime, minutes: int) -> str:
    """The name of the interval starting at `start` (quarantine folders): its start to the minute, and its length."""
    return f"{start.astimezone(UTC):%Y-%m-%dT%H%M}Z-{minutes}m"


def manual_interval(requested: str, minutes: int) -> tuple[datetime, datetime]:
    """The interval a manual run asked for by its start (`interval_start` param), checked against the schedule."""
    try:
        start = datetime.fromisoformat(requested.strip().replace("Z", "+00:00"))
    except ValueError:
        raise SettingError(f"interval_start={requested!r} is not an ISO time, e.g. 2026-12-01T15:00:00Z") from None
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    start = start.astimezone(UTC)
    if start.second or start.microsecond or start.minute % minutes:
        raise SettingError(f"interval_start={requested!r} does not start a {minutes}-minute interval")
    return start, start + timedelta(minutes=minutes)
