"""Running listeners' slow parts in worker processes, away from the acknowledging process.

The web process verifies a request, acknowledges it and queues the raw request for
worker processes, each with its own app, which run the named lazy listener. Slow Slack
calls and database writes then compete for another core, at the lowest priority, not
for the interpreter lock of the thread that must answer Slack.

The request thread only appends to an in-memory queue, which never blocks; one
dispatcher thread feeds the workers' pipe and is the only thing that waits when the
workers fall behind. (A process pool's own hand-off can block the submitting thread
once its wake-up pipe fills under a backlog, and with it the acknowledgement.)
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from slack_bolt import App
from slack_bolt.lazy_listener import LazyListenerRunner
from slack_bolt.request import BoltRequest
from slack_bolt.util.utils import get_name_for_callable

from bot.executor import ListenerExecutor
from bot.settings import Settings

log = logging.getLogger(__name__)
_STOP = None


def _worker(settings: Settings, jobs: Any, done: Any) -> None:
    from bot.app import create_app
    from bot.db import Database

    os.nice(19)  # acknowledging is latency-bound and this is throughput-bound: the web process goes first
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The web process has verified the signature already; a queued request may be older
    # than the five minutes a fresh verification allows.
    app: App = create_app(settings, Database(settings.database_url), verify_requests=False, workers=0)
    while True:
        job = jobs.get()
        if job is _STOP:
            return
        body, headers, function_name, token = job
        try:
            request = BoltRequest(body=body, headers=headers)
            request.lazy_only = True
            request.lazy_function_name = function_name
            app.dispatch(request)
        except Exception:
            log.exception("a deferred listener failed")
        finally:
            if token is not None:
                done.put(token)


class ProcessLazyListenerRunner(LazyListenerRunner):
    def __init__(self, settings: Settings, processes: int, tracker: ListenerExecutor | None = None) -> None:
        self.logger = log
        context = multiprocessing.get_context("spawn")
        self._settings, self._processes, self._context = settings, processes, context
        self._backlog: queue.SimpleQueue[tuple[Any, ...] | None] = queue.SimpleQueue()
        self._jobs = context.SimpleQueue()
        self._done = context.SimpleQueue()
        self._tracker = tracker
        self._pending: dict[int, Future[None]] = {}
        self._tokens = iter(range(1, 1 << 62))
        self._lock = threading.Lock()
        self._workers: list[Any] = []

    def _start(self) -> None:
        # Lazily, on first use: a forking server (gunicorn) must not inherit these threads.
        with self._lock:
            if self._workers:
                return
            self._workers = [
                self._context.Process(
                    target=_worker, args=(self._settings, self._jobs, self._done), daemon=True
                )
                for _ in range(self._processes)
            ]
            for worker in self._workers:
                worker.start()
            threading.Thread(target=self._dispatch, name="work-dispatch", daemon=True).start()
            if self._tracker is not None:
                threading.Thread(target=self._collect, name="work-done", daemon=True).start()

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        self._start()
        token = None
        if self._tracker is not None:  # someone waits for the work to finish (tests, benchmarks)
            token = next(self._tokens)
            future: Future[None] = Future()
            self._pending[token] = future
            self._tracker.track(future)
        self._backlog.put((request.raw_body, request.headers, get_name_for_callable(function), token))

    def _dispatch(self) -> None:
        while True:
            self._jobs.put(self._backlog.get())

    def _collect(self) -> None:
        while True:
            token = self._done.get()
            future = self._pending.pop(token, None)
            if future is not None:
                future.set_result(None)

    def shutdown(self) -> None:
        for _ in self._workers:
            self._backlog.put(_STOP)
        for worker in self._workers:
            worker.join(timeout=10)
