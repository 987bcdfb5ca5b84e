"""`python -m bot`: the one place that starts anything."""

from __future__ import annotations

import argparse
import os
import sys
import uuid
from pathlib import Path

import yaml

from bot import logs, mail
from bot.db import Database, DatabaseUnavailable, UnmigratedDatabase, open_database
from bot.keys import check_at_start, check_matching_at_start, encrypt_with
from bot.settings import ConfigurationError, Settings, load_settings
from models.encryption import EncryptionError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="casehub")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply database migrations")
    web = commands.add_parser("web", help="serve HTTP at /slack/events under gunicorn")
    web.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")))
    web.add_argument("--threads", type=int, default=int(os.environ.get("WEB_THREADS", "64")))
    commands.add_parser("socket", help="connect to Slack in Socket Mode (needs SLACK_APP_TOKEN)")
    worker = commands.add_parser("worker", help="do the work recorded by web and socket processes")
    worker.add_argument("--threads", type=int, default=None, help="worker threads (default: JOB_THREADS)")
    jobs_cmd = commands.add_parser("jobs", help="see and deal with parked jobs")
    jobs_sub = jobs_cmd.add_subparsers(dest="action", required=True)
    jobs_sub.add_parser("list", help="the queue's state and every parked job")
    for verb, what in (("retry", "try parked jobs again"), ("drop", "give parked jobs up, deleting them")):
        job_verb = jobs_sub.add_parser(verb, help=what)
        job_verb.add_argument("ids", type=int, nargs="+", metavar="ID")
    commands.add_parser("scheduler", help="run reviews, nudges and digests (one active process)")
    audit = commands.add_parser("audit", help="the tamper-evident audit trail and sharing log")
    audit_sub = audit.add_subparsers(dest="action", required=True)
    verify = audit_sub.add_parser("verify", help="walk both chains and report the first broken link")
    verify.add_argument(
        "--checkpoints", type=Path, help="checkpoints to check (default AUDIT_CHECKPOINT_FILE)"
    )
    audit_sub.add_parser("checkpoint", help="verify, then add where each chain ends to AUDIT_CHECKPOINT_FILE")
    grant = commands.add_parser(
        "grant", help="PostgreSQL: let ROLE run casehub, only adding to and reading the chained tables"
    )
    grant.add_argument("role")
    commands.add_parser("holds", help="the cases under a legal hold")
    kept = commands.add_parser("retention", help="the retention schedule of case records")
    kept_sub = kept.add_subparsers(dest="action", required=True)
    kept_sub.add_parser("status", help="how many cases are kept, due, held and deleted (no content)")
    kept_sub.add_parser("run", help="the nightly pass now: warn of what is due soon, delete what is due")
    exporter = commands.add_parser("export", help="export a case: a PDF chronology and a JSON bundle")
    export_sub = exporter.add_subparsers(dest="what", required=True)
    export_case = export_sub.add_parser(
        "case", help="write a case's export, redacted for whom it is for, to two new files"
    )
    export_case.add_argument("reference", help="the case's reference, e.g. K7Q2M9")
    export_case.add_argument(
        "--for", dest="purpose", required=True, metavar="subject|agency|court", help="who it is for"
    )
    export_case.add_argument(
        "--output", type=Path, default=Path("."), metavar="DIR", help="the folder to write to (default: here)"
    )
    notice = commands.add_parser("privacy-notice", help="write the record of processing (GDPR Art. 30)")
    notice.add_argument("--output", type=Path, help="a file to write (default: print it)")
    sandbox = commands.add_parser(
        "sandbox", help="try casehub in a browser: an emulated Slack workspace with a demo partnership"
    )
    sandbox.add_argument("--host", default="127.0.0.1", help="the address to serve the UI on")
    sandbox.add_argument("--port", type=int, default=int(os.environ.get("SANDBOX_PORT", "8000")))
    sandbox.add_argument("--trainee", help="a sandbox of one's own, with its own data (.sandbox/NAME)")
    agencies_cmd = commands.add_parser("agencies", help="manage the agency registry")
    agencies_sub = agencies_cmd.add_subparsers(dest="action", required=True)
    importer = agencies_sub.add_parser("import", help="create or update agencies from a YAML file")
    importer.add_argument("file", type=Path)
    keys_cmd = commands.add_parser("keys", help="the data keys that encrypt what people typed")
    keys_sub = keys_cmd.add_subparsers(dest="action", required=True)
    new = keys_sub.add_parser("new", help="print DATA_KEYS with a new key added (the current one from then)")
    new.add_argument("--id", dest="key_id", help="the new key's id (default: today's date, YYYYMMDD)")
    new.add_argument(
        "--matching", action="store_true", help="print MATCHING_KEY, the blind index's key, instead"
    )
    keys_sub.add_parser("status", help="how many values are under each key")
    rotate = keys_sub.add_parser("rotate", help="re-encrypt every value under the current key, in batches")
    rotate.add_argument("--batch", type=int, default=500, help="rows per transaction (default 500)")
    identities_cmd = commands.add_parser("identities", help="the identities of the people cases are about")
    identities_sub = identities_cmd.add_subparsers(dest="action", required=True)
    reindex = identities_sub.add_parser(
        "reindex", help="make the blind index again under MATCHING_KEY (after changing it, or casehub)"
    )
    reindex.add_argument("--batch", type=int, default=500, help="people per transaction (default 500)")
    args = parser.parse_args(argv)
    logs.configure(os.environ.get("LOG_LEVEL", "INFO"))
    try:
        return run(args)
    except (ConfigurationError, DatabaseUnavailable, UnmigratedDatabase, EncryptionError) as error:
        print(error, file=sys.stderr)
        return 2


