"""Generated S3 API audit entries for the benchmark (include/lyve_audit/demo.py), in memory or streamed to a file."""

from __future__ import annotations

import gzip
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from include.lyve_audit.demo import s3_entry
from include.lyve_audit.keys import month_folder

START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
SPAN_S = 1200
"""Lyve Cloud writes about three S3 log objects per bucket and hour, so one object covers some 20 minutes."""
BUCKET = "media-assets"
MEAN_ENTRY_BYTES = 1150


def object_key(index: int) -> str:
    """A real-layout key for the `index`-th generated object (distinct write times keep keys distinct)."""
    written = START + timedelta(seconds=SPAN_S - 1 + index)
    return f"{month_folder(written)}S3-{BUCKET}-{written:%Y-%m-%d-%H-%M-%S}.gz"


def entry_lines(count: int, seed: int = 7, span_s: int = SPAN_S) -> list[bytes]:
    """`count` entries as JSON lines, their times spread over `span_s` seconds in order (nanoseconds random)."""
    rng = random.Random(seed)  # noqa: S311 - seeded test data
    return [
        orjson.dumps(s3_entry(rng, START + timedelta(seconds=index * span_s // count), BUCKET))
        for index in range(count)
    ]


def gzip_object(lines: list[bytes]) -> bytes:
    """An object's bytes as Lyve Cloud stores them (gzip'd NDJSON)."""
    return gzip.compress(b"\n".join(lines) + b"\n", compresslevel=6, mtime=0)


def write_big_object(path: Path, uncompressed_bytes: int, seed: int = 11, span_s: int = SPAN_S) -> tuple[int, int]:
    """Stream generated entries into a gzip file until `uncompressed_bytes` are written; returns (entries, bytes).

    Entries are generated and written a block at a time, so the generator's memory does not grow with the object.
    """
    rng = random.Random(seed)  # noqa: S311 - seeded test data
    expected = max(uncompressed_bytes // MEAN_ENTRY_BYTES, 1)
    entries = written = 0
    with gzip.open(path, "wb", compresslevel=1) as out:
        while written < uncompressed_bytes:
            block = []
            for _ in range(5000):
                moment = START + timedelta(seconds=min(entries * span_s // expected, span_s - 1))
                block.append(orjson.dumps(s3_entry(rng, moment, BUCKET)) + b"\n")
                entries += 1
            data = b"".join(block)
            out.write(data)
            written += len(data)
    return entries, written
