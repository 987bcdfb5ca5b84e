"""`python -m bot`: the one place that starts anything."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

from bot import logs, mail
from bot.db import Database, DatabaseUnavailable, UnmigratedDatabase, open_database
from bot.settings import ConfigurationError, Settings, load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="casehub")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("migrate", help="apply database migrations")
    web = commands.add_parser("web", help="serve HTTP at /slack/events under gunicorn")
    web.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")))
    web.add_argument("--threads", type=int, default=int(os.environ.get("WEB_THREADS", "64")))
    commands.add_parser("socket", help="connect to Slack in Socket Mode (needs SLACK_APP_TOKEN)")
    commands.add_parser("scheduler", help="run reviews, nudges and digests (one active process)")
    agencies_cmd = commands.add_parser("agencies", help="manage the agency registry")
    agencies_sub = agencies_cmd.add_subparsers(dest="action", required=True)
    importer = agencies_sub.add_parser("import", help="create or update agencies from a YAML file")
    importer.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    logs.configure(os.environ.get("LOG_LEVEL", "INFO"))
    try:
        return run(args)
    except (ConfigurationError, DatabaseUnavailable, UnmigratedDatabase) as error:
        print(error, file=sys.stderr)
        return 2


def _database_only() -> Settings:
    """Settings for commands that need the database but not Slack."""
    return load_settings(
        slack_bot_token=os.environ.get("SLACK_BOT_TOKEN", "unused"),
        slack_signing_secret=os.environ.get("SLACK_SIGNING_SECRET", "unused"),
    )


def run(args: argparse.Namespace) -> int:
    if args.command == "migrate":
        settings = _database_only()
        Database(settings.database_url).migrate()
        print("database is up to date")
        return 0
    if args.command == "agencies":
        return import_agencies(args.file)
    settings = load_settings()
    logs.log_slack_requests(settings.log_slack_requests)
    Database(settings.database_url).check_migrated()
    mail.check_at_start(settings)
    if args.command == "web":
        return serve_http(settings, args.workers, args.threads)
    if args.command == "scheduler":
        from bot import scheduler

        scheduler.run(settings)
        return 0
    return serve_socket(settings)


def import_agencies(path: Path) -> int:
    from services import agencies
    from services.errors import CasehubError

    settings = _database_only()
    db = open_database(settings.database_url)
    db.check_migrated()
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
            summary = agencies.import_registry(
                session, data, actor="cli", request_ref=f"cli:agencies-import:{path.name}"
            )
    except CasehubError as error:
        print(f"{path}: {error} Nothing was imported.", file=sys.stderr)
        return 2
    print(
        f"imported {path}: {summary.added} new agencies, {summary.updated} updated, "
        f"{summary.roles_set} roles set"
    )
    return 0


def serve_http(settings: Settings, workers: int, threads: int) -> int:
    from gunicorn.app.base import BaseApplication

    from bot.web import application_from_environment

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"0.0.0.0:{settings.port}")
            self.cfg.set("workers", workers)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("threads", threads)
            self.cfg.set("accesslog", "-")
            self.cfg.set("graceful_timeout", 30)

        def load(self):  # type: ignore[no-untyped-def]
            return application_from_environment()

    Server().run()
    return 0


def serve_socket(settings: Settings) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    from bot.app import create_app, prepare_identifier_check

    if settings.slack_app_token is None:
        raise ConfigurationError("casehub cannot start: SLACK_APP_TOKEN is not set (Socket Mode needs it)")
    # Socket Mode hands bolt parsed payloads, not raw HTTP requests to pass to another
    # process: the slow part runs on the listener threads instead.
    app = create_app(settings, Database(settings.database_url), workers=0)
    prepare_identifier_check()
    SocketModeHandler(app, settings.slack_app_token.get_secret_value()).start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
