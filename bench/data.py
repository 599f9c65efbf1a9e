"""Generated S3 API audit entries for the benchmark (include/lyve_audit/demo.py), in memory or streamed to a file."""

from __future__ import annotations

import gzip
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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


SHAPES = ("documented Lyve Cloud", "MinIO", "mix, 2 % hostile")
"""The fixed shapes each measured on its own (not the demo's mix): Lyve Cloud's documented S3 API entry without
rx/tx/object/serviceAccountName; MinIO's own audit entry (no wrapper: access key, *InNS, Go durations, rx/tx);
half of each with 2 % of lines holding quotes, backslashes, non-ASCII text and newlines in their values."""
HOSTILE = 'say "hi" \\ back\\slash, caf\u00e9 \u2603\nsecond line\ttab'


def _documented(rng: random.Random, moment: datetime) -> dict[str, Any]:
    entry = s3_entry(rng, moment, BUCKET, "documented")
    entry.pop("serviceAccountName")
    entry["auditEntry"]["api"].pop("object", None)
    return entry


def _hostile(rng: random.Random, moment: datetime) -> dict[str, Any]:
    entry = s3_entry(rng, moment, BUCKET, "documented")
    audit = entry["auditEntry"]
    audit["userAgent"] = audit["api"]["object"] = f"{HOSTILE} {rng.randint(0, 999)}"
    audit["requestHeader"]["User-Agent"] = HOSTILE
    return entry


def shape_lines(shape: str, count: int, seed: int = 7, span_s: int = SPAN_S) -> list[bytes]:
    """`count` entries of one of SHAPES as JSON lines (Python's separators for the documented shape, as in Lyve
    Cloud's examples), times spread over `span_s` seconds in order."""
    rng = random.Random(seed)  # noqa: S311 - seeded test data
    lines = []
    for index in range(count):
        moment = START + timedelta(seconds=index * span_s // count)
        draw = rng.random()
        if shape == SHAPES[0] or (shape == SHAPES[2] and draw < 0.49):
            lines.append(json.dumps(_documented(rng, moment)).encode())
        elif shape == SHAPES[1] or draw < 0.98:
            lines.append(orjson.dumps(s3_entry(rng, moment, BUCKET, "minio-bare")))
        else:
            lines.append(json.dumps(_hostile(rng, moment), ensure_ascii=False).encode())
    return lines


def write_bad_object(path: Path, uncompressed_bytes: int) -> tuple[int, int]:
    """A gzip file of only bad lines (~1 KB each: not JSON, impossible times, arrays, wrong types) until
    `uncompressed_bytes` are written; returns (lines, bytes)."""
    padding = "x" * 900
    kinds = [
        b'{"auditEntry": {"time": "yesterday", "api": {"name": "%s"}}}',
        b'{"auditEntry": {"time": "2026-11-20T10:00:00Z", "api": {"rx": "many %s"}}}',
        b'["%s"]',
        b"{not json %s",
    ]
    block = b"".join(kind.replace(b"%s", padding.encode()) + b"\n" for kind in kinds) * 1000
    lines = written = 0
    with gzip.open(path, "wb", compresslevel=1) as out:
        while written < uncompressed_bytes:
            out.write(block)
            written += len(block)
            lines += len(kinds) * 1000
    return lines, written


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
