"""LIST requests per run for a month folder, listed whole (before) and by known prefixes (after).

S3's ListObjectsV2 answers at most 1,000 keys a page, in key order, from `StartAfter`: the count of requests follows
from the keys alone, so this counts them on an exact in-memory model of that listing, for folders far larger than a
test's S3 server holds (the counts on a real S3 server are checked by tests/integration/test_planning_cost.py).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from include.lyve_audit.keys import ListedObject, month_folder
from include.lyve_audit.pipeline import RangeListing, list_window

PAGE = 1000


class CountedFolder:
    """Sorted keys, listed in pages of 1,000 as S3 does; counts the requests."""

    def __init__(self, keys: list[str], stamp: datetime) -> None:
        self.keys = sorted(keys)
        self.stamp = stamp
        self.requests = 0

    def _pages(self, prefix: str, start_after: str) -> Iterator[list[str]]:
        index = bisect.bisect_right(self.keys, max(start_after, prefix))
        while True:
            self.requests += 1
            page = [key for key in self.keys[index : index + PAGE] if key.startswith(prefix)]
            yield page
            if len(page) < PAGE:
                return
            index += PAGE

    def list_prefix(self, prefix: str) -> Iterator[ListedObject]:
        for page in self._pages(prefix, ""):
            yield from (ListedObject(key, 1, self.stamp) for key in page)

    def list_range(self, prefix: str, start_after: str, stop_at: str) -> Iterator[ListedObject]:
        for page in self._pages(prefix, start_after):
            for key in page:
                if key >= stop_at:
                    return
                yield ListedObject(key, 1, self.stamp)


class Catalog:
    def __init__(self, folder: str, prefixes: list[str], at: datetime) -> None:
        self.entries = {folder: (at, prefixes)}

    def known(self, folder: str) -> tuple[datetime, list[str]] | None:
        return self.entries.get(folder)

    def remember(self, folder: str, discovered_at: datetime, prefixes: list[str]) -> None:
        self.entries[folder] = (discovered_at, prefixes)


def list_requests_per_run(buckets: int = 100, every_minutes: int = 5, lookback_hours: int = 24) -> dict[str, int]:
    """The run of the month's last hour, with `buckets` logged buckets (plus IAM and Console) writing an object every
    `every_minutes`: keys in the folder, and LIST requests listing it whole and by known prefixes."""
    start = datetime(2026, 11, 30, 23, tzinfo=UTC)
    folder = month_folder(start)
    prefixes = [f"{folder}S3-bucket-{index:03d}-" for index in range(buckets)] + [f"{folder}IAM-", f"{folder}Console-"]
    stamps = [
        (datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=step)).strftime("%Y-%m-%d-%H-%M-%S")
        for step in range(0, 30 * 24 * 60, every_minutes)
    ]
    store = CountedFolder([f"{prefix}{stamp}.gz" for prefix in prefixes for stamp in stamps], start)
    window = start - timedelta(hours=lookback_hours), start + timedelta(hours=1)
    list_window(store.list_prefix, [folder], *window, None, timedelta(hours=12))
    whole = store.requests
    store.requests = 0
    ranges = RangeListing(store.list_range, Catalog(folder, prefixes, start - timedelta(hours=1)), start)
    list_window(store.list_prefix, [folder], *window, ranges, timedelta(hours=12))
    return {"keys": len(store.keys), "prefixes": len(prefixes), "whole": whole, "by_prefix": store.requests}
