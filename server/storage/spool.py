"""An append-only on-disk spool of prediction records, for when the database cannot take them.

Records are appended as JSON lines to ``active.jsonl`` and fsynced, so an accepted record survives a crash.
Draining first renames the active file (new records start a fresh one), then inserts each pending file's
records and deletes the file only after the insert committed. Inserts ignore ids that already exist, so a
drain interrupted half-way can simply run again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from server.storage.records import PredictionRecord

log = logging.getLogger(__name__)
ACTIVE = "active.jsonl"
CHUNK = 500


class Spool:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._count = sum(self._lines(p) for p in self._files())

    @property
    def count(self) -> int:
        """Records waiting in the spool."""
        return self._count

    def append(self, records: Sequence[PredictionRecord]) -> None:
        if not records:
            return
        data = "".join(r.to_json() + "\n" for r in records).encode()
        with self._lock:
            fd = os.open(self.directory / ACTIVE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            self._count += len(records)

    def drain(self, insert: Callable[[list[PredictionRecord]], None]) -> int:
        """Insert every spooled record with ``insert``; returns how many left the spool. Stops at the first
        failure (the database went away again) and leaves the rest for the next attempt."""
        with self._lock:
            active = self.directory / ACTIVE
            if active.exists() and active.stat().st_size:
                active.rename(self.directory / f"pending-{time.time_ns()}.jsonl")
        drained = 0
        for path in self._files(pending_only=True):
            records, lines = self._read(path)
            for start in range(0, len(records), CHUNK):
                insert(records[start:start + CHUNK])  # raises when the database is down: keep the file
            path.unlink()
            with self._lock:
                self._count -= lines
            drained += len(records)
        return drained

    def _files(self, pending_only: bool = False) -> list[Path]:
        pending = sorted(self.directory.glob("pending-*.jsonl"))
        active = self.directory / ACTIVE
        return pending if pending_only or not active.exists() else [*pending, active]

    @staticmethod
    def _lines(path: Path) -> int:
        with open(path, "rb") as fh:
            return sum(1 for line in fh if line.strip())

    def _read(self, path: Path) -> tuple[list[PredictionRecord], int]:
        """The file's records, and how many lines it had (unreadable ones are set aside, not dropped)."""
        records: list[PredictionRecord] = []
        rejected: list[str] = []
        lines = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        for line in lines:
            try:
                records.append(PredictionRecord.from_json(line))
            except (ValueError, TypeError, KeyError):  # a torn last line after a crash, or damage
                rejected.append(line)
        if rejected:
            keep = self.directory / f"rejected-{time.time_ns()}.jsonl"
            keep.write_text("\n".join(rejected) + "\n")
            log.error("%d unreadable spooled records kept in %s for inspection", len(rejected), keep)
        return records, len(lines)
