"""One background thread that consumes pieces in order, so that I/O and compression overlap the work producing them.

zlib, file writes and socket sends release the GIL, so on a second core they run beside the Python code that encodes
or batches the next piece. At most `depth` pieces wait, so memory stays bounded; the first error of the consumer is
raised in the producer (at its next `put` or at `close`), and later pieces are dropped, not consumed.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Generic, Self, TypeVar

T = TypeVar("T")
_DONE = object()


class Background(Generic[T]):
    """`put` pieces, consumed by `consume` in a daemon thread in the same order; use as a context manager."""

    def __init__(self, consume: Callable[[T], None], depth: int = 2, name: str = "lyve-background") -> None:
        self._consume = consume
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (piece := self._queue.get()) is not _DONE:
            if self._error is None:
                try:
                    self._consume(piece)  # type: ignore[arg-type]
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
            self._queue.put(_DONE)
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
