"""The prediction log's background writer: predictions are never slowed or failed by the database.

``record`` only puts the record on a bounded in-memory queue (or, when that is full, appends it to the
on-disk spool). One thread writes queued records in batches. When the database is down, batches go to the
spool; every few seconds the thread retries the database and drains the spool into it. ``close`` flushes
everything to the database or the spool, so a stopped server loses nothing. The same thread enforces the
retention period.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from peewee import Database, DatabaseError, InterfaceError

from server.storage.database import describe, open_database, write_transaction
from server.storage.migrations import upgrade
from server.storage.models import PredictionRow
from server.storage.records import PredictionRecord
from server.storage.spool import Spool

log = logging.getLogger(__name__)
BATCH = 200
RETRY_S = (1.0, 2.0, 5.0, 10.0, 30.0)  # back-off while the database is down
RETENTION_EVERY_S = 3600.0


def to_row(r: PredictionRecord) -> dict[str, object]:
    return {
        "id": r.id, "created_at": r.created_at.astimezone(UTC).replace(tzinfo=None), "request_id": r.request_id,
        "filename": r.filename, "image_sha256": r.image_sha256, "image_bytes": r.image_bytes,
        "image_width": r.image_width, "image_height": r.image_height, "image_format": r.image_format,
        "prediction": r.prediction, "verdict": r.verdict, "fake_probability": r.fake_probability,
        "confidence": r.confidence,
        "face_count": len(r.faces), "faces": json.dumps(r.faces), "model": r.model,
        "weights_sha256": r.weights_sha256, "engine": r.engine, "device": r.device, "latency_ms": r.latency_ms,
        "timings": json.dumps(r.timings), "client": r.client, "explained": r.explained,
        "upload_path": r.upload_path,
    }


class PredictionLog:
    def __init__(self, database_url: str, spool_dir: Path, queue_size: int = 10_000, retention_days: float = 0.0,
                 on_write_failure: Callable[[int], None] | None = None) -> None:
        self.db: Database = open_database(database_url)
        self.spool = Spool(spool_dir)
        self.retention_days = retention_days
        self.on_write_failure = on_write_failure
        self._queue: queue.Queue[PredictionRecord] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._run, name="prediction-log", daemon=True)
        self._stop = threading.Event()
        self._ready = False  # connected and migrated
        self._failures_in_a_row = 0
        self._next_attempt = 0.0
        self._next_retention = 0.0

    # ---- API used by the service -------------------------------------------------------------------------

    def start(self) -> None:
        self._attempt_ready()
        self._thread.start()

    def record(self, record: PredictionRecord) -> None:
        """Accept a record without blocking; it reaches the database or, failing that, the spool."""
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.spool.append([record])

    def close(self, timeout: float = 10.0) -> None:
        """Write out everything accepted so far, then stop the thread."""
        self._stop.set()
        self._thread.join(timeout)
        leftovers = self._take(self._queue.qsize())
        self.spool.append(leftovers)  # only if the thread could not finish in time
        self.db.close()

    @property
    def queue_records(self) -> int:
        return self._queue.qsize()

    @property
    def spool_records(self) -> int:
        return self.spool.count

    @property
    def healthy(self) -> bool:
        return self._ready and self._failures_in_a_row == 0

    # ---- the writer thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch = self._take(BATCH, wait=0.5)
            if batch:
                self._store(batch)
            if self._stop.is_set() and self._queue.empty():
                self._maintain(final=True)
                return
            self._maintain()

    def _take(self, limit: int, wait: float = 0.0) -> list[PredictionRecord]:
        batch: list[PredictionRecord] = []
        try:
            batch.append(self._queue.get(timeout=wait) if wait else self._queue.get_nowait())
            while len(batch) < limit:
                batch.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        return batch

    def _store(self, batch: list[PredictionRecord]) -> None:
        if self._database_usable():
            try:
                self._insert(batch)
                return
            except (DatabaseError, InterfaceError) as exc:
                self._failed(exc, len(batch))
        self.spool.append(batch)

    def _insert(self, records: list[PredictionRecord]) -> None:
        self.db.connect(reuse_if_open=True)
        with write_transaction(self.db):
            PredictionRow.insert_many([to_row(r) for r in records]).on_conflict_ignore().execute()
        self._failures_in_a_row = 0

    def _maintain(self, final: bool = False) -> None:
        """Drain the spool when the database is back; enforce retention now and then."""
        if self.spool.count and self._database_usable(force=final):
            try:
                drained = self.spool.drain(self._insert)
                if drained:
                    log.info("wrote %d spooled prediction records to the database", drained)
            except (DatabaseError, InterfaceError) as exc:
                self._failed(exc, 0)
        if self.retention_days and self._ready and time.monotonic() >= self._next_retention:
            self._next_retention = time.monotonic() + RETENTION_EVERY_S
            try:
                self.delete_older_than(datetime.now(UTC) - timedelta(days=self.retention_days))
            except (DatabaseError, InterfaceError) as exc:
                self._failed(exc, 0)

    def delete_older_than(self, cutoff: datetime) -> int:
        naive = cutoff.astimezone(UTC).replace(tzinfo=None)
        deleted = 0
        while True:  # in chunks, so a large purge never holds the write lock for long
            self.db.connect(reuse_if_open=True)
            ids = [r.id for r in PredictionRow.select(PredictionRow.id).where(PredictionRow.created_at < naive)
                   .limit(1000)]
            if not ids:
                break
            with write_transaction(self.db):
                deleted += PredictionRow.delete().where(PredictionRow.id.in_(ids)).execute()
        if deleted:
            log.info("retention: deleted %d prediction records older than %s", deleted, cutoff.isoformat())
        return deleted

    def _database_usable(self, force: bool = False) -> bool:
        if self._ready and self._failures_in_a_row == 0:
            return True
        if not force and time.monotonic() < self._next_attempt:
            return False
        return self._attempt_ready()

    def _attempt_ready(self) -> bool:
        try:
            self.db.connect(reuse_if_open=True)
            if not self._ready:
                version = upgrade(self.db)
                log.info("prediction log: %s, schema version %d", describe(self.db), version)
                self._ready = True
            else:
                self.db.execute_sql("SELECT 1")
            if self._failures_in_a_row:
                log.info("prediction log: the database is reachable again")
            self._failures_in_a_row = 0
            return True
        except (DatabaseError, InterfaceError) as exc:
            self._failed(exc, 0)
            return False

    def _failed(self, exc: Exception, records: int) -> None:
        self._failures_in_a_row += 1
        delay = RETRY_S[min(self._failures_in_a_row, len(RETRY_S)) - 1]
        self._next_attempt = time.monotonic() + delay
        if self.on_write_failure is not None:
            self.on_write_failure(records)
        log.warning("prediction log: database error (%s); %s records spooled, retrying in %.0f s",
                    str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__,
                    records, delay)
        if not self.db.is_closed():
            with contextlib.suppress(DatabaseError, InterfaceError):
                self.db.close()