def _database_only() -> Settings:
    """Settings for commands that need the database but not Slack (and the keys their audit
    entries are sealed with, and the data keys)."""
    from bot.audit import seal_with

    settings = load_settings(
        slack_bot_token=os.environ.get("SLACK_BOT_TOKEN", "unused"),
        slack_signing_secret=os.environ.get("SLACK_SIGNING_SECRET", "unused"),
    )
    seal_with(settings)
    encrypt_with(settings)
    return settings


def _open(settings: Settings, *, writes_content: bool = False) -> Database:
    """The database, migrated and readable with the data keys configured; `writes_content`: the
    command may encrypt, so a key to encrypt with is required too."""
    db = open_database(settings.database_url)
    db.check_migrated()
    check_at_start(db, require=writes_content)
    return db


def list_holds() -> int:
    from services import holds

    settings = _database_only()
    db = _open(settings)
    with db.reader() as session:
        held = holds.all_active(session)
    print(f"{len(held)} case(s) held")
    for reference, hold in held:
        print(f"  {reference}: since {hold.placed_at:%Y-%m-%d %H:%M} UTC by {hold.placed_by}: {hold.reason}")
    return 0


def retention_command(action: str) -> int:
    from flows import retention as retention_flow
    from models import utcnow
    from services import retention

    settings = _database_only()
    db = open_database(settings.database_url)
    db.check_migrated()
    schedule = retention_flow.schedule_of(settings)
    if action == "run":
        print(f"retention pass: {retention_flow.nightly(db, settings)}")
    with db.reader() as session:
        state = retention.status(session, utcnow(), schedule)
    print(
        f"schedule: {schedule.case_years} years after exit or closure; {schedule.screened_out_months} "
        f"months for a referral closed at screening; warning {schedule.warning_days} days before"
    )
    print(f"  open cases:               {state.open_cases}")
    print(f"  closed, record kept:      {state.closed_kept}")
    print(f"  warned, due within {schedule.warning_days} d: {state.warned}")
    print(f"  held:                     {state.held}")
    print(f"  due, not yet deleted:     {state.overdue}")
    print(f"  deleted (marker left):    {state.purged}")
    print(f"  messages to delete:       {state.messages_pending} (Slack refused {state.messages_failed})")
    return 0


