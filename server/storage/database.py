"""Opening the configured database: SQLite (WAL, created on first start) or PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from peewee import Database, PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import connect

from server.storage.models import database


def open_database(url: str) -> Database:
    """A peewee database for ``url``, bound to the models. Nothing is connected yet."""
    if url.startswith("sqlite://"):
        path = Path(urlparse(url).path)
        path.parent.mkdir(parents=True, exist_ok=True)
        db: Database = SqliteDatabase(str(path), pragmas={
            "busy_timeout": 5000,  # first: the pragmas below may wait for another connection's lock
            "journal_mode": "wal",  # readers never block the writer thread, and vice versa
            "synchronous": "normal",  # durable at each checkpoint; WAL keeps the file consistent
            "foreign_keys": 1,
        })
    else:
        # connect_timeout keeps a down database from stalling the writer thread for long.
        db = connect(url.replace("postgres://", "postgresql://", 1), connect_timeout=3)
    database.initialize(db)
    return db


@contextlib.contextmanager
def write_transaction(db: Database) -> Iterator[None]:
    """A transaction that takes the write lock up front (SQLite) so concurrent writers queue, not fail."""
    with db.atomic("IMMEDIATE") if isinstance(db, SqliteDatabase) else db.atomic():
        yield


def describe(db: Database) -> str:
    if isinstance(db, SqliteDatabase):
        return f"SQLite {db.database}"
    if isinstance(db, PostgresqlDatabase):
        return f"PostgreSQL {db.connect_params.get('host', 'localhost')}/{db.database}"
    return type(db).__name__
