"""Turning one object's lines into line protocol, with its counts and its quarantined lines."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from include.lyve_audit.errors import TooManyBadLines
from include.lyve_audit.parse import BadLine, Line, ObjectReadError, OverlongLine
from include.lyve_audit.schema import LINE_PARTS

QUARANTINE_TEXT_LIMIT = 2048
EARLY_STOP_BAD_LINES = 10_000
"""An object is read to its end unless this many of its lines are bad (and more than the share allowed)."""


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


BUCKET_SHIFT = 33
"""Slots are grouped by time in buckets of 2**33 ns (about 8.6 s), so that old ones can be forgotten a bucket at a
time."""
HORIZON_NS = 120 * 1_000_000_000
"""How far behind the latest entry seen so far an entry may be and still be checked against every earlier one."""


@dataclass(slots=True)
class PointTimes:
    """Keeps distinct entries that share measurement + tags + time, deterministically, in bounded memory.

    InfluxDB keeps one point per series and time, so a second distinct entry at the same nanosecond would silently
    replace the first. The first keeps its time; each later distinct one moves forward by 1 ns until its slot is
    free. An entry byte-identical to one already written is the same event and is not written again. Because lines
    are taken in object order, a rerun assigns exactly the same times.

    Memory: one small dict entry (about 100 bytes) per point of the last `horizon_ns` of log time, not per point of
    the object. Entries in an object are roughly, not strictly, time ordered, so slots are kept in time buckets and a
    bucket is dropped once it lies wholly more than `horizon_ns` (rounded up to whole buckets, 2 minutes by default)
    below the latest bucket seen. An entry whose time is at most `horizon_ns` behind every entry before it in the
    object is therefore checked against all earlier entries, exactly as with unbounded memory. The result can differ
    only for an entry more than `horizon_ns` behind an earlier entry of the same object AND holding the very series
    and nanosecond (or, while moving, the next free ones) of a forgotten entry: it then keeps that time (overwriting
    the earlier point) or, if byte-identical, is written again (the same point; only the duplicate count differs).
    Which slots are forgotten depends only on the object's lines and their order, so reruns stay deterministic.
    """

    horizon_ns: int = HORIZON_NS
    _buckets: dict[int, dict[int, int]] = field(default_factory=dict)
    _top: int = -(1 << 62)
    _keep: int = 0

    def __post_init__(self) -> None:
        self._keep = -(-self.horizon_ns >> BUCKET_SHIFT)  # whole buckets covering the horizon

    def assign(self, series: str, time_ns: int, raw: bytes) -> int | None:
        """The time to write this entry at, or None when it repeats an entry already written."""
        index = time_ns >> BUCKET_SHIFT
        if index > self._top:
            self._advance(index)
        slots = self._buckets.get(index)
        if slots is None:
            slots = self._buckets[index] = {}
        slot = hash((series, time_ns))
        if slot not in slots:
            slots[slot] = hash(raw)
            return time_ns
        return self._collide(series, time_ns, hash(raw))

    def _collide(self, series: str, time_ns: int, content: int) -> int | None:
        """The slow path: walk forward 1 ns at a time until a free slot or the same content is found."""
        while True:
            index = time_ns >> BUCKET_SHIFT
            slots = self._buckets.get(index)
            if slots is None:
                slots = self._buckets[index] = {}
            slot = hash((series, time_ns))
            holder = slots.get(slot)
            if holder is None:
                slots[slot] = content
                return time_ns
            if holder == content:
                return None
            time_ns += 1

    def _advance(self, index: int) -> None:
        """A later bucket is seen: forget the buckets wholly below the horizon (at most once per bucket)."""
        self._top = index
        limit = index - self._keep
        for old in [old for old in self._buckets if old < limit]:
            del self._buckets[old]

    def __len__(self) -> int:
        """Slots held now (what the memory bound is about)."""
        return sum(len(slots) for slots in self._buckets.values())


def encode_lines(
    lines: Iterable[Line],
    kind: str,
    object_key: str,
    counts: ObjectCounts,
    quarantine: Callable[[QuarantinedLine], None],
    include_message: bool = True,
    max_bad_ratio: float | None = None,
) -> Iterator[str]:
    """Yield one line-protocol line per distinct entry; bad lines go to `quarantine` as found and are counted.

    An unreadable tail of the object (ObjectReadError from `lines`: truncated, not gzip) is one more bad line, after
    every line before it has been encoded. With `max_bad_ratio`, an object clearly past it (EARLY_STOP_BAD_LINES bad
    lines, and more than max(ratio, 1/2) of the lines so far) raises TooManyBadLines at once instead of being read
    to its end. This is the per-entry hot loop: parts come as a tuple, the usual free slot of `PointTimes` is taken
    inline, and counts are kept in locals and added to `counts` as the generator ends (or is closed).
    """
    stop_share = None if max_bad_ratio is None else max(max_bad_ratio, 0.5)
    line_parts = LINE_PARTS[kind]
    times = PointTimes()
    buckets = times._buckets
    entries = points = number = 0
    try:
        for number, raw in lines:
            entries += 1
            try:
                series, fields, time_ns = line_parts(raw, include_message)
            except BadLine as error:
                counts.bad += 1
                if raw.__class__ is OverlongLine:
                    reason, raw = raw.reason, raw.prefix  # type: ignore[attr-defined]
                else:
                    reason = str(error)
                text = raw[:QUARANTINE_TEXT_LIMIT].decode("utf-8", "replace")
                quarantine(QuarantinedLine(object_key, number, reason, text))
                if stop_share is not None and counts.bad >= EARLY_STOP_BAD_LINES and counts.bad > stop_share * entries:
                    raise TooManyBadLines(
                        f"{object_key}: {counts.bad} bad of its first {entries} lines (stopped reading it there)"
                    ) from None
                continue
            # PointTimes.assign, inlined for the usual case: a bucket already seen and a free slot.
            index = time_ns >> BUCKET_SHIFT
            slots = buckets.get(index)
            slot = hash((series, time_ns))
            if index <= times._top and slots is not None and slot not in slots:
                slots[slot] = hash(raw)
            else:
                at = times.assign(series, time_ns, raw)
                if at is None:
                    counts.duplicates += 1
                    continue
                if at != time_ns:
                    counts.moved += 1
                    time_ns = at
            points += 1
            yield f"{series} {fields} {time_ns}"
    except ObjectReadError as error:
        entries += 1
        counts.bad += 1
        quarantine(QuarantinedLine(object_key, number + 1, str(error), ""))
    finally:
        counts.entries += entries
        counts.points += points
