"""Builds the bolt app: settings, database, Slack client, listeners and one error handler."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr
from slack_bolt import App, BoltContext, BoltRequest, BoltResponse
from slack_bolt.middleware import Middleware

from bot.audit import seal_with
from bot.db import Database
from bot.identity import SlackIdentity
from bot.jobs import Claimed, DurableLazyListenerRunner, JobQueue, NotRecorded, Workers
from bot.keys import encrypt_with
from bot.settings import Settings
from bot.slack import make_client, meter_requests
from handlers import register_listeners
from handlers.common import Deps, tell_user
from models import utcnow
from services import identifiers

log = logging.getLogger("casehub")


@dataclass
class Casehub:
    """One process's casehub: the app that answers Slack, and the workers that do the work."""

    settings: Settings
    db: Database
    queue: JobQueue
    identity: SlackIdentity
    app: App  # answers Slack's requests, recording their work
    workers: Workers | None  # None: this process answers only, other processes do the work

    def start(self) -> Casehub:
        """Check the token in the background; start the workers (they wait for the check)."""
        self.identity.start()
        if self.workers is not None:
            self.workers.start()
        return self

    def stats(self) -> dict[str, float | int]:
        """The queue and this process's workers, for `/readyz` and `/metrics`."""
        queue = self.queue.stats()
        alive, expected = self.workers.alive() if self.workers is not None else (0, 0)
        return {
            "queued": queue.queued,
            "running": queue.running,
            "parked": queue.parked,
            "oldest_age_seconds": queue.oldest_age_seconds,
            "workers_alive": alive,
            "workers_expected": expected,
        }

    def stop(self, timeout: float = 25.0) -> None:
        if self.workers is not None:
            self.workers.stop(timeout)
        self.identity.stop()
        self.queue.dispose()


def assemble(settings: Settings, db: Database, *, threads: int | None = None) -> Casehub:
    """Everything a process needs; `threads` overrides JOB_THREADS (a worker process sets it)."""
    seal_with(settings, warn=True)
    encrypt_with(settings)
    queue = JobQueue(
        db,
        lease=settings.job_lease_seconds,
        max_attempts=settings.job_max_attempts,
        retry_after=settings.job_retry_seconds,
    )
    identity = SlackIdentity(make_client(settings))
    threads = settings.job_threads if threads is None else threads
    workers = None
    if threads > 0:
        # The request was verified when it was recorded, and may since be older than a fresh
        # check allows: the workers' app does not check again, and never serves HTTP.
        worker_app = create_app(settings, db, queue, identity, verify_requests=False)
        workers = Workers(
            queue,
            worker_app,
            threads=threads,
            poll=settings.job_poll_seconds,
            ready=identity.wait,
            parked=ParkedNotice(db, settings, identity),
        )
    app = create_app(settings, db, queue, identity, recorded=workers.recorded if workers else None)
    return Casehub(settings, db, queue, identity, app, workers)


class ParkedNotice:
    """Tells the admins, once, of a job parked for good; sent through the notice outbox, so
    that it still goes out if Slack is what failed."""

    def __init__(self, db: Database, settings: Settings, identity: SlackIdentity) -> None:
        self.db, self.settings, self.identity = db, settings, identity

    def __call__(self, job: Claimed, error: str) -> None:
        from flows import notify
        from services import outbox
        from services.reminders import Due

        text = (
            f":warning: casehub could not finish a request ({job.listener}, from "
            f"{'<@' + job.person + '>' if job.person else 'Slack'}) after {job.attempts} attempt(s): "
            f"{error}. It is parked as job {job.id}: `python -m bot jobs list` shows it, "
            f"`python -m bot jobs retry {job.id}` tries it again, `python -m bot jobs drop {job.id}` "
            "gives it up."
        )
        dues = [
            Due(f"job-parked:{job.id}:{admin}", admin, text, None) for admin in self.settings.casehub_admins
        ]
        with self.db.session() as session:
            outbox.record(session, dues)
        try:
            notify.send_ready(
                self.db, self.identity.client, utcnow(), is_open=lambda *_: True, keys=[d.key for d in dues]
            )
        except Exception as error:  # the scheduler's sweep sends it later
            log.warning("could not tell the admins of job %s yet (%s)", job.id, type(error).__name__)


