"""peewee tables. The schema is created and changed only by versioned migrations (migrations.py)."""

from __future__ import annotations

from peewee import (
    BooleanField,
    CharField,
    DatabaseProxy,
    DateTimeField,
    FloatField,
    IntegerField,
    Model,
    TextField,
)

database = DatabaseProxy()  # bound to the configured database by open_database()


class BaseModel(Model):
    class Meta:
        database = database


class SchemaVersion(BaseModel):
    version = IntegerField(primary_key=True)
    description = CharField(max_length=200)
    applied_at = DateTimeField()

    class Meta:
        table_name = "schema_version"


class PredictionRow(BaseModel):
    id = CharField(max_length=32, primary_key=True)
    created_at = DateTimeField(index=True)  # naive UTC
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
    faces = TextField()  # JSON list of faces
    model = CharField(max_length=128)
    weights_sha256 = CharField(max_length=64)
    engine = CharField(max_length=16)
    device = CharField(max_length=16)
    latency_ms = FloatField()
    timings = TextField()  # JSON object of stage timings
    client = CharField(max_length=128)
    explained = BooleanField()
    upload_path = CharField(max_length=255, default="")  # added by migration 2
    verdict = CharField(max_length=16)  # added by migration 3 ("Real", "Deepfake" or "Uncertain")

    class Meta:
        table_name = "predictions"
