"""One isolated deployment for end-to-end tests (its own log bucket, InfluxDB database, staging folder), and the
run's steps called directly (plan → parse → load → report, as the DAG wires them) for tests that need to interrupt,
repeat or race a step, which `dag.test()` cannot.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from include.lyve_audit.demo import GeneratedObject
from include.lyve_audit.influx import InfluxTarget
from include.lyve_audit.keys import CONSOLE, IAM, S3, parse_log_key
from include.lyve_audit.pipeline import (
    InfluxPlanLedger,
    Settings,
    load_staged,
    parse_objects,
    plan_interval,
    summarize,
)
from include.lyve_audit.schema import MEASUREMENTS
from tests.support.influx_engine import InfluxEngine
from tests.support.pipeline_env import run_interval

HOUR = timedelta(hours=1)


def run_steps(
    end: datetime,
    target: InfluxTarget,
    stage: Path,
    run_key: str,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Run the hour ending at `end` step by step through the Airflow glue (S3Hook, connections from the environment).

    Stage and quarantine folders are laid out as the DAG lays them out (quarantine is the stage's sibling).
    """
    from include import lyve_audit_airflow as glue

    settings = settings or Settings()
    start = end - HOUR
    bucket = glue.log_bucket()
    plan = plan_interval(glue.s3_lister(bucket), start, end, settings, InfluxPlanLedger(target), run_key)
    quarantine = stage.parent / "quarantine" / start.strftime("%Y-%m-%dT%H%M")
    parsed = [
        parse_objects(group, glue.s3_opener(bucket), stage, quarantine, run_key, settings) for group in plan["groups"]
    ]
    loaded = [load_staged(refs, target, Path) for refs in parsed]
    return summarize(plan["counts"], parsed, loaded)


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

    def run(self, interval_end: datetime) -> Any:
        run = run_interval(interval_end)
        assert run.state == "success", f"run for the hour ending {interval_end} ended {run.state}"
        return run

    def steps(self, end: datetime, settings: Settings | None = None, run_key: str = "manual__steps") -> dict[str, Any]:
        return run_steps(end, self.target, self.stage, run_key, settings)

    def put(self, key: str, lines: Iterable[bytes] | None = None, body: bytes | None = None) -> None:
        """Upload an object: gzip'd LF-joined lines, or a raw body."""
        if body is None:
            body = gzip.compress(b"".join(line + b"\n" for line in lines or []))
        self.s3.put_object(Bucket=self.log_bucket, Key=key, Body=body)

    def quarantined(self) -> list[dict[str, Any]]:
        """Every quarantine record, in (object, line) order."""
        records = [
            orjson.loads(line)
            for path in (self.stage.parent / "quarantine").rglob("*.jsonl")
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
