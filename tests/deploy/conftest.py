"""Fixtures for the deployment checks: the files Envoy's config points at, and one real Envoy started with
the deployment's settings on free local ports (tests/deploy/envoy_run.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.launch.descriptor import build_descriptor
from tests.deploy.envoy_run import EnvoyAssets, RunningEnvoy, start_envoy, stop_envoy


@pytest.fixture(scope="session")
def envoy_assets(tmp_path_factory: pytest.TempPathFactory) -> EnvoyAssets:
    root = tmp_path_factory.mktemp("envoy-assets")
    (root / "ui" / "docs").mkdir(parents=True)
    (root / "ui" / "index.html").write_text("<!doctype html><title>ui</title>\n")
    (root / "ui" / "docs" / "index.html").write_text("<!doctype html><title>docs</title>\n")
    (root / "openapi.yaml").write_text("openapi: 3.0.3\n")
    return EnvoyAssets(build_descriptor(root / "detector.pb"), root / "ui", root / "openapi.yaml")


@pytest.fixture(scope="session")
def running_envoy(envoy_assets: EnvoyAssets, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningEnvoy]:
    envoy = start_envoy(envoy_assets, tmp_path_factory.mktemp("envoy-run"))
    yield envoy
    stop_envoy(envoy)


@pytest.fixture(scope="session")
def envoy_metric_names(running_envoy: RunningEnvoy) -> set[str]:
    """Every metric name Envoy exposes on its stats listener (zero-valued counters included). One REST call
    first (503: no server) creates the stats Envoy makes on first use, such as upstream_rq_xx."""
    assert running_envoy.get(running_envoy.listen_port, "/health")[0] == 503
    status, text = running_envoy.get(running_envoy.stats_port, "/stats/prometheus")
    assert status == 200
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
