"""The thread pool that runs listeners after their acknowledgement, one person's work in order."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

# Whose request the work handed over on this thread comes from (a Slack user ID), or None
# when it has no one to be ordered with. Set on the request thread for every request before
# its listeners run, and read there when they hand their slow part over.
ordering_key: ContextVar[str | None] = ContextVar("ordering_key", default=None)

_Job = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]
_W = TypeVar("_W")


class Lines(Generic[_W]):
    """One line per person: a piece of work waits until their earlier pieces are over.

    Only the bookkeeping; whoever uses it holds their own lock around it.
    """

    def __init__(self) -> None:
        # For each key with work in hand: the work waiting behind it.
        self._lines: dict[str, deque[_W]] = {}

    def join(self, key: str, work: _W) -> bool:
        """True when nothing of `key`'s is in hand: `work` now is, and may start. Else it waits."""
        line = self._lines.get(key)
        if line is None:
            self._lines[key] = deque()
            return True
        line.append(work)
        return False

    def leave(self, key: str) -> _W | None:
        """`key`'s work in hand is over: their next piece, now in hand, if there is one."""
        line = self._lines.get(key)
        if not line:
            self._lines.pop(key, None)
            return None
        return line.popleft()

    def clear(self, key: str) -> list[_W]:
        """Forget `key`'s line, giving back what waited in it."""
        return list(self._lines.pop(key, ()))

    def waiting(self) -> int:
        return sum(len(line) for line in self._lines.values())


class ListenerExecutor(ThreadPoolExecutor):
    """A thread pool that runs one person's work in the order it was handed over.

    Two commands typed back to back (`/agency add x`, then `/agency member add x @sam`) are
    acknowledged in that order, and the second may rely on the first. Work handed over
    under an `ordering_key` starts only once everything handed over earlier under the same
    key has finished; it waits without holding a thread, so other people's work carries on.

    It can also say when all the work handed to it is finished: graceful shutdown waits on
    it, and so do tests, instead of sleeping.
    """

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="listener")
        self._pending = 0
        self._idle = threading.Condition()
        self._lines: Lines[_Job] = Lines()
        self._lines_lock = threading.Lock()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        key = ordering_key.get()
        with self._idle:
            self._pending += 1
        try:
            if key is None:
                future = super().submit(fn, *args, **kwargs)
            else:
                future = self._in_line(key, fn, args, kwargs)
        except RuntimeError:  # shut down already
            self._done()
            raise
        future.add_done_callback(self._done)
        return future

    def _in_line(
        self, key: str, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Future[Any]:
        job: _Job = (Future(), fn, args, kwargs)
        with self._lines_lock:
            if not self._lines.join(key, job):  # this person's earlier work is not over: it waits
                return job[0]
        try:
            super().submit(self._run_line, key, job)
        except RuntimeError:  # what joined the line behind this will not run either
            with self._lines_lock:
                stranded = self._lines.clear(key)
            for waiting, *_ in stranded:
                waiting.cancel()
            raise
        return job[0]

    def _run_line(self, key: str, job: _Job | None) -> None:
        """Run one person's work, then whatever of theirs arrived meanwhile, on this thread."""
        while job is not None:
            future, fn, args, kwargs = job
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args, **kwargs)
                except BaseException as error:  # as the pool itself does: kept on the future
                    future.set_exception(error)
                else:
                    future.set_result(result)
            with self._lines_lock:
                job = self._lines.leave(key)

    def track(self, future: Future[Any]) -> None:
        """Count work running elsewhere (a worker process) until it is done."""
        with self._idle:
            self._pending += 1
        future.add_done_callback(self._done)

    def _done(self, _future: Future[Any] | None = None) -> None:
        with self._idle:
            self._pending -= 1
            if self._pending == 0:
                self._idle.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)
