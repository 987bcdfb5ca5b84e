"""Builds the bolt app: settings, database, Slack client, listeners and one error handler."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware
from slack_sdk import WebClient

from bot.db import Database
from bot.executor import ListenerExecutor, ordering_key
from bot.settings import Settings
from bot.slack import make_client
from bot.work import HandOffListenerRunner, ProcessLazyListenerRunner
from handlers import register_listeners
from handlers.common import Deps, tell_user
from services import identifiers

log = logging.getLogger("casehub")


def create_app(
    settings: Settings,
    db: Database,
    *,
    client: WebClient | None = None,
    executor: ListenerExecutor | None = None,
    verify_requests: bool = True,
    workers: int | None = None,
) -> App:
    # Whoever passes an executor waits on it (tests, benchmarks): work in worker processes is
    # then counted too. A production process keeps no such count.
    track = executor is not None
    executor = executor or ListenerExecutor(settings.listener_workers)
    app = App(
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        client=client or make_client(settings),
        listener_executor=executor,
        request_verification_enabled=verify_requests,
        # auth.test runs on the first request instead of at import, so a process can
        # start (and report its health) while Slack is briefly unreachable.
        token_verification_enabled=False,
        # Acknowledge on the request thread, before any slow work: listeners are
        # registered as an `ack` part and `lazy` parts that run afterwards.
        process_before_response=True,
    )
    app.use(ProvideDeps(Deps(settings=settings, db=db)))
    app.use(OrderPerPerson())

    processes = settings.work_processes if workers is None else workers
    if processes > 0:
        lazy = ProcessLazyListenerRunner(settings, processes, executor if track else None)
        # Set before app.error(), which installs the error handler on the runner.
        app._listener_runner = HandOffListenerRunner.replacing(app.listener_runner, lazy)
    app.error(report_error)
    register_listeners(app)
    return app


def prepare_identifier_check() -> None:
    """Load the identifier check's models at start-up, so that no request waits for them.

    If it cannot run, the process still starts (status, lists and help need no check) and says
    so once; every free text is refused until the check can run, never shared unchecked.
    """
    try:
        identifiers.warm_up()
    except identifiers.DetectorUnavailable:
        log.error("the identifier check cannot run: free text will be refused until it can")


class ProvideDeps(Middleware):
    """Puts casehub's settings and database in every request's context.

    A middleware class is called as it is; a function would have its arguments worked out
    for each request, on the path to the acknowledgement.
    """

    def __init__(self, deps: Deps) -> None:
        self.deps = deps

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        req.context["deps"] = self.deps
        return next()


class OrderPerPerson(Middleware):
    """Has each person's requests worked on in the order Slack delivered them.

    The slow part of a request is handed over (to the listener pool or to a worker process)
    on this thread once its listener has acknowledged it; the handing over reads whose it is
    from `ordering_key`. bolt found the person while parsing the request: the user of a
    command, an interaction or an event, or none (then the work is not ordered). It is set
    for every request, so a thread that serves one after another never carries a key over.
    """

    def process(
        self, *, req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse | None:
        ordering_key.set(req.context.user_id)
        return next()


def report_error(
    error: Exception, body: dict[str, Any], context: BoltContext, logger: logging.Logger
) -> BoltResponse | None:
    """bolt's last resort, for errors outside a listener (listeners report their own).

    Only a request that has passed all of bolt's checks (signature, authorization) carries
    casehub's dependencies; for any other, nothing it names is written to, and only the
    kind of error is logged.
    """
    if "deps" not in context:
        log.warning("refused a request before it was verified: %s", type(error).__name__)
        return BoltResponse(status=401, body='{"error":"invalid request"}')
    tell_user(error, context)
    if context.ack is not None and context.ack.response is None:
        return BoltResponse(status=200, body="")
    return None
