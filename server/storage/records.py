"""What is recorded about a prediction (never the image, unless the operator stores uploads)."""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from server.domain import Prediction


@dataclass(frozen=True)
class PredictionRecord:
    id: str
    created_at: datetime  # UTC, timezone-aware
    request_id: str
    filename: str
    image_sha256: str
    image_bytes: int
    image_width: int
    image_height: int
    image_format: str
    prediction: str  # "Real" or "Deepfake"
    verdict: str  # "Real", "Deepfake" or "Uncertain"
    fake_probability: float
    confidence: float
    faces: list[dict[str, Any]]
    model: str
    weights_sha256: str
    engine: str
    device: str
    latency_ms: float
    timings: dict[str, float]
    client: str
    explained: bool
    upload_path: str = ""

    @classmethod
    def of(cls, p: Prediction, weights_sha256: str, client: str, explained: bool, upload_path: str = "",
           now: datetime | None = None) -> PredictionRecord:
        return cls(
            id=uuid.uuid4().hex, created_at=now or datetime.now(UTC), request_id=p.request_id,
            filename=p.filename, image_sha256=p.image_sha256, image_bytes=p.image_bytes,
            image_width=p.image_width, image_height=p.image_height, image_format=p.image_format,
            prediction=p.prediction, verdict=p.verdict, fake_probability=p.fake_probability,
            confidence=p.confidence,
            faces=[{"box": asdict(f.box), "detection_confidence": f.detection_confidence,
                    "fake_probability": f.fake_probability, "label": f.label, "confidence": f.confidence,
                    "verdict": f.verdict}
                   for f in p.faces],
            model=p.model, weights_sha256=weights_sha256, engine=p.engine, device=p.device,
            latency_ms=p.timings.total_ms, timings=asdict(p.timings), client=client, explained=explained,
            upload_path=upload_path,
        )

    def to_json(self) -> str:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> PredictionRecord:
        data = json.loads(line)
        data["created_at"] = datetime.fromisoformat(data["created_at"])
        data.setdefault("verdict", data["prediction"])  # spooled by a server from before verdicts existed
        return cls(**data)