def create_app(
    settings: Settings,
    db: Database,
    queue: JobQueue,
    identity: SlackIdentity,
    *,
    recorded: Callable[[bool], None] | None = None,
    verify_requests: bool = True,
) -> App:
    """The bolt app. Its listeners acknowledge on the request thread and leave their slow part
    to lazy functions, which `queue` records before Slack is answered (`recorded` is called
    after each). Workers run those with an app built with `verify_requests=False`: the request
    was verified when it was recorded, and may since be older than a fresh check allows."""
    client = make_client(settings)
    client.token = None  # each request's client gets the token from `identity.authorize`
    app = App(
        # Socket Mode has no signature to check, and may have no signing secret (`Settings`).
        signing_secret=(settings.slack_signing_secret or SecretStr("")).get_secret_value(),
        client=client,
        # bolt passes the arguments an authorize function names: a plain function, not a method.
        authorize=lambda enterprise_id, team_id, user_id: identity.authorize(enterprise_id, team_id, user_id),
        request_verification_enabled=verify_requests,
        # Acknowledge on the request thread, before any slow work: listeners are
        # registered as an `ack` part and `lazy` parts that run afterwards.
        process_before_response=True,
    )
    app.listener_runner.lazy_listener_runner = DurableLazyListenerRunner(queue, recorded=recorded)
    meter_requests(app)  # every Web API call its listeners make is counted, by method
    app.use(ProvideDeps(Deps(settings=settings, db=db)))
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


def report_error(
    error: Exception, body: dict[str, Any], context: BoltContext, logger: logging.Logger
) -> BoltResponse | None:
    """bolt's last resort, for errors outside a listener (listeners report their own).

    Only a request that has passed all of bolt's checks (signature, authorization) carries
    casehub's dependencies; for any other, nothing it names is written to, and only the
    kind of error is logged.
    """
    if isinstance(error, NotRecorded):
        return not_saved(body, context)
    if "deps" not in context:
        log.warning("refused a request before it was verified: %s", type(error).__name__)
        return BoltResponse(status=401, body='{"error":"invalid request"}')
    tell_user(error, context)
    if context.ack is not None and context.ack.response is None:
        return BoltResponse(status=200, body="")
    return None


NOT_SAVED = (
    ":x: casehub could not save this just now (its database did not answer), so nothing was "
    "done. Please try again in a minute; if it keeps happening, tell your casehub admin."
)


def not_saved(body: dict[str, Any], context: BoltContext) -> BoltResponse:
    """The answer when a request's work could not be recorded: Slack must hear that at once.

    A form stays open under a notice, with what was typed, to be submitted again; a command is
    answered in place; an event is refused, so that Slack delivers it again later.
    """
    log.error("a request's work could not be recorded; the person was told nothing was saved")
    kind = body.get("type")
    if kind == "event_callback":
        return BoltResponse(status=503, body="")
    if kind == "view_submission":
        notice = {
            "type": "modal",
            "title": {"type": "plain_text", "text": "Not saved"},
            "close": {"type": "plain_text", "text": "Back to the form"},
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": NOT_SAVED}}],
        }
        return _json({"response_action": "push", "view": notice})
    if kind == "block_actions" and context.respond is not None:
        # A button's answer is not shown to anyone: tell the person through its response URL,
        # off the request thread so that Slack's answer does not wait on it.
        threading.Thread(target=_tell, args=(context,), daemon=True).start()
        return BoltResponse(status=200, body="")
    return _json({"response_type": "ephemeral", "text": NOT_SAVED})


def _tell(context: BoltContext) -> None:
    try:
        context.respond(text=NOT_SAVED, response_type="ephemeral", replace_original=False)  # type: ignore[misc]
    except Exception as error:
        log.warning("could not tell the person nothing was saved (%s)", type(error).__name__)


def _json(payload: dict[str, Any]) -> BoltResponse:
    return BoltResponse(status=200, body=json.dumps(payload), headers={"content-type": "application/json"})
