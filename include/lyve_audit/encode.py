"""Turning one object's lines into line protocol, with its counts and its quarantined lines."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from include.lyve_audit.parse import BadLine, Line, decode_entry
from include.lyve_audit.schema import ENCODERS

QUARANTINE_TEXT_LIMIT = 2048


@dataclass(slots=True)
class ObjectCounts:
    """What became of one object's lines."""

    entries: int = 0
    points: int = 0
    bad: int = 0
    duplicates: int = 0
    moved: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class QuarantinedLine:
    """A line that could not become a point, with where it was and why."""

    object_key: str
    line: int
    reason: str
    text: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class PointTimes:
    """Keeps distinct entries that share measurement + tags + time, deterministically.

    InfluxDB keeps one point per series and time, so a second distinct entry at the same nanosecond would silently
    replace the first. The first keeps its time; each later distinct one moves forward by 1 ns until its slot is
    free. An entry byte-identical to one already written is the same event and is not written again. Because lines
    are taken in object order, a rerun assigns exactly the same times. Memory is one small dict entry per point.
    """

    _slots: dict[int, int] = field(default_factory=dict)

    def assign(self, series: str, time_ns: int, raw: bytes) -> int | None:
        """The time to write this entry at, or None when it repeats an entry already written."""
        content = hash(raw)
        while True:
            slot = hash((series, time_ns))
            holder = self._slots.get(slot)
            if holder is None:
                self._slots[slot] = content
                return time_ns
            if holder == content:
                return None
            time_ns += 1


def encode_lines(
    lines: Iterable[Line],
    kind: str,
    object_key: str,
    counts: ObjectCounts,
    quarantine: Callable[[QuarantinedLine], None],
    include_message: bool = True,
) -> Iterator[str]:
    """Yield one line-protocol line per distinct entry; bad lines go to `quarantine` and are counted."""
    encoder = ENCODERS[kind]
    times = PointTimes()
    for line in lines:
        counts.entries += 1
        try:
            entry = decode_entry(line)
            encoded = encoder(entry, line.raw.decode("utf-8"), include_message)
        except (BadLine, UnicodeDecodeError, RecursionError) as error:
            counts.bad += 1
            text = line.raw[:QUARANTINE_TEXT_LIMIT].decode("utf-8", "replace")
            quarantine(QuarantinedLine(object_key, line.number, str(error) or type(error).__name__, text))
            continue
        time_ns = times.assign(encoded.series, encoded.time_ns, line.raw)
        if time_ns is None:
            counts.duplicates += 1
            continue
        if time_ns != encoded.time_ns:
            counts.moved += 1
        counts.points += 1
        yield f"{encoded.series} {encoded.fields} {time_ns}"
