"""The prediction log on SQLite: migrations, the background writer and its spool, queries, retention."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from peewee import OperationalError

from server.errors import InvalidRequest, NotFound
from server.storage.database import open_database
from server.storage.migrations import MIGRATIONS, _v1_create_predictions, current_version, upgrade
from server.storage.models import SchemaVersion
from server.storage.queries import HistoryQuery, get_prediction, list_predictions
from server.storage.records import PredictionRecord
from server.storage.spool import Spool
from server.storage.uploads import store_upload
from server.storage.writer import PredictionLog, to_row
from tests.conftest import REPO

LATEST = MIGRATIONS[-1][0]


def make_record(i: int = 0, verdict: str = "Real", when: datetime | None = None) -> PredictionRecord:
    """A record with this verdict; an Uncertain one leans Deepfake (prediction) for odd ``i``, else Real."""
    prediction = verdict if verdict != "Uncertain" else ("Deepfake" if i % 2 else "Real")
    probability = {"Deepfake": 0.9, "Real": 0.1}[verdict] if verdict != "Uncertain" else 0.5
    return PredictionRecord(
        id=f"{i:032x}", created_at=when or datetime.now(UTC), request_id=f"req-{i}", filename=f"f{i}.jpg",
        image_sha256="ab" * 32, image_bytes=1000 + i, image_width=640, image_height=480, image_format="JPEG",
        prediction=prediction, verdict=verdict, fake_probability=probability, confidence=90.0,
        faces=[{"box": {"x_min": 1.0, "y_min": 2.0, "x_max": 3.0, "y_max": 4.0}, "detection_confidence": 0.99,
                "fake_probability": probability, "label": prediction, "confidence": 90.0, "verdict": verdict}],
        model="m", weights_sha256="cd" * 32, engine="torchscript", device="cpu", latency_ms=12.5,
        timings={"total_ms": 12.5}, client="127.0.0.1", explained=False,
    )


def wait_for(predicate: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def rows(db_path: Path) -> int:
    with sqlite3.connect(db_path) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM predictions").fetchone()[0])


def test_fresh_database_gets_the_latest_schema(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'sub' / 'p.db'}")
    assert upgrade(db) == LATEST
    assert upgrade(db) == LATEST, "running again changes nothing"
    assert [v.version for v in SchemaVersion.select().order_by(SchemaVersion.version)] == [1, 2, 3]
    assert db.execute_sql("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_upgrade_from_version_1_keeps_the_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = open_database(f"sqlite:///{path}")
    db.create_tables([SchemaVersion])
    _v1_create_predictions(db, None)  # type: ignore[arg-type]
    SchemaVersion.create(version=1, description="create predictions", applied_at=datetime.now(UTC))
    with sqlite3.connect(path) as conn:
        columns = [c[1] for c in conn.execute("PRAGMA table_info(predictions)")]
        assert "upload_path" not in columns
    row = {k: v for k, v in to_row(make_record(7)).items() if k not in ("upload_path", "verdict")}
    with sqlite3.connect(path) as conn:  # a row written with the old schema (no upload_path)
        conn.execute(f"INSERT INTO predictions ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                     [str(v) if isinstance(v, datetime) else v for v in row.values()])
    assert current_version(db) == 1
    assert upgrade(db) == LATEST
    record = get_prediction(db, f"{7:032x}")
    assert record.filename == "f7.jpg" and record.upload_path == "" and record.verdict == "Real"


def old_row(i: int, prediction: str, when: datetime) -> dict[str, object]:
    """A row as a server before verdicts wrote it: no verdict column, faces without a verdict."""
    row = to_row(make_record(i, prediction, when))
    del row["verdict"]
    row["faces"] = row["faces"].replace(', "verdict": "' + prediction + '"', "")  # type: ignore[attr-defined]
    assert "verdict" not in row["faces"]  # type: ignore[operator]
    return row


def test_upgrade_from_version_2_gives_old_records_their_prediction_as_verdict(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    db = open_database(f"sqlite:///{path}")
    assert upgrade(db, target=2) == 2
    start = datetime(2026, 11, 1)
    old = [old_row(i, "Deepfake" if i % 3 == 0 else "Real", start + timedelta(minutes=i)) for i in range(12)]
    with sqlite3.connect(path) as conn:
        for row in old:
            conn.execute(f"INSERT INTO predictions ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                         [str(v) if isinstance(v, datetime) else v for v in row.values()])
        assert "verdict" not in [c[1] for c in conn.execute("PRAGMA table_info(predictions)")]
    assert upgrade(db) == LATEST
    with sqlite3.connect(path) as conn:
        columns = {c[1]: c for c in conn.execute("PRAGMA table_info(predictions)")}
        assert columns["verdict"][3] == 1, "verdict is NOT NULL"
        indexes = {r[1] for r in conn.execute("PRAGMA index_list(predictions)")}
        assert "predictions_verdict_created_at" in indexes and "predictions_prediction_created_at" not in indexes
        assert conn.execute("SELECT COUNT(*) FROM predictions WHERE verdict = prediction").fetchone()[0] == 12
    records, _ = list_predictions(db, HistoryQuery(verdict="Deepfake"))
    assert [r.request_id for r in records] == ["req-9", "req-6", "req-3", "req-0"]
    for r in records:
        assert r.verdict == r.prediction == "Deepfake" and r.faces[0]["verdict"] == "Deepfake"
    assert len(list_predictions(db, HistoryQuery())[0]) == 12
    # New records beside the old ones: the three verdicts, filtered by verdict (not by prediction).
    db.close()
    log = PredictionLog(f"sqlite:///{path}", tmp_path / "spool")
    log.start()
    log.record(make_record(100, "Uncertain", datetime.now(UTC)))
    log.record(make_record(101, "Uncertain", datetime.now(UTC)))
    log.close()
    unsure, _ = list_predictions(log.db, HistoryQuery(verdict="Uncertain"))
    assert [(r.verdict, r.prediction) for r in unsure] == [("Uncertain", "Deepfake"), ("Uncertain", "Real")]
    assert len(list_predictions(log.db, HistoryQuery(verdict="Deepfake"))[0]) == 4


def test_servers_starting_together_apply_each_migration_once(tmp_path: Path) -> None:
    """Four processes (as four replicas would) upgrade one fresh database at the same moment."""
    code = ("import sys; from server.storage.database import open_database; "
            "from server.storage.migrations import upgrade; print(upgrade(open_database(sys.argv[1])))")
    url = f"sqlite:///{tmp_path / 'race.db'}"
    procs = [subprocess.Popen([sys.executable, "-c", code, url], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outputs]
    assert {out.strip() for out, _ in outputs} == {str(LATEST)}
    with sqlite3.connect(tmp_path / "race.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == LATEST


def test_records_reach_the_database_and_close_flushes(tmp_path: Path) -> None:
    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}", tmp_path / "spool")
    log.start()
    for i in range(250):
        log.record(make_record(i))
    log.close()
    assert rows(tmp_path / "p.db") == 250
    assert log.spool_records == 0


def test_unwritable_database_spools_and_drains_when_it_returns(tmp_path: Path) -> None:
    """SQLite stand-in for an outage: the database file's folder is not writable, then it is again."""
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    log = PredictionLog(f"sqlite:///{db_dir / 'p.db'}", tmp_path / "spool")
    log.start()
    failures: list[int] = []
    log.on_write_failure = failures.append
    original_insert = log._insert
    outage = threading.Event()
    outage.set()

    def flaky_insert(records: list[PredictionRecord]) -> None:
        if outage.is_set():
            raise OperationalError("database is down")
        original_insert(records)

    log._insert = flaky_insert  # type: ignore[method-assign]
    for i in range(30):
        log.record(make_record(i))
    wait_for(lambda: log.spool_records == 30)
    assert failures and rows(db_dir / "p.db") == 0
    outage.clear()
    for i in range(30, 40):
        log.record(make_record(i))
    wait_for(lambda: log.spool_records == 0 and rows(db_dir / "p.db") == 40, timeout=40)
    log.close()
    assert rows(db_dir / "p.db") == 40