def export_case(reference: str, purpose_word: str, output: Path) -> int:
    """`export case REF --for PURPOSE`: two new files, their paths printed; one line and exit
    status 2 for a purpose, a case or a folder that will not do, and nothing written."""
    from flows import exporting
    from services import cases, export
    from services.errors import CasehubError

    settings = _database_only()
    db = open_database(settings.database_url)
    db.check_migrated()
    try:
        purpose = export.parse_purpose(purpose_word)
        if not output.is_dir():
            raise CasehubError(f"{output} is not a folder: give --output an existing folder.")
        with db.reader() as session:
            case = cases.get_by_reference(session, reference)
            asked = exporting.Asked(
                _operator(), case.id, case.reference, purpose, f"cli:export:{uuid.uuid4().hex}"
            )
        paths = exporting.write(db, settings, asked, output)
    except CasehubError as error:
        print(_plain(error.message), file=sys.stderr)
        return 2
    except FileExistsError as error:
        print(
            f"{error.args[0]} exists already: move it, or write to another --output folder.", file=sys.stderr
        )
        return 2
    except OSError as error:
        print(f"cannot write to {output}: {error.strerror or type(error).__name__}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


def _operator() -> str:
    """Who exports on the command line, as the access log and the audit trail record it."""
    import getpass

    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no login name and no user database entry
        user = "unknown"
    return f"cli:{user}"[:32]


def _plain(message: str) -> str:
    """A refusal written for Slack, on a terminal: without its mrkdwn backticks."""
    return message.replace("`", "")


def privacy_notice(output: Path | None) -> int:
    from models import utcnow
    from services import privacy

    settings = _database_only()
    db = _open(settings)
    config = privacy.Configuration(
        sharing_bases=dict(settings.sharing_bases),
        dpos=list(settings.casehub_dpos),
        audit_key_ids=list(settings.audit_keys),
        data_key_ids=list(settings.data_keys),
        checkpoint_file=settings.audit_checkpoint_file,
        verify_time=settings.audit_verify_time.strftime("%H:%M"),
        mail=settings.smtp_url is not None,
        mail_includes_summary=settings.smtp_include_summary,
        database="PostgreSQL" if db.engine.dialect.name == "postgresql" else "SQLite",
        outbox_days=settings.retention_outbox_days,
        deliveries_days=settings.retention_deliveries_days,
        case_years=settings.retention_case_years,
        screened_out_months=settings.retention_screened_out_months,
        warning_days=settings.retention_warning_days,
    )
    with db.reader() as session:
        text = privacy.record_of_processing(session, config, today=utcnow().date())
    if output is None:
        print(text)
    else:
        output.write_text(text, encoding="utf-8")
        print(f"wrote {output}")
    return 0


def audit_chains(action: str, checkpoints: Path | None) -> int:
    """`audit verify`: 0 when both chains are intact, 1 at the first broken link."""
    from flows import audit_check

    settings = _database_only()
    db = _open(settings)
    path = checkpoints or Path(settings.audit_checkpoint_file)
    try:
        report = audit_check.verify(db, path)
    except ValueError as error:
        raise ConfigurationError(str(error)) from None
    print(report.summary())
    if action == "checkpoint" and report.intact:
        audit_check.keep_checkpoints(path, report.checkpoints())
        print(f"checkpoint added to {path}")
    return 0 if report.intact else 1


def run(args: argparse.Namespace) -> int:
    if args.command == "migrate":
        settings = _database_only()
        db = open_database(settings.database_url)
        check_at_start(db)  # an earlier migration's keys, before a later one uses them
        db.migrate()
        check_at_start(db)
        print("database is up to date")
        return 0
    if args.command == "keys":
        if getattr(args, "matching", False):
            return new_matching_key()
        return manage_keys(args.action, getattr(args, "key_id", None), getattr(args, "batch", 500))
    if args.command == "identities":
        return reindex_identities(args.batch)
    if args.command == "agencies":
        return import_agencies(args.file)
    if args.command == "jobs":
        return manage_jobs(args.action, getattr(args, "ids", []))
    if args.command == "sandbox":
        return serve_sandbox(args.host, args.port, args.trainee)
    if args.command == "audit":
        return audit_chains(args.action, getattr(args, "checkpoints", None))
    if args.command == "holds":
        return list_holds()
    if args.command == "retention":
        return retention_command(args.action)
    if args.command == "privacy-notice":
        return privacy_notice(args.output)
    if args.command == "export":
        return export_case(args.reference, args.purpose, args.output)
    if args.command == "grant":
        from bot.audit import grant

        settings = _database_only()
        db = open_database(settings.database_url)
        check_at_start(db, require=False)
        for statement in grant(db, args.role):
            print(statement)
        return 0
    settings = load_settings()
    logs.log_slack_requests(settings.log_slack_requests)
    encrypt_with(settings)
    db = _open(settings, writes_content=True)
    if args.command != "scheduler":  # the processes that answer people, and so the record desk
        check_matching_at_start(db)
    mail.check_at_start(settings)
    if args.command == "web":
        settings.signing_secret()  # HTTP cannot be served without it: said before anything starts
        return serve_http(settings, args.workers, args.threads)
    if args.command == "worker":
        return serve_jobs(settings, args.threads)
    if args.command == "scheduler":
        from bot import scheduler

        scheduler.run(settings)
        return 0
    return serve_socket(settings)


def import_agencies(path: Path) -> int:
    from services import agencies, areas
    from services.errors import CasehubError

    settings = _database_only()
    db = _open(settings)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        print(f"cannot read {path}: {error.strerror or type(error).__name__}", file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print(f"cannot read {path}: it is not UTF-8 text", file=sys.stderr)
        return 2
    except yaml.MarkedYAMLError as error:
        # The parser's own account spans several lines, with a snippet of the file.
        mark = error.problem_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        print(f"{path} is not valid YAML{at}: {error.problem}", file=sys.stderr)
        return 2
    except yaml.YAMLError as error:
        print(f"{path} is not valid YAML ({type(error).__name__})", file=sys.stderr)
        return 2
    try:
        with db.session() as session:
            ref = f"cli:agencies-import:{path.name}"
            summary = agencies.import_registry(session, data, actor="cli", request_ref=ref)
            placed = areas.import_areas(session, data, actor="cli", request_ref=ref)
    except CasehubError as error:
        print(f"{path}: {error} Nothing was imported.", file=sys.stderr)
        return 2
    print(
        f"imported {path}: {summary.added} new agencies, {summary.updated} updated, "
        f"{summary.roles_set} roles set; {placed.added} new areas, {placed.updated} updated, "
        f"{placed.joined} agencies joined an area, {placed.overseers} overseers added"
    )
    return 0


def manage_keys(action: str, key_id: str | None, batch: int) -> int:
    from bot import keys

    settings = _database_only()
    if action == "new":
        line, made = keys.new_key_line(settings, key_id)
        print(line)
        print(
            f"a new data key {made!r}: put the line above in the environment or .env in place of any "
            "DATA_KEYS, keep a copy somewhere safe, restart casehub, then run `python -m bot keys rotate`"
            if settings.data_keys
            else f"a new data key {made!r}: put the line above in the environment or .env and keep a "
            "copy somewhere safe: without it the case content cannot be read",
            file=sys.stderr,
        )
        return 0
    if action == "status":
        print(keys.status(_open(settings)).summary())
        return 0
    if not 1 <= batch <= 100_000:
        raise ConfigurationError("--batch takes a number of rows from 1 to 100000")
    db = _open(settings, writes_content=True)
    print(f"re-encrypting every value not under the data key {settings.data_keyring()[1]!r}", flush=True)
    done: dict[str, int] = {}

    def progress(table: str, values: int) -> None:
        done[table] = done.get(table, 0) + values
        print(f"  {table}: {done[table]} value(s) so far", flush=True)

    rotation = keys.rotate(db, batch=batch, progress=progress)
    print(rotation.summary())
    return 0 if not rotation.left else 1


def new_matching_key() -> int:
    """`keys new --matching`: a new MATCHING_KEY line (the settings are not read: a key that is
    wrong must not stop the making of a right one)."""
    from bot import keys

    print(keys.new_matching_key_line())
    print(
        "a new matching key: put the line above in the environment or .env; if it replaces a key "
        "the identity index was made with, run `python -m bot identities reindex` before starting casehub",
        file=sys.stderr,
    )
    return 0


def reindex_identities(batch: int) -> int:
    """`identities reindex`: every person's digests made again under MATCHING_KEY, in batches."""
    from bot.keys import NO_MATCHING_KEY
    from services import identity, identity_index

    settings = _database_only()
    if not identity_index.configured():
        raise ConfigurationError(NO_MATCHING_KEY)
    if not 1 <= batch <= 100_000:
        raise ConfigurationError("--batch takes a number of people from 1 to 100000")
    db = _open(settings)
    done = 0

    def progress(people: int) -> None:
        nonlocal done
        done += people
        print(f"  {done} people indexed again so far", flush=True)

    total = identity.reindex(db.session, batch=batch, after_batch=progress)
    print(f"{total} people indexed again under the current MATCHING_KEY; the index is up to date")
    return 0


def manage_jobs(action: str, ids: list[int]) -> int:
    from bot.jobs import JobQueue

    settings = _database_only()
    db = _open(settings)
    queue = JobQueue(db)
    if action == "list":
        stats = queue.stats()
        print(
            f"{stats.queued} queued (the oldest waiting {stats.oldest_age_seconds:.0f} s), "
            f"{stats.running} running, {stats.parked} parked"
        )
        for job in queue.parked():
            who = job.person or "-"
            print(
                f"  job {job.id}: {job.listener} from {who}, {job.attempts} attempt(s), last error "
                f"{job.last_error or '-'}, received {job.created_at:%Y-%m-%d %H:%M} UTC"
            )
        return 0
    changed = queue.requeue(ids) if action == "retry" else queue.drop(ids)
    verb = "queued again" if action == "retry" else "dropped"
    print(
        f"{changed} of {len(ids)} job(s) {verb}"
        + ("" if changed == len(ids) else " (the others are not parked)")
    )
    return 0 if changed == len(ids) else 1


def serve_sandbox(host: str, port: int, trainee: str | None) -> int:
    """The sandbox until Ctrl-C: each start begins again from the seeded partnership."""
    import re
    import signal
    import threading

    from sandbox.runtime import Sandbox
    from sandbox.seed import SeedFailed
    from sandbox.ui import UI, Unavailable, serve

    if trainee is not None and not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", trainee):
        raise ConfigurationError("--trainee takes a short name: lower-case letters, digits and hyphens")
    # A quiet console: the sandbox says when it is ready and where (LOG_LEVEL=INFO for more).
    logs.configure(os.environ.get("LOG_LEVEL", "WARNING"))
    data = Path(".sandbox") / (trainee or "default")
    print(
        "casehub sandbox: starting an emulated Slack workspace and seeding the demo partnership…", flush=True
    )
    sandbox = Sandbox(data)
    try:
        ui = UI(sandbox)
        server = serve(ui, host=host, port=port)
    except Unavailable as missing:
        raise ConfigurationError(f"the sandbox cannot start: {missing}") from None
    except OSError as error:
        raise ConfigurationError(
            f"the sandbox cannot serve on {host}:{port} ({error.strerror}): choose another with --port"
        ) from None
    try:
        try:
            sandbox.start()
        except SeedFailed as failed:
            raise ConfigurationError(f"the sandbox could not seed its demo partnership: {failed}") from None
        except OSError as error:
            raise ConfigurationError(
                f"the sandbox cannot keep its files in {data} ({error.strerror or type(error).__name__})"
            ) from None
        stop = threading.Event()
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, lambda *_: stop.set())
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        print(
            f"casehub sandbox ready: open http://{shown}:{server.server_address[1]}/ in a browser "
            "(Ctrl-C to stop). Nothing here reaches Slack.",
            flush=True,
        )
        stop.wait()
    except KeyboardInterrupt:  # Ctrl-C while it was still starting
        return 130
    finally:
        server.shutdown()
        server.server_close()
        sandbox.stop()
    return 0


def serve_jobs(settings: Settings, threads: int | None) -> int:
    """A worker process: claims and does jobs until told to stop, finishing what it has."""
    import signal
    import threading

    from bot.app import assemble, prepare_identifier_check

    casehub = assemble(
        settings, Database(settings.database_url), threads=threads or settings.job_threads or 4
    )
    prepare_identifier_check()
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    casehub.start()
    print("casehub worker: waiting for jobs", file=sys.stderr)
    stop.wait()
    casehub.stop()
    return 0


def serve_http(settings: Settings, workers: int, threads: int) -> int:
    from gunicorn.app.base import BaseApplication

    from bot.web import WSGIApp, application_from_environment

    class Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"0.0.0.0:{settings.port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", threads)
            self.cfg.set("accesslog", "-")
            self.cfg.set("graceful_timeout", 30)

        # gunicorn's stubs type the WSGI environ as a MutableMapping where the standard library's
        # WSGI types (and so this application) use a dict.
        def load(self) -> WSGIApp:  # type: ignore[override]
            return application_from_environment()

    Server().run()
    return 0


