"""Staged batches: write-ready as written, every point back exactly, damage named."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from include.lyve_audit.stage import (
    StageError,
    default_quarantine_root,
    quarantine_folder,
    read_staged,
    write_staged,
)

PLAIN = [f'm,t=a v="{index}" {index}' for index in range(100)]
WITH_LF = 'm,t=a v="two\nlines and an \x1b escape" 7'


def test_staged_batches_are_the_write_bodies_and_give_every_point_back(tmp_path: Path) -> None:
    path = tmp_path / "o.lpb"
    lines = [*PLAIN[:50], WITH_LF, *PLAIN[50:]]
    assert write_staged(path, iter(lines), batch_bytes=400) == 101
    batches = list(read_staged(path))
    assert sum(batch.points for batch in batches) == 101
    sizes = [sum(len(line) + 1 for line in batch.lines()) for batch in batches]
    assert len(sizes) == 4 and all(400 <= size < 400 + 60 for size in sizes)  # 1,618 bytes in all
    assert [line for batch in batches for line in batch.lines()] == [line.encode() for line in lines]
    [escaped] = [batch for batch in batches if batch.escaped]
    assert WITH_LF.encode() in escaped.lines()
    for batch in batches:
        if not batch.escaped:  # posted as it is: its body is exactly the points joined by LF, gzip'd
            assert zlib.decompress(batch.body, wbits=31) == b"\n".join(batch.lines())


def test_one_batch_when_everything_fits(tmp_path: Path) -> None:
    path = tmp_path / "o.lpb"
    assert write_staged(path, iter(PLAIN), batch_bytes=4 << 20) == 100
    [batch] = read_staged(path)
    assert (batch.points, batch.escaped) == (100, False)


@pytest.mark.parametrize("keep", [5, 20, -10], ids=["cut-header", "cut-batch", "cut-tail"])
def test_a_damaged_staged_file_is_named(tmp_path: Path, keep: int) -> None:
    path = tmp_path / "o.lpb"
    write_staged(path, iter(PLAIN), batch_bytes=1 << 20)
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(StageError, match=r"o\.lpb: damaged staged file"):
        list(read_staged(path))


def test_quarantine_lies_beside_the_stage_one_folder_per_interval(tmp_path: Path) -> None:
    root = default_quarantine_root(tmp_path / "stage")
    assert root == tmp_path / "quarantine"
    start = datetime(2026, 1, 31, 22, 45, tzinfo=UTC)
    assert quarantine_folder(root, start, 15) == tmp_path / "quarantine" / "2026-01-31T2245Z-15m"
