"""The thread pool that runs listeners after their acknowledgement."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class ListenerExecutor(ThreadPoolExecutor):
    """A thread pool that can say when all the work handed to it is finished.

    Graceful shutdown waits on it, and so do tests, instead of sleeping.
    """

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix="listener")
        self._pending = 0
        self._idle = threading.Condition()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._idle:
            self._pending += 1
        future = super().submit(fn, *args, **kwargs)
        future.add_done_callback(self._done)
        return future

    def track(self, future: Future[Any]) -> None:
        """Count work running elsewhere (a worker process) until it is done."""
        with self._idle:
            self._pending += 1
        future.add_done_callback(self._done)

    def _done(self, _future: Future[Any]) -> None:
        with self._idle:
            self._pending -= 1
            if self._pending == 0:
                self._idle.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)
