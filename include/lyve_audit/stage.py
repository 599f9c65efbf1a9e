"""The parse → load hand-off: write-ready gzip'd batches staged under a path (local, or `s3://` for many workers).

Paths are anything shaped like `pathlib.Path` (Airflow's `ObjectStoragePath` is), so this module needs no Airflow.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import IO, Protocol, Self

import orjson

from include.lyve_audit.background import Background
from include.lyve_audit.encode import QuarantinedLine
from include.lyve_audit.influx import GzippedBatch, byte_batches
from include.lyve_audit.schedule import interval_label

_FRAME = struct.Struct(">4s?II")
"""A staged file (`.lpb`, line-protocol batches) is a run of frames: this header (magic, escaped, points, size), then
`size` gzip'd bytes, one complete gzip member: the body of one write request."""
_MAGIC = b"LYB1"


class StageError(Exception):
    """A staged file is damaged (cut short or not ours): parse the object again."""


class StagePath(Protocol):
    """The part of the pathlib interface staging uses."""

    def __truediv__(self, other: str) -> Self: ...

    @property
    def parent(self) -> Self: ...

    def open(self, mode: str = "r") -> IO[bytes]: ...

    def unlink(self, missing_ok: bool = False) -> None: ...

    def mkdir(self, mode: int = 0o777, parents: bool = False, exist_ok: bool = False) -> None: ...

    def exists(self) -> bool: ...

    def iterdir(self) -> Iterator[Self]: ...

    def rmdir(self) -> None: ...


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """A file name that identifies `text` (readable part plus a digest, so distinct texts never share a name)."""
    digest = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:12]
    return f"{_UNSAFE.sub('_', text)[-80:]}.{digest}"


def staged_path(root: StagePath, run_key: str, object_key: str) -> StagePath:
    """Where the line protocol of `object_key` is staged for the run `run_key` (each run has its own folder)."""
    folder = root / safe_name(run_key)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{safe_name(object_key)}.lpb"


def default_quarantine_root(stage_root: StagePath) -> StagePath:
    """Where bad lines are kept unless configured: `quarantine`, beside the staging folder (kept when staging is
    cleaned up, and on the same storage)."""
    return stage_root.parent / "quarantine"


def quarantine_folder(root: StagePath, start: datetime, minutes: int) -> StagePath:
    """The folder of one interval's quarantined lines, named by the interval (`2026-01-31T2200Z-60m`): every run of
    the interval writes there, one file per object, so a rerun replaces its files instead of adding some."""
    return root / interval_label(start, minutes)


def remove_run_stage(root: StagePath, run_key: str) -> int:
    """Delete what is left in a finished run's staging folder (files of earlier tries); returns how many files."""
    folder = root / safe_name(run_key)
    if not folder.exists():
        return 0
    removed = 0
    for path in folder.iterdir():
        path.unlink(missing_ok=True)
        removed += 1
    try:
        folder.rmdir()
    except OSError:  # object stores have no folders to remove, or another try is staging into it again
        pass
    return removed


def write_staged(path: StagePath, lines: Iterable[str], batch_bytes: int) -> int:
    """Stream points into `path` as write-ready gzip'd batches of about `batch_bytes`; returns the number of points.

    Batching and compression happen here, once: loading then posts the staged bytes as they are, leaving the CPU to
    InfluxDB. A background thread compresses and writes each batch (zlib and file writes release the GIL) while the
    next one is encoded, so memory stays about three batches.
    """

    def write(batch: list[str]) -> None:
        staged = GzippedBatch.of_text(batch)
        out.write(_FRAME.pack(_MAGIC, staged.escaped, staged.points, len(staged.body)) + staged.body)

    count = 0
    with path.open("wb") as out, Background(write, name="lyve-stage-writer") as writer:
        for batch in byte_batches(lines, batch_bytes):
            writer.put(batch)
            count += len(batch)
    return count


def read_staged(path: StagePath) -> Iterator[GzippedBatch]:
    """Stream the batches of a staged file back, as they were written."""
    with path.open("rb") as staged:
        while header := staged.read(_FRAME.size):
            if len(header) < _FRAME.size or header[:4] != _MAGIC:
                raise StageError(f"{path}: damaged staged file (header of {len(header)} bytes)")
            _, escaped, points, size = _FRAME.unpack(header)
            body = staged.read(size)
            if len(body) != size:
                raise StageError(f"{path}: damaged staged file (a batch cut at {len(body)} of {size} bytes)")
            yield GzippedBatch(points, body, escaped)


class QuarantineFile:
    """Quarantined lines of one object written as JSON lines as they are found (nothing held for the object); the
    file is created with the first record, so a clean object leaves none."""

    def __init__(self, root: StagePath, name: str) -> None:
        self.root, self.path = root, root / name
        self.count = 0
        self._out: IO[bytes] | None = None

    def write(self, record: QuarantinedLine) -> None:
        if self._out is None:
            self.root.mkdir(parents=True, exist_ok=True)
            self._out = self.path.open("wb")
        self._out.write(orjson.dumps(record.as_dict()) + b"\n")
        self.count += 1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._out is not None:
            self._out.close()
