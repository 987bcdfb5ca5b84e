"""Running listeners' slow parts in worker processes, away from the acknowledging process.

The web process verifies a request, acknowledges it and hands the raw request to a
worker process, which builds its own app and runs the named lazy listener. Slow
Slack calls and database writes then compete for another core, not for the
interpreter lock of the thread that must answer Slack within 3 seconds.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

from slack_bolt import App
from slack_bolt.lazy_listener import LazyListenerRunner
from slack_bolt.request import BoltRequest
from slack_bolt.util.utils import get_name_for_callable

from bot.executor import ListenerExecutor
from bot.settings import Settings

log = logging.getLogger(__name__)
_worker_app: App | None = None


def _start_worker(settings: Settings) -> None:
    global _worker_app
    from bot.app import create_app
    from bot.db import Database

    # Acknowledging is latency-bound and this is throughput-bound: let the web process go first.
    os.nice(19)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The web process has verified the signature already; a queued request may be older
    # than the five minutes a fresh verification allows.
    _worker_app = create_app(settings, Database(settings.database_url), verify_requests=False, workers=0)


def _run(body: str, headers: dict[str, list[str]], function_name: str) -> None:
    assert _worker_app is not None
    request = BoltRequest(body=body, headers=headers)
    request.lazy_only = True
    request.lazy_function_name = function_name
    _worker_app.dispatch(request)


class ProcessLazyListenerRunner(LazyListenerRunner):
    def __init__(self, settings: Settings, processes: int, tracker: ListenerExecutor) -> None:
        self.logger = log
        self._tracker = tracker
        self._pool = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(settings,),
        )

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        future = self._pool.submit(_run, request.raw_body, request.headers, get_name_for_callable(function))
        self._tracker.track(future)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)
