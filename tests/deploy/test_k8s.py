"""deploy/k8s without a cluster: every manifest against the Kubernetes OpenAPI schemas (strict), then the
links between objects (selectors, names, ports, probes) and the generated Envoy ConfigMap."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from server.config import Config, load_config
from tests.deploy.helpers import K8S, config_field_env_names, envoy_healthcheck_command, known_settings, yaml_docs

KUBERNETES_VERSION = "1.37.0"  # the newest schema set kubernetes-validate 1.37.0 bundles
MANIFESTS = sorted((K8S / "manifests").glob("*.yaml"))
DETECTOR = "deepfake.v1.DeepfakeDetector"


@pytest.fixture(scope="module")
def objects() -> dict[tuple[str, str], dict[str, Any]]:
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in MANIFESTS:
        for doc in yaml_docs(path):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in found, f"{key} defined twice"
            found[key] = doc
    return found


def pod_spec(objects: dict[tuple[str, str], dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    spec = objects[(kind, name)]["spec"]["template"]["spec"]
    assert isinstance(spec, dict)
    return spec


@pytest.mark.parametrize("path", MANIFESTS, ids=[p.name for p in MANIFESTS])
def test_manifests_match_the_kubernetes_schemas(path: Path) -> None:
    for doc in yaml_docs(path):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        assert "namespace" not in doc["metadata"], "namespace-agnostic: set it with -n or a kustomize overlay"
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "deepfake-detector"


def test_strict_validation_catches_a_typo(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    broken = json.loads(json.dumps(objects[("StatefulSet", "deepfake-server")]))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grcp"] = {"port": 50051}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization" and "namespace" not in kustomization
    assert sorted(kustomization["resources"]) == sorted(f"manifests/{p.name}" for p in MANIFESTS)
    images = {i["name"] for i in kustomization["images"]}
    used = {c["image"].split(":")[0] for p in MANIFESTS for d in yaml_docs(p) if "template" in d.get("spec", {})
            for c in d["spec"]["template"]["spec"]["containers"]}
    assert used == images


def test_every_container_has_resources_and_a_locked_down_security_context(
        objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    workloads = {k for k in objects if k[0] in {"Deployment", "StatefulSet"}}
    assert workloads == {("StatefulSet", "deepfake-server"), ("Deployment", "deepfake-envoy")}
    for kind, name in workloads:
        spec = pod_spec(objects, kind, name)
        assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] > 0
        assert spec["enableServiceLinks"] is False
        for container in spec["containers"]:
            resources = container["resources"]
            for part in ("requests", "limits"):
                assert resources[part]["cpu"] and resources[part]["memory"], f"{name}: {part}"
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True and context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert container["readinessProbe"] and container["livenessProbe"]


def test_server_probes_are_grpc_health_checks(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    container = pod_spec(objects, "StatefulSet", "deepfake-server")["containers"][0]
    port = Config().port
    assert container["readinessProbe"]["grpc"] == {"port": port, "service": DETECTOR}
    assert container["startupProbe"]["grpc"] == {"port": port, "service": DETECTOR}
    assert container["livenessProbe"]["grpc"]["port"] == port  # service "": the process as a whole
    startup = container["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60, "the model loads for 5-20 s, more if busy"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": port, "metrics": 9100}


def test_server_settings(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    spec = pod_spec(objects, "StatefulSet", "deepfake-server")
    container = spec["containers"][0]
    config_map = objects[("ConfigMap", "deepfake-server-config")]["data"]
    secret = objects[("Secret", "deepfake-server-secrets")]["stringData"]
    assert {r.get("configMapRef", r.get("secretRef"))["name"] for r in container["envFrom"]} == \
        {"deepfake-server-config", "deepfake-server-secrets"}
    names = set(config_map) | set(secret) | {e["name"] for e in container["env"]}
    assert names <= known_settings(), names - known_settings()
    config = load_config([], environ={**config_map, **secret, "DEEPFAKE_THREADS": "2"})
    assert config.host == "0.0.0.0" and config.port == Config().port
    # torch threads follow the CPU limit.
    threads = next(e for e in container["env"] if e["name"] == "DEEPFAKE_THREADS")["valueFrom"]["resourceFieldRef"]
    assert threads == {"containerName": container["name"], "resource": "limits.cpu", "divisor": "1"}
    assert container["resources"]["requests"]["memory"] == "2Gi" and container["resources"]["limits"]["cpu"] == "2"
    # Termination: preStop pause + the drain must fit in the grace period.
    grace = float(config_map.get("DEEPFAKE_GRACE_S", Config().grace_s))
    pause = float(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    assert spec["terminationGracePeriodSeconds"] > pause + grace
    # The spool and everything else the server writes live on the pod's own persistent volume.
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["var"] == "/app/var" and config_map["DEEPFAKE_SPOOL_DIR"].startswith("/app/var/")
    claims = objects[("StatefulSet", "deepfake-server")]["spec"]["volumeClaimTemplates"]
    assert [c["metadata"]["name"] for c in claims] == ["var"]
    assert spec["securityContext"]["fsGroup"] == spec["securityContext"]["runAsUser"] == 10001


def test_secret_is_a_marked_placeholder(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    secret = objects[("Secret", "deepfake-server-secrets")]
    assert secret["metadata"]["annotations"]["deepfake-detector/placeholder"] == "true"
    assert "CHANGE-ME" in secret["stringData"]["DEEPFAKE_DATABASE_URL"]
    assert "PLACEHOLDER" in (K8S / "manifests" / "server-secret.yaml").read_text()


def test_selectors_match_the_pods(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    server_labels = objects[("StatefulSet", "deepfake-server")]["spec"]["template"]["metadata"]["labels"]
    envoy_labels = objects[("Deployment", "deepfake-envoy")]["spec"]["template"]["metadata"]["labels"]

    def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
        return bool(selector) and all(labels.get(k) == v for k, v in selector.items())

    for (kind, name), obj in objects.items():
        spec = obj.get("spec", {})
        if kind in {"StatefulSet", "Deployment"}:
            assert selects(spec["selector"]["matchLabels"], spec["template"]["metadata"]["labels"]), name
        elif kind == "Service":
            target = server_labels if name.startswith("deepfake-server") else envoy_labels
            assert selects(spec["selector"], target), name
        elif kind == "PodDisruptionBudget":
            target = server_labels if name == "deepfake-server" else envoy_labels
            assert selects(spec["selector"]["matchLabels"], target), name
    # The HPA scales the server StatefulSet; the StatefulSet's governing Service is the headless one.
    hpa = objects[("HorizontalPodAutoscaler", "deepfake-server")]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "deepfake-server"}
    assert hpa["minReplicas"] >= 2 and hpa["metrics"][0]["resource"]["name"] == "cpu"
    assert objects[("StatefulSet", "deepfake-server")]["spec"]["replicas"] >= 2
    assert objects[("StatefulSet", "deepfake-server")]["spec"]["serviceName"] == "deepfake-server-headless"


def test_services(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    headless = objects[("Service", "deepfake-server-headless")]["spec"]
    assert headless["clusterIP"] == "None" and headless["publishNotReadyAddresses"] is False
    assert headless["ports"][0]["port"] == Config().port
    assert objects[("Service", "deepfake-server")]["spec"]["type"] == "ClusterIP"
    assert objects[("Service", "deepfake-envoy")]["spec"]["ports"][0]["port"] == Config().http_port


def test_no_service_link_variable_could_collide_with_a_setting(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    """Kubernetes would inject <SERVICE>_PORT, <SERVICE>_SERVICE_HOST, ... for every Service (service links
    are off in the pods, but a Service named "deepfake" would still be a trap for any other pod spec)."""
    settings = config_field_env_names()
    for (kind, name), obj in objects.items():
        if kind != "Service":
            continue
        prefix = name.upper().replace("-", "_")
        injected = {f"{prefix}_PORT", f"{prefix}_SERVICE_HOST", f"{prefix}_SERVICE_PORT"}
        for port in obj["spec"]["ports"]:
            injected |= {f"{prefix}_SERVICE_PORT_{port['name'].upper()}", f"{prefix}_PORT_{port['port']}_TCP"}
        assert not injected & settings, f"Service {name} would set {injected & settings}"


def test_prometheus_annotations_point_at_the_metrics_ports(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    for kind, name, path in (("StatefulSet", "deepfake-server", "/metrics"),
                             ("Deployment", "deepfake-envoy", "/stats/prometheus")):
        template = objects[(kind, name)]["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        ports = {p["containerPort"] for c in template["spec"]["containers"] for p in c["ports"]}
        assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/path"] == path
        assert int(annotations["prometheus.io/port"]) in ports


def _render(tmp_path: Path) -> tuple[Path, Path]:
    """Run deploy/k8s/render-envoy-config.sh into temporary copies of its two outputs."""
    out, deployment = tmp_path / "envoy-config.yaml", tmp_path / "envoy.yaml"
    shutil.copy(K8S / "manifests" / "envoy.yaml", deployment)
    result = subprocess.run(["bash", str(K8S / "render-envoy-config.sh"), str(out), str(deployment)],
                            env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return out, deployment


def test_envoy_configmap_is_what_render_produces(tmp_path: Path) -> None:
    """The committed ConfigMap and the config hash on the Envoy pods equal a fresh render by the project's
    `python -m server.launch.render`: change server/launch/envoy.py and this fails until
    deploy/k8s/render-envoy-config.sh is run again."""
    out, deployment = _render(tmp_path)
    hint = "run deploy/k8s/render-envoy-config.sh"
    assert out.read_text() == (K8S / "manifests" / "envoy-config.yaml").read_text(), f"stale ConfigMap: {hint}"
    assert deployment.read_text() == (K8S / "manifests" / "envoy.yaml").read_text(), f"stale config hash: {hint}"


def test_envoy_deployment_uses_the_configmap(objects: dict[tuple[str, str], dict[str, Any]]) -> None:
    config = json.loads(objects[("ConfigMap", "deepfake-envoy-config")]["data"]["envoy.json"])
    cluster = next(c for c in config["static_resources"]["clusters"] if c["name"] == "deepfake_grpc")
    assert cluster["type"] == "STRICT_DNS"
    address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    assert (address["address"], address["port_value"]) == ("deepfake-server-headless", Config().port)
    spec = pod_spec(objects, "Deployment", "deepfake-envoy")
    container = spec["containers"][0]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    volume = next(v for v in spec["volumes"] if v["name"] == "config")
    assert volume["configMap"]["name"] == "deepfake-envoy-config"
    args = container["args"]
    assert args[args.index("-c") + 1] == f"{mount['mountPath']}/envoy.json"
    assert args[args.index("--concurrency") + 1] == container["resources"]["limits"]["cpu"]
    digest = hashlib.sha256(objects[("ConfigMap", "deepfake-envoy-config")]["data"]["envoy.json"].encode()).hexdigest()
    template = objects[("Deployment", "deepfake-envoy")]["spec"]["template"]
    assert template["metadata"]["annotations"]["deepfake-detector/envoy-config-sha256"] == digest
    # Envoy's ports: listener 8000 and the stats listener 9902, as rendered.
    listeners = {listener["name"]: listener["address"]["socket_address"]["port_value"]
                 for listener in config["static_resources"]["listeners"]}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": listeners["public"],
                                                                           "stats": listeners["stats"]}
    # The readiness probe is the image's HEALTHCHECK command (checked against a real Envoy elsewhere).
    assert container["readinessProbe"]["exec"]["command"] == envoy_healthcheck_command()
    assert spec["terminationGracePeriodSeconds"] > int(args[args.index("--drain-time-s") + 1])
