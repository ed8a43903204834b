"""The partitions (ad accounts) of a v5 stream read at once, emitted one after the other.

The SDK syncs a stream's partitions in turn (and a child stream's contexts, board after
board), and a v5 list is a chain of bookmarks: one request at a time. So the next contexts'
rows are read by worker threads into bounded buffers while the SDK takes them in its usual
order. Records and STATE come out as they would from one thread: a partition's bookmark moves
only once the SDK has emitted all its rows, so a killed run resumes from what was emitted,
never from what was only read ahead. The buffers are bounded (a few pages, a few contexts
ahead), so memory does not grow with the data; the requests keep the shared pace
(`Pacer`/`HeaderPacer` are thread-safe).

Within one context, `ordered` reads independent requests (the analytics calls of an ad
account, 250 ids each) the same way: a few ahead, their rows handed over in request order.
The workers outnumber the requests allowed in flight (some wait on a full buffer); the
family's request slots (`V5Family.slots`) keep that number.
"""

from __future__ import annotations

import functools
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

BUFFER_ROWS = 1000  # four pages of 250 read ahead per partition at most
_ROW, _DONE, _ERROR = range(3)
_POLL_SECONDS = 0.2


Context = Mapping[str, Any]
Read = Callable[[Context], Iterable[Any]]


def _key(context: Context) -> tuple[Any, ...]:
    return tuple(sorted(context.items()))


class Feed:
    """One context's rows, read ahead by a worker; `rows` hands them over in order, and
    re-raises in the caller's thread what the read raised (a 403 for one account, say)."""

    def __init__(self, read: Callable[[], Iterable[Any]], size: int = BUFFER_ROWS) -> None:
        self.read = read
        self.buffer: queue.Queue[tuple[int, Any]] = queue.Queue(maxsize=size)
        self.cancelled = threading.Event()
        self._claim = threading.Lock()

    def claim(self) -> bool:
        """Whoever claims the feed first reads it: a worker, or the caller that needs it."""
        return self._claim.acquire(blocking=False)

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

    def rows(self) -> Iterator[Any]:
        if self.claim():  # no worker has reached it: read it here rather than wait for one
            yield from self.read()
            return
        while True:
            kind, value = self.buffer.get()
            if kind == _DONE:
                return
            if kind == _ERROR:
                raise value
            yield value


class Readers:
    """A fixed set of daemon workers shared by every v5 stream of a run, taking feeds in the
    order they were started. The caller never waits on a feed no worker has begun (it reads
    that one itself), so feeds of several streams in the queue cannot deadlock it."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.jobs: queue.SimpleQueue[Feed] = queue.SimpleQueue()
        self._started = False
        self._lock = threading.Lock()

    def start(self, read: Callable[[], Iterable[Any]], size: int = BUFFER_ROWS) -> Feed:
        with self._lock:
            if not self._started:
                self._started = True
                for number in range(self.workers):
                    name = f"v5-reader-{number}"
                    threading.Thread(target=self._work, name=name, daemon=True).start()
        feed = Feed(read, size)
        self.jobs.put(feed)
        return feed

    def _work(self) -> None:
        while True:
            feed = self.jobs.get()
            if not feed.cancelled.is_set() and feed.claim():
                feed.fill()


class ReadAhead:
    """One stream's read-ahead: feeds for the next contexts the SDK will ask for, in its order,
    at most `window` started and not yet taken (memory stays bounded however many there are).
    A context the SDK asks for that was not foreseen is read as usual, in the caller's thread."""

    def __init__(self, readers: Readers, read: Read, window: int, size: int = BUFFER_ROWS) -> None:
        self.readers = readers
        self.read = read
        self.window = window
        self.size = size
        self.feeds: dict[tuple[Any, ...], Feed] = {}
        self.pending: list[dict[str, Any]] = []

    def rows(self, context: Context, upcoming: list[dict[str, Any]]) -> Iterator[Any]:
        key = _key(context)
        if key not in self.feeds:
            self.cancel()
            keys = [_key(c) for c in upcoming]
            if key not in keys:
                yield from self.read(context)
                return
            self.pending = upcoming[keys.index(key) :]
        self._top_up()
        feed = self.feeds.pop(key)
        self._top_up()
        try:
            yield from feed.rows()
        except GeneratorExit:  # the SDK stopped early (`--test`): the workers stop too
            feed.cancelled.set()
            self.cancel()
            raise

    def _top_up(self) -> None:
        while self.pending and len(self.feeds) < self.window:
            context = self.pending.pop(0)
            read = functools.partial(self.read, context)
            self.feeds[_key(context)] = self.readers.start(read, self.size)

    def cancel(self) -> None:
        for feed in self.feeds.values():
            feed.cancelled.set()
        self.feeds, self.pending = {}, []


def ordered(
    readers: Readers,
    reads: Iterable[Callable[[], Iterable[Any]]],
    window: int,
    size: int = BUFFER_ROWS,
) -> Iterator[Any]:
    """The rows of each read in turn, the next `window - 1` reads started meanwhile. `reads` is
    drawn lazily (it may itself wait on the API), and everything started stops when the
    caller does (an error, or the SDK stopping early)."""
    pending = iter(reads)
    started: deque[Feed] = deque()
    try:
        while True:
            while len(started) < window and (read := next(pending, None)) is not None:
                started.append(readers.start(read, size))
            if not started:
                return
            yield from started[0].rows()
            started.popleft()
    finally:
        for feed in started:
            feed.cancelled.set()
