"""The Python client library and the deepfake-detect CLI against the real server and model."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest
from deepfake_client import DeepfakeClient, InvalidImageError
from deepfake_client.cli import main as cli
from PIL import Image

from server.app import RunningServer
from tests.unit.test_storage import wait_for


@pytest.fixture(scope="module")
def client(served: RunningServer) -> DeepfakeClient:
    return DeepfakeClient(f"127.0.0.1:{served.port}")


def test_typed_prediction_with_heatmap(client: DeepfakeClient, photos_dir: Path) -> None:
    result = client.predict(photos_dir / "angelina_jolie.jpg", explain=True)
    assert result.filename == "angelina_jolie.jpg"
    assert result.prediction in ("Real", "Deepfake") and result.is_deepfake == (result.prediction == "Deepfake")
    assert result.verdict in ("Real", "Deepfake", "Uncertain") and result.faces[0].verdict == result.verdict
    band = client.model_info().uncertain_band
    assert band is not None and (band.is_banded or result.verdict == result.prediction)
    assert len(result.faces) == 1 and result.faces[0].box.width > 100
    assert result.heatmap_png is not None and Image.open(io.BytesIO(result.heatmap_png)).format == "PNG"
    assert client.health().is_healthy
    assert client.model_info().metrics is not None


def test_errors_are_typed_and_carry_the_request_id(client: DeepfakeClient) -> None:
    with pytest.raises(InvalidImageError) as info:
        client.predict(b"definitely not an image", filename="notes.txt")
    assert "JPEG, PNG or WebP" in info.value.details
    assert info.value.request_id and len(info.value.request_id) == 32


def test_cli_scan_of_a_folder(served: RunningServer, photos_dir: Path, tmp_path: Path,
                              capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "uploads"
    folder.mkdir()
    for name in ("paul_rudd.jpg", "multiface.jpg"):
        shutil.copy(photos_dir / name, folder / name)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0broken")
    out = tmp_path / "results.csv"
    code = cli(["--server", f"127.0.0.1:{served.port}", "scan", str(folder), "--concurrency", "3",
                "--output", str(out), "--heatmap-dir", str(tmp_path / "heat")])
    assert code == 1, "one file failed"
    rows = {Path(r["path"]).name: r for r in csv.DictReader(out.open())}
    assert rows["multiface.jpg"]["faces"] == "6" and rows["multiface.jpg"]["error"] == ""
    assert rows["paul_rudd.jpg"]["prediction"] in ("Real", "Deepfake")
    assert "truncated or corrupt" in rows["broken.jpg"]["error"]
    assert len(list((tmp_path / "heat").glob("*.png"))) == 2
    assert "3" in capsys.readouterr().err


def test_history_through_the_client_and_cli(client: DeepfakeClient, served: RunningServer, photos_dir: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    made = client.predict(photos_dir / "shea_whigham.jpg")
    wait_for(lambda: any(r.id == made.prediction_id for r in client.list_predictions(page_size=100).predictions))
    record = client.get_prediction(made.prediction_id)
    assert record.filename == "shea_whigham.jpg" and record.created_at.tzinfo is not None
    assert len(record.faces) == len(made.faces)
    assert record.verdict == made.verdict and record.faces[0].verdict == made.faces[0].verdict
    page = client.list_predictions(verdict=made.verdict, page_size=1)
    assert len(page.predictions) == 1 and page.predictions[0].verdict == made.verdict
    assert cli(["--server", f"127.0.0.1:{served.port}", "history", "--limit", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert 1 <= len(lines) <= 3 and all("faces" in line for line in lines)
    assert cli(["--server", f"127.0.0.1:{served.port}", "history", "--verdict", made.verdict, "--limit", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines and all(f"  {made.verdict} " in line for line in lines)
