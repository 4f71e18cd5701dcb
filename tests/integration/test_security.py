"""Access control and transport security with the real server and Envoy: API keys, TLS, mTLS, headers."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
import requests
from deepfake.v1 import detector_pb2 as pb
from deepfake.v1 import detector_pb2_grpc

from server.app import RunningServer, build_service, create_server
from server.auth import HISTORY, PREDICT, ApiKey, KeyRing, hash_key, new_key
from server.config import Config
from tests.conftest import REPO
from tests.integration.certs import Pki, make_pki
from tests.integration.gateway import Envoy, free_port, settings_for
from tests.unit.test_storage import wait_for

PREDICT_KEY, HISTORY_KEY = new_key(), new_key()
KEYS = KeyRing((ApiKey("kyc-app", hash_key(PREDICT_KEY), frozenset({PREDICT})),
                ApiKey("analyst", hash_key(HISTORY_KEY), frozenset({PREDICT, HISTORY}))))


def start(tmp_path: Path, keys: KeyRing | None = None, **config: object) -> RunningServer:
    cfg = Config(port=0, metrics_port=0, database_url=f"sqlite:///{tmp_path / 'p.db'}", spool_dir=tmp_path / "spool",
                 **config)  # type: ignore[arg-type]
    service = build_service(cfg)
    assert service.prediction_log is not None
    service.prediction_log.start()
    service.load()
    running = create_server(cfg, service, keys)
    running.mark_serving()
    return running


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start(tmp_path_factory.mktemp("keyed"), KEYS)
    yield running
    running.stop(1.0)


def auth(key: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {key}")]


def test_api_keys_over_grpc(keyed: RunningServer, photos_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    image = (photos_dir / "paul_rudd.jpg").read_bytes()
    caplog.set_level(logging.DEBUG)
    with grpc.insecure_channel(f"127.0.0.1:{keyed.port}", options=[("grpc.max_send_message_length", 16 << 20)]) as ch:
        stub = detector_pb2_grpc.DeepfakeDetectorStub(ch)
        assert stub.Health(pb.HealthRequest(), timeout=10).status == "healthy", "health stays open"
        assert stub.ModelInfo(pb.ModelInfoRequest(), timeout=10).model_name
        for metadata in ([], auth("wrong"), [("authorization", PREDICT_KEY)]):
            with pytest.raises(grpc.RpcError) as info:
                stub.Predict(pb.PredictRequest(image=image), metadata=metadata, timeout=30)
            assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert "authorization: Bearer" in info.value.details()
        made = stub.Predict(pb.PredictRequest(image=image), metadata=auth(PREDICT_KEY), timeout=60)
        with pytest.raises(grpc.RpcError) as info:
            stub.ListPredictions(pb.ListPredictionsRequest(), metadata=auth(PREDICT_KEY), timeout=30)
        assert info.value.code() == grpc.StatusCode.PERMISSION_DENIED
        wait_for(lambda: stub.ListPredictions(pb.ListPredictionsRequest(), metadata=auth(HISTORY_KEY),
                                              timeout=30).predictions)
        record = stub.GetPrediction(pb.GetPredictionRequest(id=made.prediction_id), metadata=auth(HISTORY_KEY),
                                    timeout=30)
        assert record.client == "kyc-app", "the key's name is the caller's identity"
    logged = "\n".join(r.getMessage() + str(r.__dict__) for r in caplog.records)
    assert PREDICT_KEY not in logged and HISTORY_KEY not in logged
    assert keyed.service.prediction_log is not None
    db_file = Path(keyed.service.prediction_log.db.database)
    stored = db_file.read_bytes() + b"".join(p.read_bytes() for p in db_file.parent.glob("*.db-wal"))
    assert PREDICT_KEY.encode() not in stored and b"kyc-app" in stored


def test_api_keys_over_rest(keyed: RunningServer, tmp_path: Path, photos_dir: Path) -> None:
    with Envoy(settings_for(keyed.port), tmp_path) as envoy, open(photos_dir / "kate_siegel.jpg", "rb") as fh:
        data = fh.read()
        missing = requests.post(f"{envoy.url}/predict", files={"file": data}, timeout=30)
        assert missing.status_code == 401 and "API key" in missing.json()["message"]
        ok = requests.post(f"{envoy.url}/predict", files={"file": data},
                           headers={"authorization": f"Bearer {PREDICT_KEY}"}, timeout=60)
        assert ok.status_code == 200
        denied = requests.get(f"{envoy.url}/v1/predictions", headers={"authorization": f"Bearer {PREDICT_KEY}"},
                              timeout=30)
        assert denied.status_code == 403
        listed = requests.get(f"{envoy.url}/v1/predictions", headers={"authorization": f"Bearer {HISTORY_KEY}"},
                              timeout=30)
        assert listed.status_code == 200
        assert requests.get(f"{envoy.url}/health", timeout=10).status_code == 200


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_grpc_over_tls_and_mutual_tls(tmp_path: Path, pki: Pki) -> None:
    running = start(tmp_path, tls_cert_file=str(pki.server_cert), tls_key_file=str(pki.server_key),
                    tls_client_ca_file=str(pki.ca))
    target = f"localhost:{running.port}"
    try:
        with_cert = grpc.ssl_channel_credentials(pki.ca.read_bytes(), pki.client_key.read_bytes(),
                                                 pki.client_cert.read_bytes())
        with grpc.secure_channel(target, with_cert) as ch:
            assert detector_pb2_grpc.DeepfakeDetectorStub(ch).Health(pb.HealthRequest(), timeout=10).status
        without_cert = grpc.ssl_channel_credentials(pki.ca.read_bytes())
        with grpc.secure_channel(target, without_cert) as ch, pytest.raises(grpc.RpcError) as info:
            detector_pb2_grpc.DeepfakeDetectorStub(ch).Health(pb.HealthRequest(), timeout=10)
        assert info.value.code() == grpc.StatusCode.UNAVAILABLE, "mTLS: no client certificate, no connection"
        with grpc.insecure_channel(target) as ch, pytest.raises(grpc.RpcError):
            detector_pb2_grpc.DeepfakeDetectorStub(ch).Health(pb.HealthRequest(), timeout=5)
    finally:
        running.stop(1.0)


def test_https_gateway_with_mutual_tls_to_the_server(tmp_path: Path, pki: Pki, photos_dir: Path) -> None:
    running = start(tmp_path, tls_cert_file=str(pki.server_cert), tls_key_file=str(pki.server_key),
                    tls_client_ca_file=str(pki.ca))
    settings = replace(settings_for(running.port), tls_cert_file=str(pki.server_cert),
                       tls_key_file=str(pki.server_key), upstream_ca_file=str(pki.ca),
                       upstream_cert_file=str(pki.client_cert), upstream_key_file=str(pki.client_key))
    try:
        with Envoy(settings, tmp_path) as envoy:
            url = f"https://localhost:{envoy.settings.listen_port}"
            with open(photos_dir / "multiface.jpg", "rb") as fh:
                r = requests.post(f"{url}/predict", files={"file": fh}, verify=str(pki.ca), timeout=60)
            assert r.status_code == 200 and len(r.json()["faces"]) == 6
            assert r.headers["strict-transport-security"].startswith("max-age=")
            with pytest.raises(requests.exceptions.ConnectionError):
                requests.get(f"http://localhost:{envoy.settings.listen_port}/health", timeout=5)
    finally:
        running.stop(1.0)


def test_security_headers(gateway: Envoy) -> None:
    ui = requests.get(f"{gateway.url}/", timeout=10)
    csp = ui.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    docs = requests.get(f"{gateway.url}/docs/", timeout=10)
    assert "frame-ancestors 'none'" in docs.headers["content-security-policy"]
    for response in (ui, docs, requests.get(f"{gateway.url}/health", timeout=10)):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"


def test_a_broken_keys_file_stops_the_server_with_a_clear_message(tmp_path: Path) -> None:
    bad = tmp_path / "keys.json"
    bad.write_text(json.dumps({"keys": [{"name": "x", "sha256": "nope"}]}))
    result = subprocess.run([sys.executable, "-m", "server", "--host", "0.0.0.0", "--port", str(free_port()),
                             "--api-keys-file", str(bad), "--metrics-port", "0"], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "64-digit hex" in result.stderr and "Traceback" not in result.stderr
