"""Turning one object's lines into line protocol, with its counts and its quarantined lines."""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from xxhash import xxh3_64_intdigest as content_hash

from include.lyve_audit.errors import TooManyBadLines
from include.lyve_audit.parse import BadLine, LineBatch, ObjectReadError, OverlongLine
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
"""Slots are grouped by time in buckets of 2**33 ns (about 8.6 s), so that old ones can be packed a bucket at a
time."""
HORIZON_NS = 120 * 1_000_000_000
"""Buckets more than this far behind the latest entry seen are packed into sorted arrays (16 bytes a slot)."""
COMPACT_EVERY = 1 << 16
"""encode_lines packs what fell behind the horizon every this many lines or a little more (at the next batch of
lines), so shuffled objects stay small too."""


def _pack(slots: dict[int, int]) -> tuple[array[int], array[int]]:
    """A bucket's slots as sorted arrays of slot hashes and their contents (sorted and copied in C)."""
    ordered = sorted(slots)
    return array("q", ordered), array("Q", map(slots.__getitem__, ordered))


@dataclass(slots=True)
class PointTimes:
    """Keeps distinct entries that share measurement + tags + time, exactly and deterministically, in compact memory.

    InfluxDB keeps one point per series and time, so a second distinct entry at the same nanosecond would silently
    replace the first. The first keeps its time; each later distinct one moves forward by 1 ns until its slot is
    free. An entry byte-identical to one already written is the same event and is not written again. Because lines
    are taken in object order, a rerun assigns exactly the same times, whatever the order of the lines.

    Every slot of the object is remembered: as a dict entry (about 100 bytes) while its time bucket is within
    `horizon_ns` of the latest entry seen, then packed with its bucket into two sorted arrays of 64-bit hashes
    (16 bytes a slot, found by bisection): about 15 MB for a 1 GB object. A slot is hash(series) ^ time (no tuple
    to build), its content the line's 64-bit xxh3 (a third of the cost of hash() on a 1 KB line): two different
    slots that hash alike only move an entry by 1 ns more.
    """

    horizon_ns: int = HORIZON_NS
    _buckets: dict[int, dict[int, int]] = field(default_factory=dict)
    _packed: dict[int, tuple[array[int], array[int]]] = field(default_factory=dict)
    _late: dict[int, dict[int, int]] = field(default_factory=dict)
    _top: int = -(1 << 62)
    _keep: int = 0

    def __post_init__(self) -> None:
        self._keep = -(-self.horizon_ns >> BUCKET_SHIFT)  # whole buckets covering the horizon

    def assign(self, series: str, time_ns: int, raw: bytes) -> int | None:
        """The time to write this entry at, or None when it repeats an entry already written."""
        index = time_ns >> BUCKET_SHIFT
        if index > self._top:
            self._top = index
        content = content_hash(raw)
        while True:  # walk forward 1 ns at a time until a free slot or the same content is found
            index = time_ns >> BUCKET_SHIFT
            slot = hash(series) ^ time_ns
            holder = self._holder(index, slot)
            if holder is None:
                if index in self._packed:
                    self._late.setdefault(index, {})[slot] = content
                else:
                    self._buckets.setdefault(index, {})[slot] = content
                return time_ns
            if holder == content:
                return None
            time_ns += 1

    def _holder(self, index: int, slot: int) -> int | None:
        """The content hash holding a slot, or None when it is free."""
        recent = self._buckets.get(index)
        if recent is not None:
            return recent.get(slot)
        late = self._late.get(index)
        if late is not None and slot in late:
            return late[slot]
        packed = self._packed.get(index)
        if packed is not None:
            slots, contents = packed
            at = bisect_left(slots, slot)
            if at < len(slots) and slots[at] == slot:
                return contents[at]
        return None

    def compact(self) -> None:
        """Pack the buckets wholly behind the horizon (and slots added to packed buckets since) into arrays."""
        limit = self._top - self._keep
        for index in [index for index in self._buckets if index < limit]:
            self._packed[index] = _pack(self._buckets.pop(index))
        for index, late in self._late.items():
            slots, contents = self._packed[index]
            self._packed[index] = _pack(dict(zip(slots, contents, strict=True)) | late)
        self._late.clear()

    def __len__(self) -> int:
        """Slots remembered."""
        recent = sum(len(slots) for slots in self._buckets.values()) + sum(map(len, self._late.values()))
        return recent + sum(len(slots) for slots, _ in self._packed.values())


def encode_lines(
    batches: Iterable[LineBatch],
    kind: str,
    object_key: str,
    counts: ObjectCounts,
    quarantine: Callable[[QuarantinedLine], None],
    include_message: bool = True,
    max_bad_ratio: float | None = None,
) -> Iterator[str]:
    """Yield one line-protocol line per distinct entry; bad lines go to `quarantine` as found and are counted.

    An unreadable tail of the object (ObjectReadError from `batches`: truncated, not gzip) is one more bad line, after
    every line before it has been encoded. With `max_bad_ratio`, an object clearly past it (EARLY_STOP_BAD_LINES bad
    lines, and more than max(ratio, 1/2) of the lines so far) raises TooManyBadLines at once instead of being read
    to its end. This is the per-entry hot loop: lines come in lists, points as whole lines, the usual free slot of
    `PointTimes` is taken inline, and counts are kept in locals and added to `counts` as the generator ends (or is
    closed).
    """
    stop_share = None if max_bad_ratio is None else max(max_bad_ratio, 0.5)
    line_parts = LINE_PARTS[kind]
    times = PointTimes()
    buckets = times._buckets
    shift = BUCKET_SHIFT
    entries = number = compacted = 0
    dropped = counts.bad + counts.duplicates  # (points are the entries neither bad nor repeated)
    try:
        for first, batch in batches:
            if entries - compacted >= COMPACT_EVERY:
                times.compact()
                compacted = entries
            for number, raw in enumerate(batch, first):  # (leaves `number` at the last line seen)
                if not raw:  # a blank line
                    continue
                entries += 1
                try:
                    series, point, time_ns = line_parts(raw, include_message)
                except BadLine as error:
                    counts.bad += 1
                    if raw.__class__ is OverlongLine:
                        reason, raw = raw.reason, raw.prefix
                    else:
                        reason = str(error)
                    text = raw[:QUARANTINE_TEXT_LIMIT].decode("utf-8", "replace")
                    quarantine(QuarantinedLine(object_key, number, reason, text))
                    if (
                        stop_share is not None
                        and counts.bad >= EARLY_STOP_BAD_LINES
                        and counts.bad > stop_share * entries
                    ):
                        raise TooManyBadLines(
                            f"{object_key}: {counts.bad} bad of its first {entries} lines (stopped reading it there)"
                        ) from None
                    continue
                # PointTimes.assign, inlined for the usual case: a recent bucket already seen and a free slot.
                content = content_hash(raw)
                slots = buckets.get(time_ns >> shift)  # (a bucket exists only once its index was seen)
                if slots is None or slots.setdefault(hash(series) ^ time_ns, content) is not content:  # (taken if free)
                    at = times.assign(series, time_ns, raw)
                    if at is None:
                        counts.duplicates += 1
                        continue
                    if at != time_ns:
                        counts.moved += 1
                        point = f"{point.rpartition(' ')[0]} {at}"  # (the time is the point's last part)
                yield point
    except ObjectReadError as error:
        entries += 1
        counts.bad += 1
        quarantine(QuarantinedLine(object_key, number + 1, str(error), ""))
    finally:
        counts.entries += entries
        counts.points += entries - (counts.bad + counts.duplicates - dropped)
