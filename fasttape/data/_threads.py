"""Background iterators of `ft.data`: prefetch (one producer thread, a bounded
queue) and the parallel map (a small thread pool, results in input order).

# Note [Background iterators stop when dropped]
A training loop often abandons an iterator (`break`, an exception, `take` of a
repeated dataset). Each background iterator is a plain object the threads do
not reference: the producer holds only the queue, the stop event and the
upstream iterator. When the consumer's iterator is dropped (or exhausted, or
`close()`d) it sets the stop event, drains the queue so that a producer
blocked on `put` wakes up, and joins the thread; the producer then drops the
upstream iterator, which closes the stages above it in turn. So no thread
outlives the iteration that started it (tests/data/test_dataset.py checks
with `threading.enumerate` and weak references).
"""

import collections
import concurrent.futures
import queue
import threading

_DONE = object()
_POLL = 0.05  # seconds a blocked producer waits before re-checking the stop event


class _Raised:
    __slots__ = ("exc",)

    def __init__(self, exc):
        self.exc = exc


def _produce(upstream, q, stop):
    """The prefetch thread: moves upstream's elements into `q` until done or stopped."""
    try:
        for item in upstream:
            while not stop.is_set():
                try:
                    q.put(item, timeout=_POLL)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return
        item = _DONE
    except BaseException as e:  # noqa: BLE001  (handed to the consumer, raised there)
        item = _Raised(e)
    finally:
        close = getattr(upstream, "close", None)
        del upstream  # the stages above stop now, in this thread
        if close is not None:
            close()
    while not stop.is_set():
        try:
            q.put(item, timeout=_POLL)
            return
        except queue.Full:
            continue


class PrefetchIterator:
    """Iterates `upstream` in a daemon thread, at most `buffer_size` elements ahead."""

    def __init__(self, upstream, buffer_size):
        self._q = queue.Queue(maxsize=buffer_size)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=_produce, args=(upstream, self._q, self._stop),
            name="ft.data.prefetch", daemon=True)
        self._thread.start()
        self._finished = False

    def __iter__(self):
        return self

    def __next__(self):
        if self._finished:
            raise StopIteration
        item = self._q.get()
        if item is _DONE or isinstance(item, _Raised):
            self.close()
            if item is not _DONE:
                raise item.exc
            raise StopIteration
        return item

    def close(self):
        """Stops and joins the producer thread (idempotent)."""
        self._finished = True
        stop, thread = self._stop, self._thread
        if stop.is_set():
            return
        stop.set()
        while True:  # unblock a producer waiting on a full queue
            try:
                self._q.get_nowait()
            except queue.Empty:
                break
        if thread is not threading.current_thread():
            thread.join(timeout=10.0)

    def __del__(self):
        self.close()


class ParallelMapIterator:
    """fn applied to upstream's elements by `workers` threads; yields in input order."""

    def __init__(self, upstream, fn, workers):
        self._upstream = iter(upstream)
        self._fn = fn
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=workers, thread_name_prefix="ft.data.map")
        self._pending = collections.deque()
        self._window = 2 * workers
        self._exhausted = False

    def __iter__(self):
        return self

    def __next__(self):
        while not self._exhausted and len(self._pending) < self._window:
            try:
                item = next(self._upstream)
            except StopIteration:
                self._exhausted = True
                break
            except BaseException:
                self.close()
                raise
            self._pending.append(self._pool.submit(self._fn, item))
        if not self._pending:
            self.close()
            raise StopIteration
        try:
            return self._pending.popleft().result()
        except BaseException:
            self.close()
            raise

    def close(self):
        """Cancels pending calls and joins the worker threads (idempotent)."""
        pool = self._pool
        if pool is None:
            return
        self._pool = None
        self._exhausted = True
        self._pending.clear()
        pool.shutdown(wait=True, cancel_futures=True)
        close = getattr(self._upstream, "close", None)
        self._upstream = iter(())
        if close is not None:
            close()

    def __del__(self):
        self.close()
