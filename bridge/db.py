"""The ledger database: engine, migrations (Alembic), transactions.

SQLite (the embedded default) runs in WAL mode with ``synchronous=FULL`` (a commit is
on disk before it returns) and takes the write lock at ``BEGIN IMMEDIATE``, so
concurrent writers queue instead of failing halfway; PostgreSQL runs at its default
READ COMMITTED, where the unique keys of :mod:`ccnet.bridge.models` decide every race
(the loser gets an ``IntegrityError`` and rolls back).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from .exceptions import ConfigError

__all__ = ["Database", "MIGRATIONS"]

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _sqlite_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Database:
    """The ledger at *url* (a SQLAlchemy URL: ``sqlite:///path`` or
    ``postgresql+psycopg://user@host/db``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            backend = make_url(url).get_backend_name()
        except Exception as err:  # sqlalchemy raises ArgumentError and others
            raise ConfigError(f"not a database URL: {url!r} ({err})") from None
        if backend == "sqlite":
            self.engine = _sqlite_engine(url)
        elif backend == "postgresql":
            self.engine = create_engine(url, pool_pre_ping=True)
        else:
            raise ConfigError(f"unsupported database {backend!r}: use sqlite or postgresql")
        self.backend = backend
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction: committed (durably) on success, rolled back on
        any exception."""
        with self._sessions() as session, session.begin():
            yield session

    def session(self) -> Session:
        """A session for reads (the caller closes it)."""
        return self._sessions()

    def close(self) -> None:
        self.engine.dispose()
