"""The optional TLS setups: deploy/docker/compose.tls.yaml (an override of compose.yaml) and deploy/k8s-tls
(a kustomize overlay of deploy/k8s). Certificates come from deploy/docker/make-tls-certs.sh at test time;
the health-check script both use runs against a real gRPC server with the server's mutual-TLS settings."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent import futures
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

import grpc
import jsonschema
import kubernetes_validate
import pytest
import yaml
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from server.config import load_config
from server.probe import DETECTOR_SERVICE
from tests.deploy.envoy_run import EnvoyAssets, envoy_validate
from tests.deploy.helpers import (
    DOCKER,
    K8S_TLS,
    REPO,
    known_settings,
    parse_dockerfile,
    render_args_of_envoy_dockerfile,
    yaml_docs,
)
from tests.deploy.test_access import kustomize, needs_kubectl
from tests.deploy.test_k8s import KUBERNETES_VERSION

COMPOSE_TLS = DOCKER / "compose.tls.yaml"
RENDER_SCRIPT = K8S_TLS / "render-envoy-config.sh"
ENVOY_TLS_ARGS = ("TLS_CERT_FILE", "TLS_KEY_FILE", "UPSTREAM_CA_FILE", "UPSTREAM_CERT_FILE", "UPSTREAM_KEY_FILE")


@pytest.fixture(scope="module")
def override() -> dict[str, Any]:
    doc = yaml.safe_load(COMPOSE_TLS.read_text())
    assert isinstance(doc, dict)
    return doc


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """deploy/docker/make-tls-certs.sh into a temporary folder, with a self-signed public certificate."""
    folder = tmp_path_factory.mktemp("certs") / "tls"
    result = subprocess.run(["bash", str(DOCKER / "make-tls-certs.sh"), str(folder), "--public", "localhost"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return folder


def _server_patch() -> dict[str, Any]:
    (patch,) = yaml_docs(K8S_TLS / "server-tls.yaml")
    container = patch["spec"]["template"]["spec"]["containers"][0]
    assert isinstance(container, dict) and container["name"] == "server"
    return container


# ---- compose.tls.yaml ------------------------------------------------------------------------------------

def test_compose_override_matches_the_schema(override: dict[str, Any]) -> None:
    schema = json.loads((resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json").read_text())
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(override)]
    assert not errors, "\n".join(errors)
    assert set(override["services"]) == {"server", "envoy"}


def test_compose_override_mounts_every_certificate_it_names(override: dict[str, Any]) -> None:
    """Each path the server settings and the Envoy build arguments name is the target of a secret, whose
    file lies in deploy/docker/tls/ (git-ignored, outside the build context)."""
    secrets = override["secrets"]
    for name, paths in (("server", override["services"]["server"]["environment"].values()),
                        ("envoy", override["services"]["envoy"]["build"]["args"].values())):
        targets = {m["target"]: m["source"] for m in override["services"][name]["secrets"]}
        assert set(paths) == set(targets), name
        for source in targets.values():
            assert PurePosixPath(secrets[source]["file"]).parent == PurePosixPath("tls"), source
    assert set(override["services"]["envoy"]["build"]["args"]) == set(ENVOY_TLS_ARGS)
    image = override["services"]["envoy"]["image"]
    assert image != "deepfake-envoy:0.1.0", "a TLS build must not overwrite the plain image"


def test_compose_override_server_settings_parse(override: dict[str, Any]) -> None:
    base = yaml.safe_load((DOCKER / "compose.yaml").read_text())["services"]["server"]["environment"]
    image = {k: v for k, v in parse_dockerfile(DOCKER / "server.Dockerfile").final.env().items()
             if k.startswith("DEEPFAKE_")}
    env = {**image, **{k: str(v) for k, v in base.items() if "${" not in str(v)},
           **override["services"]["server"]["environment"]}
    assert set(override["services"]["server"]["environment"]) <= known_settings()
    config = load_config([], environ=env)
    assert config.tls_cert_file and config.tls_key_file and config.tls_client_ca_file, "mutual TLS"
    assert config.api_keys_file, "TLS does not replace API keys"


def test_compose_and_kubernetes_use_the_same_paths(override: dict[str, Any]) -> None:
    """One layout: the server settings of the Kubernetes overlay equal compose's, and its Envoy is rendered
    with the build arguments of compose.tls.yaml."""
    k8s_env = {e["name"]: e["value"] for e in _server_patch()["env"]}
    assert k8s_env == override["services"]["server"]["environment"]
    args = render_args_of_envoy_dockerfile(override["services"]["envoy"]["build"]["args"])
    script = RENDER_SCRIPT.read_text()
    for flag in ("--tls-cert-file", "--tls-key-file", "--upstream-ca-file", "--upstream-cert-file",
                 "--upstream-key-file"):
        assert f"{flag} {args[flag]}" in script, flag


# ---- the health check over mutual TLS --------------------------------------------------------------------

def _probe_scripts(override: dict[str, Any]) -> list[tuple[str, str]]:
    """(script, service) of compose.tls.yaml's healthcheck and of the overlay's three probes."""
    test = override["services"]["server"]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    found = [(test[3], test[4])]
    container = _server_patch()
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        command = container[probe]["exec"]["command"]
        assert command[:2] == ["python", "-c"] and container[probe]["grpc"] is None
        found.append((command[2], command[3]))
    return found


def test_every_copy_of_the_probe_script_is_the_same(override: dict[str, Any]) -> None:
    scripts = _probe_scripts(override)
    assert len({script for script, _ in scripts}) == 1
    assert [service for _, service in scripts] == [DETECTOR_SERVICE, DETECTOR_SERVICE, DETECTOR_SERVICE, ""]
    assert "$" not in scripts[0][0], "compose would interpolate it"


@pytest.fixture(scope="module")
def mtls_server(certs: Path) -> Iterator[tuple[int, health.HealthServicer]]:
    """The standard health service behind the server's mutual TLS (server/app.py: ssl_server_credentials with
    the client CA and require_client_auth), with make-tls-certs.sh's certificates."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    credentials = grpc.ssl_server_credentials(
        [((certs / "server.key").read_bytes(), (certs / "server.crt").read_bytes())],
        root_certificates=(certs / "ca.crt").read_bytes(), require_client_auth=True)
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    yield port, servicer
    server.stop(0)


