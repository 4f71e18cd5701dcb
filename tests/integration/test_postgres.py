"""The prediction log on real PostgreSQL: schema, queries, and an outage that loses nothing."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import psycopg2
import pytest
from deepfake.v1 import detector_pb2 as pb
from deepfake.v1 import detector_pb2_grpc

from server.app import build_service, create_server
from server.config import Config
from server.storage.database import open_database
from server.storage.migrations import MIGRATIONS, upgrade
from server.storage.queries import HistoryQuery, list_predictions
from server.storage.writer import PredictionLog
from tests.conftest import REPO
from tests.integration.gateway import free_port
from tests.integration.postgres import fresh_database, private_server
from tests.unit.test_storage import make_record, old_row, wait_for

LATEST = MIGRATIONS[-1][0]


def count_rows(url: str) -> int:
    with psycopg2.connect(url, connect_timeout=3) as conn, conn.cursor() as cur:
        cur.execute("SELECT COUNT(*) FROM predictions")
        return int(cur.fetchone()[0])


def test_schema_and_history_on_postgresql(tmp_path: Path) -> None:
    with fresh_database() as url:
        log = PredictionLog(url, tmp_path / "spool", retention_days=0)
        log.start()
        start = datetime(2026, 11, 1, tzinfo=UTC)
        for i in range(30):
            log.record(make_record(i, "Deepfake" if i % 2 else "Real", start + timedelta(seconds=i)))
        log.close()
        assert count_rows(url) == 30
        db = open_database(url)
        page, token = list_predictions(db, HistoryQuery(verdict="Deepfake", page_size=10))
        assert [r.request_id for r in page] == [f"req-{i}" for i in range(29, 9, -2)] and token
        rest, token = list_predictions(db, HistoryQuery(verdict="Deepfake", page_size=10, page_token=token))
        assert [r.request_id for r in rest] == [f"req-{i}" for i in (9, 7, 5, 3, 1)] and token == ""
        assert log.delete_older_than(start + timedelta(seconds=10)) == 10
        assert count_rows(url) == 20
        db.close()


def test_upgrade_from_version_2_on_postgresql(tmp_path: Path) -> None:
    """A database of the schema before verdicts, with records in it, upgrades without losing any."""
    with fresh_database() as url:
        db = open_database(url)
        assert upgrade(db, target=2) == 2
        db.close()
        start = datetime(2026, 11, 1)
        old = [old_row(i, "Deepfake" if i % 3 == 0 else "Real", start + timedelta(minutes=i)) for i in range(12)]
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            for row in old:
                cur.execute(f"INSERT INTO predictions ({', '.join(row)}) VALUES ({', '.join(['%s'] * len(row))})",
                            list(row.values()))
        db = open_database(url)
        assert upgrade(db) == LATEST
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute("SELECT COUNT(*), COUNT(*) FILTER (WHERE verdict = prediction) FROM predictions")
            assert cur.fetchone() == (12, 12)
            cur.execute("SELECT is_nullable FROM information_schema.columns "
                        "WHERE table_name = 'predictions' AND column_name = 'verdict'")
            assert cur.fetchone() == ("NO",)
            cur.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'predictions'")
            indexes = {name for (name,) in cur.fetchall()}
            assert "predictions_verdict_created_at" in indexes and "predictions_prediction_created_at" not in indexes
        records, _ = list_predictions(db, HistoryQuery(verdict="Deepfake"))
        assert [r.request_id for r in records] == ["req-9", "req-6", "req-3", "req-0"]
        assert all(r.verdict == "Deepfake" and r.faces[0]["verdict"] == "Deepfake" for r in records)
        db.close()
        log = PredictionLog(url, tmp_path / "spool", retention_days=0)
        log.start()
        log.record(make_record(100, "Uncertain", datetime.now(UTC)))
        log.close()
        db = open_database(url)
        (unsure,), _ = list_predictions(db, HistoryQuery(verdict="Uncertain"))
        assert (unsure.verdict, unsure.prediction, unsure.faces[0]["verdict"]) == ("Uncertain", "Real", "Uncertain")
        assert len(list_predictions(db, HistoryQuery())[0]) == 13
        db.close()


def test_replicas_migrating_at_once_on_postgresql() -> None:
    with fresh_database() as url:
        code = ("import sys; from server.storage.database import open_database; "
                "from server.storage.migrations import upgrade; print(upgrade(open_database(sys.argv[1])))")
        procs = [subprocess.Popen([sys.executable, "-c", code, url], cwd=REPO, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
        outputs = [p.communicate(timeout=120) for p in procs]
        assert all(p.returncode == 0 for p in procs), [err[-500:] for _, err in outputs]
        with psycopg2.connect(url) as conn, conn.cursor() as cur:
            cur.execute("SELECT version FROM schema_version ORDER BY version")
            assert [v for (v,) in cur.fetchall()] == list(range(1, LATEST + 1))
        db = open_database(url)
        assert upgrade(db) == LATEST
        db.close()


def test_postgresql_outage_loses_no_record(tmp_path: Path) -> None:
    """Stop our own PostgreSQL mid-stream, keep recording, start it again: every record arrives."""
    with private_server(free_port()) as pg:
        log = PredictionLog(pg.url, tmp_path / "spool")
        log.start()
        for i in range(100):
            log.record(make_record(i))
        wait_for(lambda: count_rows(pg.url) == 100)

        pg.stop()
        for i in range(100, 250):
            log.record(make_record(i))
        wait_for(lambda: log.spool_records == 150, timeout=30)
        assert not log.healthy

        pg.start()
        pg.wait_accepting()
        for i in range(250, 300):
            log.record(make_record(i))
        wait_for(lambda: log.spool_records == 0 and count_rows(pg.url) == 300, timeout=60)
        log.close()
        assert count_rows(pg.url) == 300


def test_server_keeps_answering_while_postgresql_is_down(tmp_path: Path, photos_dir: Path) -> None:
    with private_server(free_port()) as pg:
        config = Config(port=0, database_url=pg.url, spool_dir=tmp_path / "spool", metrics_port=0)
        service = build_service(config)
        assert service.prediction_log is not None
        service.prediction_log.start()
        service.load()
        running = create_server(config, service)
        running.mark_serving()
        image = (photos_dir / "multiface.jpg").read_bytes()
        try:
            with grpc.insecure_channel(f"127.0.0.1:{running.port}",
                                       options=[("grpc.max_send_message_length", 16 << 20)]) as channel:
                stub = detector_pb2_grpc.DeepfakeDetectorStub(channel)
                first = stub.Predict(pb.PredictRequest(image=image, filename="before.jpg"), timeout=60)
                wait_for(lambda: count_rows(pg.url) == 1)

                pg.stop()
                during = [stub.Predict(pb.PredictRequest(image=image, filename=f"during-{i}.jpg"), timeout=60)
                          for i in range(3)]
                assert all(len(r.faces) == 6 for r in during), "predictions do not depend on the database"
                with pytest.raises(grpc.RpcError) as info:
                    stub.ListPredictions(pb.ListPredictionsRequest(), timeout=30)
                assert info.value.code() == grpc.StatusCode.UNAVAILABLE
                assert "history is unavailable" in info.value.details()

                pg.start()
                pg.wait_accepting()
                wait_for(lambda: count_rows(pg.url) == 4, timeout=60)
                listed = stub.ListPredictions(pb.ListPredictionsRequest(page_size=10), timeout=30)
                assert {r.filename for r in listed.predictions} == {"before.jpg", "during-0.jpg", "during-1.jpg",
                                                                     "during-2.jpg"}
                fetched = stub.GetPrediction(pb.GetPredictionRequest(id=first.prediction_id), timeout=30)
                assert fetched.filename == "before.jpg" and len(fetched.faces) == 6
        finally:
            started = time.monotonic()
            running.stop(1.0)
            assert time.monotonic() - started < 30