def test_full_queue_overflows_to_the_spool(tmp_path: Path) -> None:
    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}", tmp_path / "spool", queue_size=5)
    for i in range(12):  # the writer thread is not started: the queue fills up
        log.record(make_record(i))
    assert log.queue_records == 5 and log.spool_records == 7
    log.start()
    log.close()
    assert rows(tmp_path / "p.db") == 12 and log.spool_records == 0


def test_spool_written_before_verdicts_existed_still_drains(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.append([make_record(1, "Deepfake")])
    (active,) = (tmp_path / "spool").glob("*.jsonl")
    active.write_text(active.read_text().replace(',"verdict":"Deepfake"', "").replace(', "verdict": "Deepfake"', ""))
    assert "verdict" not in active.read_text()
    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}", tmp_path / "spool")
    log.start()
    log.close()
    (record,) = list_predictions(log.db, HistoryQuery())[0]
    assert record.verdict == record.prediction == "Deepfake" and record.faces[0]["verdict"] == "Deepfake"


def test_spool_survives_restarts_and_keeps_torn_lines_aside(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([make_record(1), make_record(2)])
    with open(tmp_path / "active.jsonl", "a") as fh:
        fh.write('{"id": "torn by a crash"\n')
    reopened = Spool(tmp_path)
    assert reopened.count == 3
    got: list[PredictionRecord] = []
    assert reopened.drain(got.extend) == 2
    assert [r.request_id for r in got] == ["req-1", "req-2"] and reopened.count == 0
    assert len(list(tmp_path.glob("rejected-*.jsonl"))) == 1


def test_drain_that_fails_keeps_the_file(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([make_record(1)])

    def down(_records: list[PredictionRecord]) -> None:
        raise OperationalError("down")

    with pytest.raises(OperationalError):
        spool.drain(down)
    assert spool.count == 1 and list(tmp_path.glob("pending-*.jsonl"))


@pytest.fixture
def filled(tmp_path: Path) -> object:
    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}", tmp_path / "spool")
    log.start()
    start = datetime(2026, 11, 1, tzinfo=UTC)
    for i in range(25):
        log.record(make_record(i, "Deepfake" if i % 3 == 0 else "Real", start + timedelta(minutes=i)))
    log.close()
    return log.db


def test_history_is_newest_first_and_pages_do_not_overlap(filled: object) -> None:
    seen: list[str] = []
    token = ""
    while True:
        page, token = list_predictions(filled, HistoryQuery(page_size=10, page_token=token))  # type: ignore[arg-type]
        seen += [r.request_id for r in page]
        if not token:
            break
    assert seen == [f"req-{i}" for i in reversed(range(25))]


def test_history_filters_by_verdict_and_time(filled: object) -> None:
    db = filled
    fakes, _ = list_predictions(db, HistoryQuery(verdict="Deepfake"))  # type: ignore[arg-type]
    assert {r.prediction for r in fakes} == {"Deepfake"} and len(fakes) == 9
    window, _ = list_predictions(db, HistoryQuery(start_time="2026-11-01T00:05:00Z",  # type: ignore[arg-type]
                                                  end_time="2026-11-01T00:10:00+00:00"))
    assert [r.request_id for r in window] == [f"req-{i}" for i in (9, 8, 7, 6, 5)]
    record = get_prediction(db, window[0].id)  # type: ignore[arg-type]
    assert record.faces[0]["box"]["x_max"] == 3.0 and record.created_at.tzinfo is not None


@pytest.mark.parametrize(("query", "message"), [
    (HistoryQuery(verdict="Fake"), "verdict must be Real, Deepfake, Uncertain or empty"),
    (HistoryQuery(page_size=501), "page_size must be between"),
    (HistoryQuery(start_time="yesterday"), "RFC 3339"),
    (HistoryQuery(page_token="not-a-token"), "page_token"),
])
def test_bad_history_queries_are_clear(filled: object, query: HistoryQuery, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        list_predictions(filled, query)  # type: ignore[arg-type]


def test_unknown_id_is_not_found(filled: object) -> None:
    with pytest.raises(NotFound):
        get_prediction(filled, "f" * 32)  # type: ignore[arg-type]


def test_retention_deletes_only_old_records(tmp_path: Path) -> None:
    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}", tmp_path / "spool")
    now = datetime.now(UTC)
    log.start()
    log.record(make_record(1, when=now - timedelta(days=45)))
    log.record(make_record(2, when=now - timedelta(days=1)))
    log.close()
    assert log.delete_older_than(now - timedelta(days=30)) == 1
    remaining, _ = list_predictions(log.db, HistoryQuery())
    assert [r.request_id for r in remaining] == ["req-2"]


def test_retention_runs_on_the_writer_thread(tmp_path: Path) -> None:
    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}", tmp_path / "spool", retention_days=30)
    log.record(make_record(1, when=datetime.now(UTC) - timedelta(days=90)))
    log.start()
    log.record(make_record(2))
    wait_for(lambda: rows(tmp_path / "p.db") == 1)  # the old record came in and went out again
    log.close()


def test_uploads_are_content_addressed(tmp_path: Path) -> None:
    sha = "0123456789abcdef" * 4
    rel = store_upload(tmp_path, b"image bytes", sha, "PNG")
    assert rel == f"01/23/{sha}.png" and (tmp_path / rel).read_bytes() == b"image bytes"
    assert store_upload(tmp_path, b"image bytes", sha, "PNG") == rel
    with pytest.raises(ValueError):
        store_upload(tmp_path, b"x", "../../etc/passwd", "PNG")
