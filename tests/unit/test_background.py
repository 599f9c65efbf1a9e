"""The background threads: order kept, memory bounded, errors crossing to the caller, nothing left running."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest

from include.lyve_audit.background import Background, ahead, quick_handoffs


def counted(limit: int, produced: list[int], fail_at: int | None = None) -> Iterator[int]:
    for item in range(limit):
        if item == fail_at:
            raise OSError(f"read failed at {item}")
        produced.append(item)
        yield item


def test_ahead_yields_every_item_in_order_and_ends_its_thread() -> None:
    produced: list[int] = []
    assert list(ahead(counted(1000, produced), depth=2, name="t-order")) == list(range(1000))
    assert not [thread for thread in threading.enumerate() if thread.name == "t-order"]


def test_ahead_raises_the_producers_error_after_the_items_before_it() -> None:
    seen: list[int] = []
    with pytest.raises(OSError, match="read failed at 37"):
        seen.extend(ahead(counted(100, [], fail_at=37), depth=3))
    assert seen == list(range(37))


def test_ahead_stays_at_most_depth_items_ahead_and_stops_when_closed_early() -> None:
    produced: list[int] = []
    items = ahead(counted(10_000, produced), depth=2, name="t-early")
    taken = [next(items) for _ in range(5)]
    items.close()
    assert taken == list(range(5))
    # 5 taken, at most 2 waiting, 1 in the producer's hand when it saw the stop.
    assert len(produced) <= 5 + 2 + 1
    assert not [thread for thread in threading.enumerate() if thread.name == "t-early"]


def test_background_consumes_in_order_and_reports_the_consumers_error() -> None:
    consumed: list[int] = []
    with Background(consumed.append, depth=2) as worker:
        for item in range(500):
            worker.put(item)
    assert consumed == list(range(500))

    def refuse(item: int) -> None:
        raise ValueError(f"refused {item}")

    worker = Background(refuse)
    worker.put(1)
    with pytest.raises(ValueError, match="refused 1"):
        worker.close()


def test_quick_handoffs_sets_the_switch_interval_for_the_block_only() -> None:
    before = sys.getswitchinterval()
    with quick_handoffs(0.0007):
        assert sys.getswitchinterval() == 0.0007
        with quick_handoffs(0.002):  # nested: the smaller stays
            assert sys.getswitchinterval() == 0.0007
        assert sys.getswitchinterval() == 0.0007
    assert sys.getswitchinterval() == before
