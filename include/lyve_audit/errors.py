"""The pipeline's classes of error, in one place: what a retry can fix and what it cannot.

The Airflow glue fails a task at once on a `PermanentError` (its message names what to fix) and lets Airflow retry
everything else with backoff: timeouts, refused connections, S3 SlowDown, InfluxDB 429/5xx that outlast the client's
own retries.
"""

from __future__ import annotations

from include.lyve_audit.contracts import ParsedObject


class PermanentError(Exception):
    """No retry can fix this: the task fails at once, and the message says what to change."""


class DestinationError(PermanentError):
    """InfluxDB refused the request for a reason retrying cannot fix (token, bucket, org, rejected lines)."""


class PartialWrite(DestinationError):
    """InfluxDB kept some lines of a write and rejected others (`rejected`: the lines, or the server's words for them).

    Rewriting the batch rewrites the kept points unchanged and is rejected again, so no retry can fix it.
    """

    def __init__(self, message: str, rejected: list[str]) -> None:
        super().__init__(message)
        self.rejected = rejected


class SourceError(PermanentError):
    """The log store refused access in a way no retry can fix (denied, unknown bucket); names bucket and key."""


class TooManyBadLines(PermanentError):
    """An object's share of bad lines is above the threshold: its data is suspect, so the run stops.

    `refs` are the parse task's per-object counts, so the run's outcome record still counts its lines.
    """

    def __init__(self, message: str, refs: list[ParsedObject] | None = None) -> None:
        super().__init__(message)
        self.refs = refs or []


class StagedFileMissing(PermanentError):
    """A load found neither its staged file nor its object in the ledger: only parsing the object again helps."""


class DestinationUnavailable(Exception):
    """InfluxDB was unreachable or overloaded (429/5xx) beyond the client's retries: the task retries later."""


class ObjectMissing(Exception):
    """A listed object was gone when it was read (deleted or moved): nothing to load, so it is counted, not fatal."""


class SettingError(PermanentError):
    """A setting of the DAG is missing or wrong: the message names it and shows a valid value."""
