"""Background threads that overlap I/O and compression with the Python code around them.

zlib, file reads and writes and socket I/O release the GIL, so on a second core they run beside the code that
encodes. `Background` consumes pieces handed to it (the stage writer: compress + write, while the encoder makes the
next batch); `ahead` produces them (read + inflate). Only these two pay in `make bench`; posting staged batches
from a thread gained nothing, so writes to InfluxDB run in the caller's thread.

At most `depth` pieces wait either way, so memory stays bounded, and errors cross to the caller: the first error of a
`Background` consumer is raised at the producer's next `put` or at `close` (later pieces are dropped), the error of
an `ahead` producer after every item before it.
"""

from __future__ import annotations

import enum
import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Final, Generic, Self, TypeVar

T = TypeVar("T")
HANDOFF_INTERVAL_S = 0.001
"""The GIL switch interval while background threads work beside Python code (the interpreter's default is 5 ms)."""


class _End(enum.Enum):
    """The end of the pieces, of a type of its own, so that a queue of `T | _End` stays typed."""

    END = enum.auto()


_END: Final = _End.END


class Background(Generic[T]):
    """`put` pieces, consumed by `consume` in a daemon thread in the same order; use as a context manager."""

    def __init__(self, consume: Callable[[T], None], depth: int = 2, name: str = "lyve-background") -> None:
        self._consume = consume
        self._queue: queue.Queue[T | _End] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not isinstance(piece := self._queue.get(), _End):
            if self._error is None:
                try:
                    self._consume(piece)
                except BaseException as error:
                    self._error = error

    def put(self, piece: T) -> None:
        """Hand over one piece (blocks while `depth` pieces wait); raises the consumer's error if it failed."""
        if self._error is not None:
            raise self._error
        self._queue.put(piece)

    def close(self) -> None:
        """Wait until every piece is consumed; raises the consumer's error if it failed."""
        if self._thread.is_alive():
            self._queue.put(_END)
            self._thread.join()
        if self._error is not None:
            raise self._error

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if error is None:
            self.close()
            return
        try:
            self.close()
        except BaseException:  # noqa: S110 - the producer's own error is the one to report
            pass


def ahead(items: Iterable[T], depth: int = 2, name: str = "lyve-ahead") -> Iterator[T]:
    """Yield `items` in order while a daemon thread produces up to `depth` of them ahead.

    An error of the producer is raised here after every item before it. When this generator is closed early, the
    producer stops after its current item and its thread is joined, so nothing runs on after the caller is done.
    """
    handoff: queue.Queue[tuple[T | _End, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                handoff.put((item, None))
            handoff.put((_END, None))
        except BaseException as error:
            handoff.put((_END, error))

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item, error = handoff.get()
            if isinstance(item, _End):
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # take what it hands over, so that a producer waiting on a full queue can end
            try:
                handoff.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()


@contextmanager
def quick_handoffs(interval_s: float = HANDOFF_INTERVAL_S) -> Iterator[None]:
    """Let background threads have the GIL back within `interval_s` of asking for it.

    A thread coming back from zlib or file I/O waits until the thread running Python code gives the GIL up, which
    the interpreter forces only after its switch interval (5 ms). The stage writer needs the GIL about three times
    per 4 MiB batch that it compresses in ~10 ms, so at 5 ms it falls behind the encoder and stalls it; at 1 ms
    parse + stage of 200,000 entries takes 9.2 µs an entry instead of 10.5 (best of 6; medians 9.5 and 11.1). The
    interval is process-wide: it is set for the block and restored after it (the smaller of the two is kept when
    blocks nest), so callers wrap only the parse of an object in it.
    """
    previous = sys.getswitchinterval()
    sys.setswitchinterval(min(previous, interval_s))
    try:
        yield
    finally:
        sys.setswitchinterval(previous)
