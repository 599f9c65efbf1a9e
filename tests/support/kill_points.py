"""Kill points: SIGKILL the process at a chosen point of a task, as a worker dies (OOM killer, lost machine).

Installed by patching the pipeline's module globals in the process that runs the task: `dag_process` (a `dag.test()`
in a process of its own) or, for a real scheduler's task processes, `kill_site/sitecustomize.py`. With a `marker`
path, a point fires once across processes (the marker is created before dying), so the task's retry runs through.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def _die(marker: Path | None) -> None:
    if marker is not None:
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return  # fired already, in an earlier try
    os.kill(os.getpid(), signal.SIGKILL)


def kill_after_write_requests(limit: int, marker: Path | None = None) -> None:
    """Written batches are real points in InfluxDB: die right after the `limit`-th write request, mid-object."""
    from include.lyve_audit import influx

    original = influx.write_batch
    done = [0]

    def write_batch(client: Any, target: Any, batch: Any) -> None:
        original(client, target, batch)
        done[0] += 1
        if done[0] == limit:
            _die(marker)

    influx.write_batch = write_batch  # type: ignore[assignment]


def kill_after_staged_lines(limit: int, marker: Path | None = None) -> None:
    """Die while a staged file is being written, leaving it incomplete."""
    from include.lyve_audit import pipeline

    original = pipeline.write_staged
    done = [0]

    def counting(lines: Iterable[str]) -> Iterator[str]:
        for line in lines:
            yield line
            done[0] += 1
            if done[0] == limit:
                _die(marker)

    def write_staged(path: Any, lines: Iterable[str], batch_bytes: int) -> int:
        return original(path, counting(lines), batch_bytes)

    pipeline.write_staged = write_staged  # type: ignore[assignment]


KILL_POINTS = {"parse": kill_after_staged_lines, "load": kill_after_write_requests}
"""By the task they hit: parse_objects stages lines, load_points sends write requests."""


def install(points: dict[str, Any]) -> None:
    """`{"parse" | "load": {"after": N, "marker": path or None}}`."""
    for task, point in points.items():
        marker = Path(point["marker"]) if point.get("marker") else None
        KILL_POINTS[task](int(point["after"]), marker)
