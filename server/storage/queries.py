"""Reading the prediction history: filters, keyset pagination, lookup by id."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from peewee import Database, DatabaseError, InterfaceError

from server.domain import VERDICTS
from server.errors import InvalidRequest, NotFound, StorageUnavailable
from server.storage.models import PredictionRow
from server.storage.records import PredictionRecord

DEFAULT_PAGE = 50
MAX_PAGE = 500


@dataclass(frozen=True)
class HistoryQuery:
    start_time: str = ""
    end_time: str = ""
    verdict: str = ""
    page_size: int = 0
    page_token: str = ""


def parse_time(value: str, name: str) -> datetime | None:
    """RFC 3339 / ISO 8601 to naive UTC; a time without zone is taken as UTC."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidRequest(f"{name} must be an RFC 3339 time such as 2026-11-26T08:00:00Z, got {value!r}.") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def _encode_token(row: PredictionRow) -> str:
    raw = json.dumps([row.created_at.isoformat(), row.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str) -> tuple[datetime, str]:
    try:
        created, last_id = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return datetime.fromisoformat(created), str(last_id)
    except (ValueError, TypeError, binascii.Error):
        raise InvalidRequest("page_token is not one this service issued; start again without it.") from None


def list_predictions(db: Database, q: HistoryQuery) -> tuple[list[PredictionRecord], str]:
    """Newest first. The token marks the last record returned, so pages stay stable while records arrive."""
    if q.verdict and q.verdict not in VERDICTS:
        raise InvalidRequest(f"verdict must be Real, Deepfake, Uncertain or empty, got {q.verdict!r}.")
    size = q.page_size or DEFAULT_PAGE
    if not 1 <= size <= MAX_PAGE:
        raise InvalidRequest(f"page_size must be between 1 and {MAX_PAGE}, got {q.page_size}.")
    start, end = parse_time(q.start_time, "start_time"), parse_time(q.end_time, "end_time")
    query = PredictionRow.select()
    if start is not None:
        query = query.where(PredictionRow.created_at >= start)
    if end is not None:
        query = query.where(PredictionRow.created_at < end)
    if q.verdict:
        query = query.where(PredictionRow.verdict == q.verdict)
    if q.page_token:
        created, last_id = _decode_token(q.page_token)
        query = query.where((PredictionRow.created_at < created)
                            | ((PredictionRow.created_at == created) & (PredictionRow.id < last_id)))
    query = query.order_by(PredictionRow.created_at.desc(), PredictionRow.id.desc()).limit(size + 1)
    rows = _fetch(db, lambda: list(query))
    token = _encode_token(rows[size - 1]) if len(rows) > size else ""
    return [from_row(r) for r in rows[:size]], token


def get_prediction(db: Database, prediction_id: str) -> PredictionRecord:
    if not prediction_id or len(prediction_id) > 64:
        raise InvalidRequest("id must be a prediction id as returned in prediction_id.")
    rows = _fetch(db, lambda: list(PredictionRow.select().where(PredictionRow.id == prediction_id)))
    if not rows:
        raise NotFound(f"No prediction with id {prediction_id!r} (it may be older than the retention period).")
    return from_row(rows[0])


def _fetch(db: Database, run: Callable[[], list[PredictionRow]]) -> list[PredictionRow]:
    try:
        with db.connection_context():
            return run()
    except (DatabaseError, InterfaceError):
        raise StorageUnavailable("The prediction history is unavailable right now; please retry shortly.") from None


def from_row(row: PredictionRow) -> PredictionRecord:
    return PredictionRecord(
        id=row.id, created_at=row.created_at.replace(tzinfo=UTC), request_id=row.request_id,
        filename=row.filename, image_sha256=row.image_sha256, image_bytes=row.image_bytes,
        image_width=row.image_width, image_height=row.image_height, image_format=row.image_format,
        prediction=row.prediction, verdict=row.verdict, fake_probability=row.fake_probability,
        confidence=row.confidence,
        faces=_faces(row.faces), model=row.model, weights_sha256=row.weights_sha256, engine=row.engine,
        device=row.device, latency_ms=row.latency_ms, timings=json.loads(row.timings), client=row.client,
        explained=row.explained, upload_path=row.upload_path,
    )


def _faces(stored: str) -> list[dict[str, Any]]:
    """The faces' JSON; faces recorded before verdicts existed get their label as verdict."""
    faces: list[dict[str, Any]] = json.loads(stored)
    for face in faces:
        face.setdefault("verdict", face["label"])
    return faces
