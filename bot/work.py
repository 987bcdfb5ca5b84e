"""Running listeners' slow parts in worker processes, away from the acknowledging process.

The web process verifies a request, acknowledges it and queues the raw request for
worker processes, each with its own app, which run the named lazy listener. Slow Slack
calls and database writes then compete for another core, at the lowest priority, not
for the interpreter lock of the thread that must answer Slack.

The request thread only appends to an in-memory queue, which never blocks; one
dispatcher thread hands each request to a worker that has said it is idle, through that
worker's own pipe, and is the only thing that waits when the workers fall behind. (A
process pool's own hand-off can block the submitting thread once its wake-up pipe fills
under a backlog, and with it the acknowledgement.) No lock is shared with the workers
for reading work, so a worker that is killed (say, by the out-of-memory killer) cannot
leave the others stuck behind it: it is replaced, and the rest carry on.

One person's requests are worked on in the order they were acknowledged: the dispatcher
holds back a request while an earlier one of the same person is in a worker, and hands
it over once that one is reported done (or its worker is found dead). Held requests wait
aside, so other people's work goes past them to the idle workers.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from slack_bolt import App
from slack_bolt.lazy_listener import LazyListenerRunner
from slack_bolt.listener.thread_runner import ThreadListenerRunner
from slack_bolt.request import BoltRequest
from slack_bolt.util.utils import get_name_for_callable

from bot import logs
from bot.executor import Lines, ListenerExecutor, ordering_key
from bot.settings import Settings

log = logging.getLogger(__name__)
_STOP = None


def _worker(settings: Settings, ident: int, jobs: Any, reports: Any) -> None:
    from bot.app import create_app, prepare_identifier_check
    from bot.db import Database

    run_at_lowest_priority()
    # Stopping is the web process's call: it sends a stop once everything acknowledged has
    # been handed over. A platform stopping the whole process group must not cut a job short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logs.configure(logging.INFO)
    logs.log_slack_requests(settings.log_slack_requests)
    # The web process has verified the signature already; a queued request may be older
    # than the five minutes a fresh verification allows.
    app: App = create_app(settings, Database(settings.database_url), verify_requests=False, workers=0)
    prepare_identifier_check()
    reports.put((ident, None))  # ready for work
    while True:
        try:
            job = jobs.recv()
        except EOFError:  # the web process is gone without saying so
            return
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
            reports.put((ident, token))  # done, and ready for the next


def run_at_lowest_priority() -> None:
    """Run this process only when the acknowledging process does not need the CPU.

    Acknowledging is latency-bound and this work is throughput-bound. Linux's SCHED_IDLE
    gives way at once when another process wakes up (a niced process may finish its
    time slice first); elsewhere the lowest nice value is the nearest thing.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError):
        os.nice(19)


class HandOffListenerRunner(ThreadListenerRunner):
    """bolt's listener runner, handing lazy listeners' requests to the workers as they came.

    For a thread, bolt deep-copies the request and its context (client, logger, settings)
    before starting a lazy listener: most of what an acknowledgement costs. A worker
    process rebuilds both from the raw request, so the copy is skipped.
    """

    @classmethod
    def replacing(cls, runner: ThreadListenerRunner, lazy: LazyListenerRunner) -> HandOffListenerRunner:
        return cls(
            logger=runner.logger,
            process_before_response=runner.process_before_response,
            listener_error_handler=runner.listener_error_handler,
            listener_start_handler=runner.listener_start_handler,
            listener_completion_handler=runner.listener_completion_handler,
            listener_executor=runner.listener_executor,
            lazy_listener_runner=lazy,
        )

    def _start_lazy_function(self, lazy_func: Callable[..., None], request: BoltRequest) -> None:
        self.lazy_listener_runner.start(function=lazy_func, request=request)