def _run_probe(script: str, service: str, port: int, certs: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DEEPFAKE_PORT": str(port), "DEEPFAKE_TLS_CERT_FILE": str(certs / "server.crt"),
           "DEEPFAKE_TLS_KEY_FILE": str(certs / "server.key"), "DEEPFAKE_TLS_CLIENT_CA_FILE": str(certs / "ca.crt")}
    return subprocess.run([sys.executable, "-c", script, service], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=60)


def test_probe_script_over_mutual_tls(override: dict[str, Any], certs: Path,
                                      mtls_server: tuple[int, health.HealthServicer]) -> None:
    script, service = _probe_scripts(override)[0]
    port, servicer = mtls_server
    servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
    ok = _run_probe(script, service, port, certs)
    assert ok.returncode == 0, ok.stderr
    servicer.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)  # loading, or draining
    assert _run_probe(script, service, port, certs).returncode == 1
    assert _run_probe(script, service, 1, certs).returncode != 0  # nothing listening


def test_certificates_make_a_working_mutual_tls_link(certs: Path,
                                                     mtls_server: tuple[int, health.HealthServicer]) -> None:
    """Envoy's client certificate gets in; no certificate, or one from another CA, does not."""
    port, servicer = mtls_server
    servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    ca = (certs / "ca.crt").read_bytes()

    def check(credentials: grpc.ChannelCredentials) -> bool:
        options = [("grpc.ssl_target_name_override", "server")]  # the compose service name, in the SAN
        with grpc.secure_channel(f"127.0.0.1:{port}", credentials, options) as channel:
            try:
                health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
            except grpc.RpcError:
                return False
        return True

    envoy = grpc.ssl_channel_credentials(ca, (certs / "envoy-client.key").read_bytes(),
                                         (certs / "envoy-client.crt").read_bytes())
    assert check(envoy)
    assert not check(grpc.ssl_channel_credentials(ca))
    stranger = grpc.ssl_channel_credentials(ca, (certs / "public.key").read_bytes(),
                                            (certs / "public.crt").read_bytes())
    assert not check(stranger)


# ---- deploy/k8s-tls --------------------------------------------------------------------------------------

