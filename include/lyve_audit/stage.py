"""The parse → load hand-off: line protocol staged as gzip files under a path (local, or `s3://` for many workers).

Paths are anything shaped like `pathlib.Path` (Airflow's `ObjectStoragePath` is), so this module needs no Airflow.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from collections.abc import Iterable, Iterator
from typing import IO, Protocol, Self

import orjson

from include.lyve_audit.encode import QuarantinedLine

STAGE_GZIP_LEVEL = 1


class StagePath(Protocol):
    """The part of the pathlib interface staging uses."""

    def __truediv__(self, other: str) -> Self: ...

    def open(self, mode: str = "r") -> IO[bytes]: ...

    def unlink(self, missing_ok: bool = False) -> None: ...

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None: ...

    def exists(self) -> bool: ...


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_name(text: str) -> str:
    """A file name that identifies `text` (readable part plus a digest, so distinct texts never share a name)."""
    digest = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:12]
    return f"{_UNSAFE.sub('_', text)[-80:]}.{digest}"


def staged_path(root: StagePath, run_key: str, object_key: str) -> StagePath:
    """Where the line protocol of `object_key` is staged for the run `run_key` (each run has its own folder)."""
    folder = root / safe_name(run_key)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{safe_name(object_key)}.lp.gz"


def write_staged(path: StagePath, lines: Iterable[str]) -> int:
    """Stream lines into a gzip file at `path`; returns the number of lines."""
    count = 0
    with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=STAGE_GZIP_LEVEL) as out:
        buffer: list[str] = []
        for line in lines:
            buffer.append(line)
            count += 1
            if len(buffer) >= 2048:
                out.write(("\n".join(buffer) + "\n").encode())
                buffer.clear()
        if buffer:
            out.write(("\n".join(buffer) + "\n").encode())
    return count


def read_staged(path: StagePath) -> Iterator[bytes]:
    """Stream the lines of a staged file back."""
    with path.open("rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as unzipped:
        for line in unzipped:
            stripped = line.rstrip(b"\n")
            if stripped:
                yield stripped


def write_quarantine(path: StagePath, records: Iterable[QuarantinedLine]) -> int:
    """Write quarantined lines as JSON lines; returns how many."""
    count = 0
    with path.open("wb") as out:
        for record in records:
            out.write(orjson.dumps(record.as_dict()) + b"\n")
            count += 1
    return count
