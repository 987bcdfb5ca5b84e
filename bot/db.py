"""The database engine and the one place where transactions are committed."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

import migrations

# An execution option that marks the engine of units of work that write (see `Database.session`).
WRITES = "casehub_writes"
# Set by a migration that rewrote values in place (encrypting them): the tables whose free space
# may still hold what they replaced, cleared once the migration has committed.
REWRITTEN = "casehub_rewritten_tables"


class UnmigratedDatabase(Exception):
    def __init__(self, current: str | None, head: str | None) -> None:
        self.current, self.head = current, head
        super().__init__(
            f"the database is at migration {current or 'none'} but casehub needs {head}: "
            "run `python -m bot migrate` first"
        )


class DatabaseUnavailable(Exception):
    """The database in DATABASE_URL cannot be used; the message names it without its password."""


# The drivers casehub installs; other drivers of the same databases would fail to load.
DRIVERS = ("sqlite", "sqlite+pysqlite", "postgresql+psycopg")
URL_FORMS = "sqlite:///FILE or postgresql://USER:PASSWORD@HOST:PORT/DATABASE"


def normalise_url(url: str) -> str:
    # Plain postgres URLs (as platforms hand them out) mean the psycopg 3 driver here.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def check_url(url: str) -> URL:
    """The database URL, read and checked before anything connects, or a `ValueError` saying
    what is wrong. The message never repeats the URL: it may carry a password."""
    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError:
        raise ValueError(f"it is not a database URL; write {URL_FORMS}") from None
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise ValueError(f"{backend} is not supported; casehub runs on sqlite or postgresql: {URL_FORMS}")
    if parsed.drivername not in DRIVERS:
        raise ValueError(f"casehub has no {parsed.get_driver_name()} driver; write {backend}:// without one")
    if backend == "sqlite":
        if parsed.database is None or parsed.database in ("", ":memory:"):
            raise ValueError("name the database file, e.g. sqlite:///casehub.db")
        folder = Path(parsed.database).parent
        if not folder.is_dir():
            raise ValueError(f"the folder {folder} of the SQLite file does not exist; create it first")
        return parsed
    # An unencoded @ in a password moves the rest of the password into the host name.
    if parsed.host is not None and "@" in parsed.host:
        raise ValueError("percent-encode @, :, / and # in the user name and password (@ as %40)")
    if parsed.port is not None and not 0 < parsed.port <= 65535:
        raise ValueError("the port must be a number from 1 to 65535")
    if not parsed.database:
        raise ValueError(f"name the database: {URL_FORMS}")
    return parsed


def make_engine(url: str, *, timeout: float | None = None) -> Engine:
    """SQL parameters carry what people typed: `hide_parameters` keeps them out of every error.

    With a `timeout` (seconds), connecting, waiting for a lock and running a statement are each
    bounded by it, for work that must give up quickly rather than wait (recording a job while
    Slack waits for its answer). Without, SQLite waits 30 s for its write lock.
    """
    wait = 30.0 if timeout is None else timeout
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"timeout": wait, "check_same_thread": False}, hide_parameters=True
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
            # Python's sqlite3 module opens a transaction only before INSERT/UPDATE/DELETE, so a
            # SAVEPOINT issued before the first write becomes the outermost transaction and its
            # RELEASE commits at once: a refused change would keep what it wrote up to then.
            # casehub begins every transaction itself instead (SQLAlchemy's documented recipe).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
            # INSERT OR REPLACE deletes the row it replaces: with this, the delete triggers fire.
            cursor.execute("PRAGMA recursive_triggers=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection: Connection) -> None:
            # A unit of work takes SQLite's one write lock when it starts, waiting for it up to the
            # busy timeout; a deferred transaction that read first could not upgrade its lock once
            # another writer had committed, and would fail instead of waiting.
            writes = connection.get_execution_options().get(WRITES, False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

        return engine
    if timeout is None:
        # A host that drops packets would otherwise hold a connection attempt for minutes.
        return create_engine(
            url,
            pool_size=10,
            max_overflow=20,
            pool_pre_ping=True,
            hide_parameters=True,
            connect_args={"connect_timeout": 10},
        )
    return create_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        pool_timeout=timeout,
        hide_parameters=True,
        connect_args={
            "connect_timeout": max(1, round(timeout)),
            "options": f"-c statement_timeout={int(timeout * 1000)} -c lock_timeout={int(timeout * 1000)}",
        },
    )


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


@contextmanager
def _quiet(logger: logging.Logger) -> Iterator[None]:
    """Alembic announces the dialect at INFO whenever it looks at a database: noise in a check
    made at every start, and lines around a refusal that should be one."""
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def open_database(url: str) -> Database:
    """The database in `url`, checked to be reachable, for a command starting up."""
    try:
        check_url(url)
    except ValueError as problem:
        raise DatabaseUnavailable(f"casehub cannot start: DATABASE_URL is invalid: {problem}") from None
    database = Database(url)
    database.check_reachable()
    return database


class Database:
    def __init__(self, url: str, *, timeout: float | None = None) -> None:
        # Every session seals the audit entries it writes (the hook lives with the chain): any
        # process that writes through a Database takes part, whatever else it imported.
        import services.chain  # noqa: F401

        self.url = normalise_url(url)
        self.engine = make_engine(self.url, timeout=timeout)
        self._writes = self.engine.execution_options(**{WRITES: True})
        self._sessions = sessionmaker(self._writes, expire_on_commit=False)
        self._readers = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back on any error."""
        with self._sessions.begin() as session:
            yield session

    @contextmanager
    def writer(self) -> Iterator[Connection]:
        """A write transaction without the ORM, for statements run often (the job queue's):
        committed when the block ends, rolled back on any error."""
        with self._writes.begin() as connection:
            yield connection

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A session for reading: what it changes is never committed."""
        with self._readers() as session:
            yield session

    def migrate(self) -> None:
        self.check_reachable()
        config = alembic_config(self.url)
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        rewritten = config.attributes.get(REWRITTEN)
        if rewritten:
            self.clear_free_space(rewritten)

    def clear_free_space(self, tables: list[str]) -> None:
        """Rewrite these tables so that the space of the values they replaced is not kept with
        its old content (SQLite: the whole file, and its write-ahead log emptied; PostgreSQL:
        `VACUUM FULL`, which locks each table while it is rewritten). Outside any transaction,
        as both require."""
        url = make_url(self.url)
        if url.get_backend_name() == "sqlite":
            raw = sqlite3.connect(str(url.database), isolation_level=None)
            try:
                raw.execute("VACUUM")
                raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                raw.close()
            return
        autocommit = create_engine(self.url, isolation_level="AUTOCOMMIT", hide_parameters=True)
        try:
            with autocommit.connect() as connection:
                for table in tables:
                    connection.exec_driver_sql(f'VACUUM FULL "{table}"')
        finally:
            autocommit.dispose()

    def check_migrated(self) -> None:
        self.check_reachable()
        head = ScriptDirectory.from_config(alembic_config(self.url)).get_current_head()
        with self.engine.connect() as connection, _quiet(logging.getLogger("alembic.runtime.migration")):
            current = MigrationContext.configure(connection).get_current_revision()
        if current != head:
            raise UnmigratedDatabase(current, head)

    def check_reachable(self) -> None:
        """Connect once; any way that fails is one line naming DATABASE_URL, not a traceback."""
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except DBAPIError as error:
            url = make_url(self.url)
            said = (str(error.orig).strip().splitlines() or [type(error.orig).__name__])[0]
            if url.password:
                # Drivers do not quote passwords, but a mistyped URL can put one where they quote.
                said = said.replace(str(url.password), "***")
            advice = (
                "check that the file can be opened and written"
                if url.get_backend_name() == "sqlite"
                else "check the host, port, user, password and database name, and that the server is up"
            )
            raise DatabaseUnavailable(
                f"casehub cannot start: the database in DATABASE_URL "
                f"({url.render_as_string(hide_password=True)}) cannot be used: {said}; {advice}"
            ) from None

    def is_reachable(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except Exception:
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()