def test_overlay_lists_its_files() -> None:
    kustomization = yaml.safe_load((K8S_TLS / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"]) | {p["path"] for p in kustomization["patches"]}
    assert listed == {"../k8s"} | {p.name for p in K8S_TLS.glob("*.yaml") if p.name != "kustomization.yaml"}


def test_overlay_envoy_config_is_what_render_produces(tmp_path: Path) -> None:
    """deploy/k8s-tls/envoy-config.yaml and its hash in envoy-tls.yaml equal a fresh run of the overlay's
    render script: change server/launch/envoy.py and this fails until it is run again."""
    out, patch = tmp_path / "envoy-config.yaml", tmp_path / "envoy-tls.yaml"
    shutil.copy(K8S_TLS / "envoy-tls.yaml", patch)
    result = subprocess.run(["bash", str(RENDER_SCRIPT), str(out), str(patch)],
                            env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    hint = "run deploy/k8s-tls/render-envoy-config.sh"
    assert out.read_text() == (K8S_TLS / "envoy-config.yaml").read_text(), f"stale ConfigMap: {hint}"
    assert patch.read_text() == (K8S_TLS / "envoy-tls.yaml").read_text(), f"stale config hash: {hint}"
    text = yaml.safe_load(out.read_text())["data"]["envoy.json"]
    (annotated,) = yaml_docs(K8S_TLS / "envoy-tls.yaml")
    digest = annotated["spec"]["template"]["metadata"]["annotations"]["deepfake-detector/envoy-config-sha256"]
    assert digest == hashlib.sha256(text.encode()).hexdigest()


def test_overlay_envoy_config_is_valid(envoy_assets: EnvoyAssets, certs: Path, tmp_path: Path) -> None:
    """Envoy validates the overlay's config with the image's paths mapped to stand-ins and the certificate
    paths mapped to make-tls-certs.sh's files (so the certificates are loaded and checked too)."""
    text = yaml.safe_load((K8S_TLS / "envoy-config.yaml").read_text())["data"]["envoy.json"]
    args = render_args_of_envoy_dockerfile()
    text = envoy_assets.localise(text, args["--descriptor"], args["--ui-dir"], args["--openapi"])
    for in_pod, local in (("public/tls.crt", "public.crt"), ("public/tls.key", "public.key"),
                          ("upstream/ca.crt", "ca.crt"), ("upstream/tls.crt", "envoy-client.crt"),
                          ("upstream/tls.key", "envoy-client.key")):
        path = f"/run/secrets/deepfake-tls/{in_pod}"
        assert json.dumps(path) in text, path
        text = text.replace(json.dumps(path), json.dumps(str(certs / local)))
    config = tmp_path / "envoy.json"
    config.write_text(text)
    result = envoy_validate(config)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@needs_kubectl
def test_overlay_builds_into_valid_objects(tmp_path: Path) -> None:
    """`kubectl kustomize deploy/k8s-tls`: the Kubernetes objects pass the strict schemas; every certificate
    Secret a pod mounts is made by a cert-manager Certificate (except the public one, which is yours), and
    the paths the settings and Envoy's config name lie in those mounts."""
    result = kustomize(K8S_TLS, tmp_path)
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    cert_manager = [d for d in docs if d["apiVersion"] == "cert-manager.io/v1"]
    for doc in docs:
        if doc not in cert_manager:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    issuers = {d["metadata"]["name"] for d in cert_manager if d["kind"] == "Issuer"}
    certificates = {d["spec"]["secretName"]: d["spec"] for d in cert_manager if d["kind"] == "Certificate"}
    assert all(spec["issuerRef"]["name"] in issuers for spec in certificates.values())
    server_cert = certificates["deepfake-server-tls"]
    assert "localhost" in server_cert["dnsNames"] and "client auth" in server_cert["usages"]

    def mounted(kind: str) -> dict[str, str]:
        """mount path -> Secret name of the workload's first container."""
        spec = next(d for d in docs if d["kind"] == kind)["spec"]["template"]["spec"]
        secrets = {v["name"]: v["secret"]["secretName"] for v in spec["volumes"] if "secret" in v}
        return {m["mountPath"]: secrets[m["name"]] for m in spec["containers"][0]["volumeMounts"]
                if m["name"] in secrets}

    server = next(d for d in docs if d["kind"] == "StatefulSet")["spec"]["template"]["spec"]["containers"][0]
    server_mounts = mounted("StatefulSet")
    for variable in ("DEEPFAKE_TLS_CERT_FILE", "DEEPFAKE_TLS_KEY_FILE", "DEEPFAKE_TLS_CLIENT_CA_FILE"):
        path = PurePosixPath(next(e["value"] for e in server["env"] if e["name"] == variable))
        assert server_mounts[str(path.parent)] == "deepfake-server-tls"
        assert path.name in {"tls.crt", "tls.key", "ca.crt"}
    envoy_mounts = mounted("Deployment")
    config = json.loads(next(d for d in docs if d["metadata"]["name"] == "deepfake-envoy-config")["data"]["envoy.json"])
    text = json.dumps(config)
    for directory, secret in envoy_mounts.items():
        assert f"{directory}/tls.crt" in text
        assert secret in certificates or secret == "deepfake-envoy-https", secret
    assert envoy_mounts["/run/secrets/deepfake-tls/upstream"] in certificates
    envoy_pod = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]
    assert envoy_pod["securityContext"]["fsGroup"] == 101