@dataclass
class _Job:
    body: str
    headers: dict[str, Any]
    listener: str  # the lazy listener's name
    token: int | None  # reported back when done, for whoever waits on the work
    key: str | None  # whose request it is (see `ordering_key`); None: no one to wait for
    cleared: bool = False  # its person's earlier work is over: it goes to the next idle worker

    def message(self) -> tuple[Any, ...]:
        """What the worker is sent."""
        return (self.body, self.headers, self.listener, self.token)


@dataclass
class _Worker:
    process: Any
    jobs: Any  # the sending end of this worker's own pipe
    ready: bool = False  # it has built its app and asked for work
    running: _Job | None = None


class ProcessLazyListenerRunner(LazyListenerRunner):
    def __init__(self, settings: Settings, processes: int, tracker: ListenerExecutor | None = None) -> None:
        self.logger = log
        context = multiprocessing.get_context("spawn")
        self._settings, self._processes, self._context = settings, processes, context
        self._backlog: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lines: Lines[_Job] = Lines()  # each person's requests held back behind the one in hand
        self._lines_lock = threading.Lock()
        self._stopping = False  # the dispatcher has taken the stop, and hands over what is held
        self._idle: queue.SimpleQueue[int] = queue.SimpleQueue()  # workers waiting for a request
        self._reports = context.SimpleQueue()  # from the workers: (worker, finished token)
        self._tracker = tracker
        self._pending: dict[int, Future[None]] = {}
        self._tokens = iter(range(1, 1 << 62))
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._workers: dict[int, _Worker] = {}
        self._started_in: int | None = None

    def start_workers(self) -> None:
        """Start the worker processes and the threads that feed them, once per process.

        The serving process calls it at start-up, so that workers are ready before the
        first request. It is not done on construction: a server that forks after loading
        the app would not carry these threads over, so a forked process starts its own.
        """
        with self._lock:
            if self._started_in == os.getpid():
                return
            self._started_in = os.getpid()
            self._workers = {}
            for _ in range(self._processes):
                self._spawn()
            threading.Thread(target=self._dispatch, name="work-dispatch", daemon=True).start()
            threading.Thread(target=self._collect, name="work-reports", daemon=True).start()
            # Before multiprocessing's own clean-up, which would end the workers mid-job.
            atexit.register(self.shutdown)

    def _spawn(self) -> None:
        ident = next(self._ids)
        reader, writer = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_worker, args=(self._settings, ident, reader, self._reports), daemon=True
        )
        process.start()
        reader.close()  # the worker has it now: sending to a dead worker fails rather than waits
        self._workers[ident] = _Worker(process, writer)

    def status(self) -> dict[str, int]:
        """Worker processes up and ready (of how many there should be), and the work in hand."""
        workers = list(self._workers.values())
        return {
            "ready": sum(worker.ready and worker.process.is_alive() for worker in workers),
            "expected": self._processes,
            "queued": self._backlog.qsize() + self._held(),
            "running": sum(worker.running is not None for worker in workers),
        }

    def start(self, function: Callable[..., None], request: BoltRequest) -> None:
        if self._started_in != os.getpid():
            self.start_workers()
        token = None
        if self._tracker is not None:  # someone waits for the work to finish (tests, benchmarks)
            token = next(self._tokens)
            future: Future[None] = Future()
            self._pending[token] = future
            self._tracker.track(future)
        name = get_name_for_callable(function)
        self._backlog.put(_Job(request.raw_body, request.headers, name, token, ordering_key.get()))

    def _dispatch(self) -> None:
        self._stopping = False
        looked = time.monotonic()
        while True:
            if self._stopping and self._all_handed_over():
                for worker in self._workers.values():
                    self._send(worker, _STOP)
                return
            try:
                job = self._backlog.get(timeout=1.0)
            except queue.Empty:  # a quiet moment: look after the workers
                self._replace_dead_workers()
                looked = time.monotonic()
                continue
            if time.monotonic() - looked > 1.0:  # a busy one: a dead worker may hold someone's work
                self._replace_dead_workers()
                looked = time.monotonic()
            if job is _STOP:  # once what is held back has been handed over too
                self._stopping = True
                continue
            if not self._admit(job):
                continue
            while not self._hand_over(job):
                pass

    def _admit(self, job: _Job) -> bool:
        """Whether the job may go to a worker now; if not, it waits for its person's earlier one."""
        if job.key is None or job.cleared:
            return True
        with self._lines_lock:
            return self._lines.join(job.key, job)

    def _release(self, job: _Job) -> None:
        """The job is over (done, or lost with its worker): its person's next one may go."""
        if job.key is None:
            return
        with self._lines_lock:
            following = self._lines.leave(job.key)
            if following is not None:
                following.cleared = True
                # Under the lock, so that a held job is always in its line or in the backlog.
                self._backlog.put(following)

    def _all_handed_over(self) -> bool:
        with self._lines_lock:
            return self._backlog.empty() and not self._lines.waiting()

    def _held(self) -> int:
        with self._lines_lock:
            return self._lines.waiting()

    def _take_running(self, worker: _Worker) -> _Job | None:
        """The job the worker had, now over; taken once, by whoever learns of it first."""
        with self._lines_lock:
            job, worker.running = worker.running, None
        return job

    def _hand_over(self, job: _Job) -> bool:
        try:
            ident = self._idle.get(timeout=1.0)
        except queue.Empty:  # all busy; or some dead, never to ask again
            self._replace_dead_workers()
            return False
        worker = self._workers.get(ident)
        if worker is None:
            return False
        worker.running = job  # before sending: the worker may report back at once
        if not self._send(worker, job.message()):
            worker.running = None  # it never got it
            self._replace_dead_workers()
            return False
        return True

    @staticmethod
    def _send(worker: _Worker, message: tuple[Any, ...] | None) -> bool:
        try:
            worker.jobs.send(message)
        except OSError:  # the worker has died
            return False
        return True

    def _collect(self) -> None:
        while True:
            ident, token = self._reports.get()
            worker = self._workers.get(ident)
            if worker is not None:
                done = self._take_running(worker)
                worker.ready = True
                self._idle.put(ident)
                if done is not None:
                    self._release(done)
            self._finished(token)

    def _finished(self, token: int | None) -> None:
        future = self._pending.pop(token, None) if token is not None else None
        if future is not None:
            future.set_result(None)

    def _replace_dead_workers(self) -> None:
        for ident, worker in list(self._workers.items()):
            if worker.process.exitcode is None:
                continue
            lost = self._take_running(worker)
            if lost is not None:
                log.error(
                    "worker process %s died (exit code %s) while running %s; that request's work is lost",
                    worker.process.pid,
                    worker.process.exitcode,
                    lost.listener,
                )
                self._release(lost)
                self._finished(lost.token)
            else:
                log.error(
                    "worker process %s died (exit code %s)", worker.process.pid, worker.process.exitcode
                )
            del self._workers[ident]
            worker.jobs.close()
            self._spawn()

    def shutdown(self, timeout: float = 25.0) -> None:
        """Let the workers finish what has been acknowledged, then stop them.

        Runs when the serving process exits (a deploy, a restart): queued requests are
        still handed over, and each worker stops once it has finished. Within `timeout`
        (inside the 30 seconds platforms allow between asking and forcing a process to
        stop); what is left after that is logged.
        """
        with self._lock:
            if self._started_in != os.getpid():
                return
            self._started_in = None
        self._backlog.put(_STOP)
        deadline = time.monotonic() + timeout
        for worker in list(self._workers.values()):
            worker.process.join(max(0.0, deadline - time.monotonic()))
        stuck = [worker for worker in self._workers.values() if worker.process.is_alive()]
        for worker in stuck:
            worker.process.kill()
        if stuck:
            log.error(
                "stopped after %.0f s with work unfinished: %d request(s) not started, %d cut short (%s)",
                timeout,
                max(0, self._backlog.qsize() - (0 if self._stopping else 1)) + self._held(),
                len(stuck),
                ", ".join(worker.running.listener for worker in stuck if worker.running) or "idle",
            )
