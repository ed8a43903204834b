"""The partitions (ad accounts) of a v5 stream read at once, emitted one after the other.

The SDK syncs a stream's partitions in turn, and a v5 list is a chain of bookmarks: one request
at a time. So each partition's rows are read by a worker thread into a bounded buffer while the
SDK takes the partitions in their usual order from the buffers. Records and STATE come out as
they would from one thread: a partition's bookmark moves only once the SDK has emitted all its
rows, so a killed run resumes from what was emitted, never from what was only read ahead. The
buffers are bounded (a few pages), so memory does not grow with the data; the requests keep the
shared pace (`Pacer`/`HeaderPacer` are thread-safe).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

BUFFER_ROWS = 1000  # four pages of 250 read ahead per partition at most
_ROW, _DONE, _ERROR = range(3)
_POLL_SECONDS = 0.2


class Feed:
    """One partition's rows, read ahead by a worker; `rows` hands them over in order, and
    re-raises in the caller's thread what the read raised (a 403 for one account, say)."""

    def __init__(self, read: Callable[[], Iterable[dict[str, Any]]]) -> None:
        self.read = read
        self.buffer: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=BUFFER_ROWS)
        self.cancelled = threading.Event()

    def fill(self) -> None:
        try:
            for row in self.read():
                if not self._put(_ROW, row):
                    return
            self._put(_DONE, None)
        except BaseException as error:  # handed to the reading thread, raised there
            self._put(_ERROR, error)

    def _put(self, kind: int, value: Any) -> bool:
        while not self.cancelled.is_set():
            try:
                self.buffer.put((kind, value), timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def rows(self) -> Iterator[dict[str, Any]]:
        while True:
            kind, value = self.buffer.get()
            if kind == _DONE:
                return
            if kind == _ERROR:
                raise value
            yield value


class Readers:
    """A fixed set of daemon workers, shared by every v5 stream of a run. Feeds are taken in
    the order given, which is the order they are read in: the feed being read is always being
    filled (or done), so the reader never waits on a feed no worker has reached."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.jobs: queue.SimpleQueue[Feed] = queue.SimpleQueue()
        self._started = False
        self._lock = threading.Lock()

    def start(self, reads: list[Callable[[], Iterable[dict[str, Any]]]]) -> list[Feed]:
        with self._lock:
            if not self._started:
                self._started = True
                for number in range(self.workers):
                    name = f"v5-reader-{number}"
                    threading.Thread(target=self._work, name=name, daemon=True).start()
        feeds = [Feed(read) for read in reads]
        for feed in feeds:
            self.jobs.put(feed)
        return feeds

    def _work(self) -> None:
        while True:
            feed = self.jobs.get()
            if not feed.cancelled.is_set():
                feed.fill()
