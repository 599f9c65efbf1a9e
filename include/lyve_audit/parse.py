"""Reading audit-log objects: gzip'd NDJSON, streamed so memory does not grow with the object (objects reach 500 MB)."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from io import BytesIO
from typing import IO

from include.lyve_audit.background import ahead

READ_CHUNK = 1 << 20
INFLATED_PIECE = 4 << 20
"""Inflated bytes are handed from the reader thread in pieces of at most this size: the thread needs the GIL back
after each piece, which can take a switch interval (5 ms), so pieces must be large enough to keep it ahead."""
FIRST_PIECE = 256 << 10
"""The first piece is this small, and each next one twice the last up to INFLATED_PIECE: the encoder starts after
0.6 ms of inflating, not 10 (for an object of 50 MB, 3 % of its parse; docs/performance.md)."""


class ObjectReadError(Exception):
    """The object as a whole cannot be read (not gzip, truncated); names the object and the line reached."""


LineBatch = tuple[int, list[bytes]]
"""Consecutive raw lines of an object: the 1-based number of the first, and each line's bytes without the line ending
and surrounding whitespace (empty for a blank line). Lines come in batches so that the per-entry loop runs over a
list (no generator step and no tuple per line) whose lines are still in the core's cache."""
SPLIT_BYTES = 64 << 10
"""Lines are split off an inflated piece about this many bytes at a time: split all at once, a 4 MiB piece's lines
have left the cache by the time they are encoded (docs/performance.md)."""


def inflate(stream: IO[bytes], name: str) -> Iterator[bytes]:
    """Yield the decompressed bytes of a gzip stream (several members allowed) in pieces growing from FIRST_PIECE to
    at most INFLATED_PIECE.

    Everything that can be decompressed is yielded before an error is raised, so a truncated object still gives
    up all its complete lines. Output is bounded per step, so a small object that inflates hugely cannot exhaust
    memory.
    """
    inflater = zlib.decompressobj(wbits=31)
    started = False
    size = min(FIRST_PIECE, INFLATED_PIECE)  # (doubled after each piece up to INFLATED_PIECE)
    while compressed := stream.read(READ_CHUNK):
        while compressed:
            if inflater.eof:
                inflater = zlib.decompressobj(wbits=31)
            try:
                piece = inflater.decompress(compressed, size)
            except zlib.error as error:
                raise ObjectReadError(f"{name}: not gzip or corrupt ({error})") from None
            started = True
            if piece:
                yield piece
                size = min(size * 2, INFLATED_PIECE)
            compressed = inflater.unconsumed_tail or inflater.unused_data
        while not inflater.eof and (piece := inflater.decompress(b"", size)):
            yield piece
            size = min(size * 2, INFLATED_PIECE)
    if started and not inflater.eof:
        raise ObjectReadError(f"{name}: gzip stream ends early (truncated object)")


MAX_LINE_BYTES = 16 << 20
"""A line longer than this is quarantined by its length, without being held whole (objects can hold anything)."""
OVERLONG_PREFIX_BYTES = 2048


class OverlongLine(bytes):
    """Stands for a line longer than the limit: empty (so no decoder takes it) yet true (so it is not skipped as a
    blank line), with why and its first bytes."""

    reason: str
    prefix: bytes

    def __bool__(self) -> bool:
        return True

    @classmethod
    def of(cls, length: int, limit: int, prefix: bytes) -> OverlongLine:
        line = cls()
        line.reason = f"line of {length:,} bytes, longer than the limit of {limit:,}: not read"
        line.prefix = prefix[:OVERLONG_PREFIX_BYTES]
        return line


def line_batches(stream: IO[bytes], name: str, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[LineBatch]:
    """Yield the lines of a gzip'd object (LF or CRLF) in batches, numbered, blank ones kept as empty bytes.

    Reading and inflating run in a thread ahead of the caller (zlib and socket reads release the GIL, so they take
    the second core). Holds at most three decompressed pieces plus one line of at most `max_line_bytes`; a longer
    line comes as an OverlongLine (its bytes dropped as they come). An unreadable stream raises ObjectReadError
    naming `name` and the last line read, after every complete line before the damage was yielded.
    """
    number = 0  # lines yielded so far
    pending = b""
    dropped = 0  # bytes of an over-long line dropped so far (0: not inside one)
    carriage = False  # the last of them is a CR (not counted when the LF follows)
    prefix = b""
    try:
        for chunk in ahead(inflate(stream, name), name="lyve-inflate"):
            if dropped:
                end = chunk.find(b"\n")
                if end < 0:
                    dropped += len(chunk)
                    carriage = chunk[-1:] == b"\r"
                    continue
                if end:
                    carriage = chunk[end - 1 : end] == b"\r"
                number += 1
                yield number, [OverlongLine.of(dropped + end - carriage, max_line_bytes, prefix)]
                dropped, chunk = 0, chunk[end + 1 :]
            if not chunk:
                continue
            measure = len(pending) + len(chunk) > max_line_bytes  # a line may be too long: each one measured
            reader = BytesIO(chunk)
            while pieces := reader.readlines(SPLIT_BYTES):  # each line with its b"\n", found with memchr
                if pending:
                    pieces[0] = pending + pieces[0]
                    pending = b""
                if pieces[-1][-1:] != b"\n":  # (only the piece's last line can lack it)
                    pending = pieces.pop()
                if measure:
                    batch = [
                        OverlongLine.of(length, max_line_bytes, piece)
                        if (length := len(piece) - 1 - (piece[-2:-1] == b"\r")) > max_line_bytes  # (LF, CR LF off)
                        else piece.strip()
                        for piece in pieces
                    ]
                else:
                    batch = [*map(bytes.strip, pieces)]
                if batch:
                    yield number + 1, batch
                    number += len(batch)
            if len(pending) > max_line_bytes + 1:  # (+1: its last byte may be the CR of CR LF)
                dropped, carriage, prefix = len(pending), pending[-1:] == b"\r", pending[:OVERLONG_PREFIX_BYTES]
                pending = b""
    except ObjectReadError as error:
        raise ObjectReadError(f"{error} after line {number}") from None
    if dropped:
        yield number + 1, [OverlongLine.of(dropped - carriage, max_line_bytes, prefix)]
    elif (length := len(pending) - (pending[-1:] == b"\r")) > max_line_bytes:
        yield number + 1, [OverlongLine.of(length, max_line_bytes, pending)]
    elif pending:
        yield number + 1, [pending.strip()]


class BadLine(ValueError):
    """A line that cannot become a point; the reason is kept in the quarantine record."""
