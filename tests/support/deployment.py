"""One isolated deployment for end-to-end tests: its own log bucket, InfluxDB database and staging folder, and what
its runs left there (points, ledger, quarantine, staged files). Runs are the DAG's own (`dag.test()`).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from include.lyve_audit.demo import GeneratedObject
from include.lyve_audit.influx import InfluxTarget
from include.lyve_audit.keys import CONSOLE, IAM, S3, parse_log_key
from include.lyve_audit.schema import MEASUREMENTS
from include.lyve_audit.stage import default_quarantine_root
from tests.support.influx_engine import InfluxEngine
from tests.support.pipeline_env import airflow_variables, report_of, run_interval

if TYPE_CHECKING:
    from airflow.models import DagRun

    from include.lyve_audit.contracts import RunSummary


@dataclass
class Deployment:
    """One isolated deployment: its own log bucket, InfluxDB database and staging folder."""

    engine: InfluxEngine
    s3: Any
    log_bucket: str
    database: str
    stage: Path
    target: InfluxTarget

    def counts(self) -> dict[str, int]:
        return {kind: self.engine.count(measurement, self.database) for kind, measurement in MEASUREMENTS.items()}

    def ledger_keys(self) -> list[str]:
        return sorted(row["object"] for row in self.engine.rows('SELECT "object" FROM "lyve-pipeline"', self.database))

    def rows(self, measurement: str, fields: str = "*") -> list[dict[str, Any]]:
        return self.engine.rows(f'SELECT {fields} FROM "{measurement}"', self.database)

    def run(self, interval_end: datetime, variables: Mapping[str, str] | None = None) -> DagRun:
        """The DAG's run of the hour ending at `interval_end` (with these Airflow Variables set), which must succeed."""
        with airflow_variables(variables):
            run = run_interval(interval_end)
        assert run.state == "success", f"run for the hour ending {interval_end} ended {run.state}"
        return run

    def report(self, interval_end: datetime, variables: Mapping[str, str] | None = None) -> RunSummary:
        """`run`, returning what its report task returned."""
        return report_of(self.run(interval_end, variables))

    def put(self, key: str, lines: Iterable[bytes] | None = None, body: bytes | None = None) -> None:
        """Upload an object: gzip'd LF-joined lines, or a raw body."""
        if body is None:
            body = gzip.compress(b"".join(line + b"\n" for line in lines or []))
        self.s3.put_object(Bucket=self.log_bucket, Key=key, Body=body)

    def quarantined(self) -> list[dict[str, Any]]:
        """Every quarantine record, in (object, line) order."""
        records = [
            orjson.loads(line)
            for path in default_quarantine_root(self.stage).rglob("*.jsonl")
            for line in path.read_bytes().splitlines()
        ]
        return sorted(records, key=lambda record: (record["object_key"], record["line"]))

    def staged_left(self) -> list[Path]:
        return sorted(self.stage.rglob("*.lpb"))


def entries_by_kind(objects: list[GeneratedObject]) -> dict[str, int]:
    """Entries per log kind of generated objects: what the points read back must equal."""
    totals = dict.fromkeys((S3, IAM, CONSOLE), 0)
    for generated in objects:
        log_key = parse_log_key(generated.key)
        assert log_key is not None
        totals[log_key.kind] += len(generated.entries)
    return totals
