"""Child process of the benchmark: parse + encode + stage one local object, then report peak RSS as JSON.

Run as `python -m bench.rss OBJECT STAGE_DIR KEY [all-bad]` in a fresh interpreter, so the figure is this object's
alone.
"""

from __future__ import annotations

import resource
import sys
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import IO

import orjson

from include.lyve_audit.pipeline import Settings, parse_objects


def high_water_kb() -> int:
    """Peak RSS of this process image: VmHWM, not ru_maxrss, which inherits the parent's peak through vfork + exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(source: Path, stage: Path, key: str, all_bad: bool) -> None:
    def open_object(_key: str) -> AbstractContextManager[IO[bytes]]:
        return source.open("rb")

    described = [{"key": key, "size": source.stat().st_size, "last_modified": "2026-11-20T10:20:00+00:00"}]
    started = time.perf_counter()
    settings = Settings(max_bad_ratio=1.0) if all_bad else Settings()  # an all-bad object is read to its end
    refs = parse_objects(described, open_object, stage / "stage", stage / "quarantine", "rss", settings)
    seconds = time.perf_counter() - started
    peak_kb = high_water_kb()
    for ref in refs:
        Path(ref["stage"]).unlink(missing_ok=True)
    ref = refs[0]
    report = {"peak_rss_mb": peak_kb / 1024, "entries": ref["entries"], "points": ref["points"], "bad": ref["bad"]}
    report["s"] = seconds
    if ref["quarantine"]:
        Path(ref["quarantine"]).unlink()
    sys.stdout.write(orjson.dumps(report).decode() + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4:] == ["all-bad"])
