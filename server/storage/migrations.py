"""Versioned schema migrations, applied in order at start, each in its own transaction.

The schema_version table records what has been applied. Migrations only ever add: a new version is a new
function at the end of MIGRATIONS, never an edit of an old one. Several servers starting at once are
serialised by a lock (PostgreSQL advisory lock, SQLite's write lock), so each migration runs exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from peewee import (
    BooleanField,
    CharField,
    Database,
    DateTimeField,
    FloatField,
    IntegerField,
    Model,
    PostgresqlDatabase,
    TextField,
)
from playhouse.migrate import PostgresqlMigrator, SchemaMigrator, SqliteMigrator, migrate

from server.storage.database import write_transaction
from server.storage.models import SchemaVersion

log = logging.getLogger(__name__)
ADVISORY_LOCK_KEY = 0x6465_6570  # "deep"


def _v1_create_predictions(db: Database, migrator: SchemaMigrator) -> None:
    """The first schema, frozen here as it was (later changes are later migrations)."""

    class Predictions(Model):
        id = CharField(max_length=32, primary_key=True)
        created_at = DateTimeField(index=True)
        request_id = CharField(max_length=64, index=True)
        filename = CharField(max_length=255)
        image_sha256 = CharField(max_length=64, index=True)
        image_bytes = IntegerField()
        image_width = IntegerField()
        image_height = IntegerField()
        image_format = CharField(max_length=8)
        prediction = CharField(max_length=16)
        fake_probability = FloatField()
        confidence = FloatField()
        face_count = IntegerField()
        faces = TextField()
        model = CharField(max_length=128)
        weights_sha256 = CharField(max_length=64)
        engine = CharField(max_length=16)
        device = CharField(max_length=16)
        latency_ms = FloatField()
        timings = TextField()
        client = CharField(max_length=128)
        explained = BooleanField()

        class Meta:
            table_name = "predictions"

    Predictions.bind(db)
    db.create_tables([Predictions])


def _v2_upload_path_and_verdict_index(db: Database, migrator: SchemaMigrator) -> None:
    """Where a stored upload lives (--store-uploads), and an index for history filtered by verdict."""
    migrate(
        migrator.add_column("predictions", "upload_path", CharField(max_length=255, default="")),
        migrator.add_index("predictions", ("prediction", "created_at"), False),
    )


def _v3_verdict(db: Database, migrator: SchemaMigrator) -> None:
    """The three-way verdict (Real, Deepfake, Uncertain) beside the two-valued prediction.

    Records made before it existed get their prediction as verdict (there was no uncertain band then), and
    the history's verdict filter moves from prediction to verdict, so its index does too.
    """
    migrate(migrator.add_column("predictions", "verdict", CharField(max_length=16, null=True)))
    db.execute_sql("UPDATE predictions SET verdict = prediction WHERE verdict IS NULL")
    migrate(
        migrator.add_not_null("predictions", "verdict"),
        migrator.add_index("predictions", ("verdict", "created_at"), False),
        migrator.drop_index("predictions", "predictions_prediction_created_at"),
    )


MIGRATIONS: list[tuple[int, str, Callable[[Database, SchemaMigrator], None]]] = [
    (1, "create predictions", _v1_create_predictions),
    (2, "add upload_path and (prediction, created_at) index", _v2_upload_path_and_verdict_index),
    (3, "add verdict (old rows: their prediction) and (verdict, created_at) index", _v3_verdict),
]


def current_version(db: Database) -> int:
    if not db.table_exists(SchemaVersion._meta.table_name):
        return 0
    latest = SchemaVersion.select().order_by(SchemaVersion.version.desc()).first()
    return latest.version if latest else 0


def upgrade(db: Database, target: int | None = None) -> int:
    """Apply every pending migration (up to ``target``, for tests of old schemas); returns the version now in place."""
    migrator: SchemaMigrator = PostgresqlMigrator(db) if isinstance(db, PostgresqlDatabase) else SqliteMigrator(db)
    for version, description, apply in MIGRATIONS:
        if target is not None and version > target:
            break
        with write_transaction(db):
            if isinstance(db, PostgresqlDatabase):
                db.execute_sql("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
            db.create_tables([SchemaVersion], safe=True)  # under the lock: concurrent CREATEs race in PostgreSQL
            if current_version(db) >= version:
                continue
            apply(db, migrator)
            SchemaVersion.create(version=version, description=description, applied_at=datetime.now(UTC))
            log.info("database schema migrated to version %d: %s", version, description)
    return current_version(db)
