"""The DAG run (`dag.test()`) in a process of its own, SIGKILLed at a chosen point: a worker dying mid-task.

`python -m tests.support.dag_process SPEC_JSON`, with connections and Variables in the environment (as a worker has
them). SPEC: `interval_end` (ISO: the scheduler's run of that hour) or `interval_start` (a manual run, with an optional
`logical_date` of its own: see `pipeline_env.run_manual`); `kill` (`parse`: after `kill_after` lines staged, leaving a
staged file incomplete; `load`: after `kill_after` write requests, points partly written); `start_at` (epoch seconds
to wait for, so that two processes race). The tasks, their order and what they pass each other are the DAG's own;
only the kill point (`kill_points`) is added. Prints the run's state and its report (when it has one) as JSON.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from typing import Any

import orjson

RESULT_MARK = b"DAG-PROCESS-RESULT "  # Airflow's own log lines share stdout


def result_of(stdout: bytes) -> Any:
    """The run's state and report from the process's stdout."""
    line = next(line for line in stdout.splitlines() if line.startswith(RESULT_MARK))
    return orjson.loads(line.removeprefix(RESULT_MARK))


def main(spec: dict[str, Any]) -> dict[str, Any]:
    from tests.support.kill_points import install
    from tests.support.pipeline_env import report_of, run_interval, run_manual

    if "kill" in spec:
        install({spec["kill"]: {"after": spec["kill_after"]}})
    if "start_at" in spec:
        time.sleep(max(0.0, float(spec["start_at"]) - time.time()))
    if "interval_end" in spec:
        run = run_interval(datetime.fromisoformat(spec["interval_end"]))
    else:
        logical_date = datetime.fromisoformat(spec["logical_date"]) if spec.get("logical_date") else None
        run = run_manual(datetime.fromisoformat(spec["interval_start"]), logical_date)
    return {"run_id": run.run_id, "state": str(run.state), "report": report_of(run) if run.state == "success" else None}


if __name__ == "__main__":
    result = main(orjson.loads(sys.argv[1]))
    sys.stdout.buffer.write(b"\n" + RESULT_MARK + orjson.dumps(result) + b"\n")
