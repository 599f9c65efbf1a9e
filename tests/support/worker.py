"""A worker process for the fault tests: runs a step of an hour's run, and SIGKILLs itself at a chosen point.

`python -m tests.support.worker SPEC_JSON`, with connections and Variables in the environment (as a worker has them).
SPEC: `step` (parse | load | all), `end` (ISO end of the hour), `run_key`, `stage`, `refs` (for load), `kill_after`
(kill the process after this many staged lines (parse) or written batches (load); absent: run to the end),
`start_at` (epoch seconds to wait for, so that two workers race), `batch_bytes`. Prints the step's result as JSON.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

RESULT_MARK = b"WORKER-RESULT "  # Airflow's own log lines share stdout


def result_of(stdout: bytes) -> Any:
    """The step's result from a worker's stdout."""
    line = next(line for line in stdout.splitlines() if line.startswith(RESULT_MARK))
    return orjson.loads(line.removeprefix(RESULT_MARK))


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _kill_after_batches(limit: int) -> None:
    """Written batches are real points in InfluxDB: die right after the `limit`-th, mid-object."""
    from include.lyve_audit import influx

    original = influx.write_batch
    done = [0]

    def write_batch(client: Any, target: Any, batch: Any) -> None:
        original(client, target, batch)
        done[0] += 1
        if done[0] >= limit:
            _die()

    influx.write_batch = write_batch  # type: ignore[assignment]


def _kill_after_lines(limit: int) -> None:
    """Die while a staged file is being written, leaving it incomplete."""
    from include.lyve_audit import pipeline

    original = pipeline.write_staged
    done = [0]

    def counting(lines: Iterable[str]) -> Iterator[str]:
        for line in lines:
            yield line
            done[0] += 1
            if done[0] >= limit:
                _die()

    def write_staged(path: Any, lines: Iterable[str], batch_bytes: int) -> int:
        return original(path, counting(lines), batch_bytes)

    pipeline.write_staged = write_staged  # type: ignore[assignment]


def main(spec: dict[str, Any]) -> Any:
    from include import lyve_audit_airflow as glue
    from include.lyve_audit.pipeline import Settings, load_staged, parse_objects
    from tests.support.deployment import HOUR, run_steps

    settings = Settings(batch_bytes=int(spec.get("batch_bytes", Settings().batch_bytes)))
    if "kill_after" in spec:
        (_kill_after_lines if spec["step"] == "parse" else _kill_after_batches)(int(spec["kill_after"]))
    if "start_at" in spec:
        time.sleep(max(0.0, float(spec["start_at"]) - time.time()))
    end = datetime.fromisoformat(spec["end"])
    stage = Path(spec["stage"])
    if spec["step"] == "all":
        return run_steps(end, glue.influx_target(), stage, spec["run_key"], settings)
    if spec["step"] == "parse":
        quarantine = stage.parent / "quarantine" / (end - HOUR).strftime("%Y-%m-%dT%H")
        opener = glue.s3_opener(glue.log_bucket())
        return parse_objects(spec["objects"], opener, stage, quarantine, spec["run_key"], settings)
    return load_staged(spec["refs"], glue.influx_target(), Path)


if __name__ == "__main__":
    result = main(orjson.loads(sys.argv[1]))
    sys.stdout.buffer.write(b"\n" + RESULT_MARK + orjson.dumps(result) + b"\n")