def serve_socket(settings: Settings) -> int:
    """Socket Mode: connections to Slack, the workers, and `/healthz`, `/readyz` and `/metrics`
    on PORT (there is no Slack endpoint to serve)."""
    import signal
    import threading

    from bot.app import assemble, prepare_identifier_check
    from bot.serving import BackgroundServer
    from bot.socket import SocketLinks, SocketStatus
    from bot.web import desk_for, wsgi_app

    if settings.slack_app_token is None:
        raise ConfigurationError("casehub cannot start: SLACK_APP_TOKEN is not set (Socket Mode needs it)")
    casehub = assemble(settings, Database(settings.database_url))
    prepare_identifier_check()
    casehub.start()
    links = SocketLinks(
        casehub.app, settings.slack_app_token.get_secret_value(), connections=settings.socket_connections
    )
    health = wsgi_app(
        None,
        casehub.db,
        "",  # no Slack endpoint: nothing to check a signature of
        queue=casehub,
        slack=SocketStatus(casehub.identity, links),
        desk=desk_for(casehub.db, settings),
    )
    try:
        server = BackgroundServer(health, host="0.0.0.0", port=settings.port).start()
    except OSError as error:
        casehub.stop()
        raise ConfigurationError(
            f"casehub cannot start: port {settings.port} cannot be served ({error.strerror}); set PORT"
        ) from None
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    links.start()
    try:
        stop.wait()
    finally:
        links.stop()
        server.stop()
        casehub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
