"""Reading audit-log objects: gzip'd NDJSON, streamed so memory does not grow with the object (objects reach 500 MB)."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import orjson

READ_CHUNK = 1 << 20


class ObjectReadError(Exception):
    """The object as a whole cannot be read (not gzip, truncated); names the object and the line reached."""


@dataclass(frozen=True, slots=True)
class Line:
    """One raw line of an object: its 1-based number and its bytes without the line ending."""

    number: int
    raw: bytes


def iter_lines(stream: IO[bytes], name: str) -> Iterator[Line]:
    """Yield the lines of a gzip'd object (LF or CRLF), skipping blank ones.

    Reads in chunks and never holds more than one chunk plus one line. A stream that is not gzip, or ends early,
    raises ObjectReadError naming `name` and the last line read, after every complete line has been yielded.
    """
    number = 0
    try:
        with gzip.GzipFile(fileobj=stream, mode="rb") as unzipped:
            pending = b""
            while chunk := unzipped.read(READ_CHUNK):
                pieces = (pending + chunk).split(b"\n")
                pending = pieces.pop()
                for piece in pieces:
                    number += 1
                    stripped = piece.strip()
                    if stripped:
                        yield Line(number, stripped)
            if pending.strip():
                number += 1
                yield Line(number, pending.strip())
    except (OSError, EOFError, zlib.error) as error:
        raise ObjectReadError(f"{name}: unreadable gzip after line {number}: {error}") from error


class BadLine(ValueError):
    """A line that cannot become a point; the reason is kept in the quarantine record."""


def decode_entry(line: Line) -> dict[str, Any]:
    """Parse one line as a JSON object."""
    try:
        entry = orjson.loads(line.raw)
    except orjson.JSONDecodeError as error:
        raise BadLine(f"not JSON: {error}") from None
    if not isinstance(entry, dict):
        raise BadLine(f"JSON {type(entry).__name__}, not an object")
    return entry
