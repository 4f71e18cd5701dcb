"""Access control in every shipped server config: the servers listen on a non-loopback address, so each
config must point DEEPFAKE_API_KEYS_FILE at a keys file mounted from a secret (compose: a Docker secret;
Kubernetes: a Secret volume), and none may switch the check off with DEEPFAKE_ALLOW_OPEN_NETWORK."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from server.auth import PERMISSIONS, KeyRing
from server.config import load_config
from tests.deploy.helpers import (
    API_KEYS_FILE,
    API_KEYS_SOURCES,
    DEPLOY,
    DOCKER,
    K8S,
    K8S_TLS,
    REPO,
    TLS_DIR,
    DockerIgnore,
    parse_dockerfile,
    yaml_docs,
)

SERVER_DOCKERFILES = [DOCKER / "server.Dockerfile", DOCKER / "server-cuda.Dockerfile"]
COMPOSE_FILES = sorted(DOCKER.glob("compose*.yaml"))
KUBECTL = shutil.which("kubectl")
needs_kubectl = pytest.mark.skipif(KUBECTL is None, reason="kubectl (for `kubectl kustomize`) is not installed")


def _text_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.suffix in {".yaml", ".yml", ".json", ".sh", ".Dockerfile"}]


def test_no_shipped_config_allows_an_open_network() -> None:
    """DEEPFAKE_ALLOW_OPEN_NETWORK (serve without keys on the network) appears in no deployment file."""
    files = _text_files(DEPLOY)
    assert any(p.name == "compose.yaml" for p in files) and any(p.name == "server.yaml" for p in files)
    pattern = re.compile(r"ALLOW_OPEN_NETWORK|allow[-_]open[-_]network", re.IGNORECASE)
    offenders = [str(p.relative_to(REPO)) for p in files if pattern.search(p.read_text())]
    assert not offenders, offenders


@pytest.mark.parametrize("dockerfile", SERVER_DOCKERFILES, ids=[p.name for p in SERVER_DOCKERFILES])
def test_server_images_default_to_the_keys_path(dockerfile: Path) -> None:
    """The images bind 0.0.0.0 and expect the keys where compose and Kubernetes mount them; without the
    path the configuration would not even validate (keys or loopback)."""
    env = {k: v for k, v in parse_dockerfile(dockerfile).final.env().items() if k.startswith("DEEPFAKE_")}
    assert env["DEEPFAKE_HOST"] == "0.0.0.0" and env["DEEPFAKE_API_KEYS_FILE"] == API_KEYS_FILE
    assert load_config([], environ=env).api_keys_file == API_KEYS_FILE
    without = {k: v for k, v in env.items() if k != "DEEPFAKE_API_KEYS_FILE"}
    with pytest.raises(ValueError, match="no API keys are configured"):
        load_config([], environ=without)


# ---- compose ---------------------------------------------------------------------------------------------

def _compose(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    assert isinstance(doc, dict)
    return doc


def test_compose_servers_read_the_keys_from_a_secret() -> None:
    compose = _compose(DOCKER / "compose.yaml")
    servers = {name: s for name, s in compose["services"].items()
               if "server" in str(s.get("build", {}).get("dockerfile", "")) or "DEEPFAKE_" in str(s)}
    assert set(servers) == {"server"}
    for name, service in servers.items():
        assert service["environment"]["DEEPFAKE_API_KEYS_FILE"] == API_KEYS_FILE, name
        mounts = {m["target"]: m["source"] for m in service["secrets"]}  # long syntax, explicit targets
        source = compose["secrets"][mounts[API_KEYS_FILE]]
        assert set(source) == {"file"}, "a file secret"
        assert (DOCKER / source["file"]).resolve() == API_KEYS_SOURCES[0]


def test_compose_overrides_keep_the_keys() -> None:
    """compose*.yaml overrides (compose.tls.yaml) neither drop nor redirect the keys file."""
    for path in COMPOSE_FILES:
        if path.name == "compose.yaml":
            continue
        server = _compose(path)["services"].get("server", {})
        assert "DEEPFAKE_API_KEYS_FILE" not in server.get("environment", {}), path.name
        assert API_KEYS_FILE not in {m["target"] for m in server.get("secrets", [])}, path.name


# ---- Kubernetes ------------------------------------------------------------------------------------------

def _server_containers(docs: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(pod spec, container) of every container that runs the server (it reads DEEPFAKE_* settings)."""
    found = []
    for doc in docs:
        if doc["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob"}:
            spec = doc["spec"]["template"]["spec"]
            for container in spec["containers"]:
                if container["image"].startswith("deepfake-server") or "DEEPFAKE_" in str(container.get("env", "")):
                    found.append((spec, container))
    return found


def _check_keys_mount(docs: list[dict[str, Any]], secrets: dict[str, dict[str, Any]]) -> None:
    """Every server container gets DEEPFAKE_API_KEYS_FILE (env or an envFrom ConfigMap) and the file's
    directory is a Secret volume that has the file's name as a key."""
    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    containers = _server_containers(docs)
    assert containers, "no server container found"
    for spec, container in containers:
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                env = {**config_maps[source["configMapRef"]["name"]], **env}
        path = PurePosixPath(env["DEEPFAKE_API_KEYS_FILE"])
        assert str(path) == API_KEYS_FILE
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == str(path.parent))
        assert mount.get("readOnly") is True and "subPath" not in mount, "a directory mount: updates reach it"
        volume = next(v for v in spec["volumes"] if v["name"] == mount["name"])
        secret = volume["secret"]
        assert secret["defaultMode"] == 0o440 and spec["securityContext"]["fsGroup"] == 10001
        item = next(i for i in secret["items"] if i["path"] == path.name)
        if secrets:  # the built kustomization: the Secret the volume names really holds that key
            assert item["key"] in secrets[secret["secretName"]]["data"]
        else:
            assert secret["secretName"] == "deepfake-api-keys" and item["key"] == path.name


def test_k8s_manifests_mount_the_keys_from_a_secret() -> None:
    docs = [d for p in sorted((K8S / "manifests").glob("*.yaml")) for d in yaml_docs(p)]
    _check_keys_mount(docs, {})
    # kustomize makes the Secret from the keys file next to kustomization.yaml.
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    generator = next(g for g in kustomization["secretGenerator"] if g["name"] == "deepfake-api-keys")
    assert generator["files"] == [PurePosixPath(API_KEYS_FILE).name]
    assert (K8S / generator["files"][0]).resolve() == API_KEYS_SOURCES[1]
    assert "disableNameSuffixHash" not in str(kustomization), "the hash suffix rolls the pods on a key change"


def _keys_file(path: Path) -> str:
    """A keys file made the documented way; returns the key."""
    result = subprocess.run([sys.executable, "-m", "server.keys", "new", "--name", "deploy-test",
                             "--permissions", ",".join(PERMISSIONS), "--file", str(path)],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def kustomize(directory: Path, tmp_path: Path, with_keys: bool = True) -> subprocess.CompletedProcess[str]:
    """`kubectl kustomize` of a copy of deploy/ (so a keys file can be put next to the base)."""
    copy = tmp_path / "deploy"
    if not copy.exists():
        shutil.copytree(DEPLOY, copy, ignore=shutil.ignore_patterns("api-keys.json", "tls"))
        if with_keys:
            _keys_file(copy / "k8s" / "api-keys.json")
    assert KUBECTL is not None
    return subprocess.run([KUBECTL, "kustomize", str(copy / directory.relative_to(DEPLOY))],
                          capture_output=True, text=True, timeout=120)


@needs_kubectl
@pytest.mark.parametrize("directory", [K8S, K8S_TLS], ids=["k8s", "k8s-tls"])
def test_kustomize_builds_mount_the_generated_secret(directory: Path, tmp_path: Path) -> None:
    result = kustomize(directory, tmp_path)
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    secrets = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Secret"}
    generated = [name for name in secrets if name.startswith("deepfake-api-keys-")]
    assert len(generated) == 1, "one Secret, named with a hash of the keys file"
    _check_keys_mount(docs, secrets)
    assert "DEEPFAKE_ALLOW_OPEN_NETWORK" not in result.stdout


@needs_kubectl
def test_kustomize_fails_without_a_keys_file(tmp_path: Path) -> None:
    result = kustomize(K8S, tmp_path, with_keys=False)
    assert result.returncode != 0 and "api-keys.json" in result.stderr


# ---- the keys files --------------------------------------------------------------------------------------

def test_documented_command_makes_a_keys_file_the_server_accepts(tmp_path: Path) -> None:
    path = tmp_path / "api-keys.json"
    key = _keys_file(path)
    ring = KeyRing.load(path)
    found = ring.authenticate(key)
    assert found is not None and found.name == "deploy-test" and found.permissions == set(PERMISSIONS)
    with pytest.raises(ValueError, match="cannot read API keys"):  # what a missing mount looks like
        KeyRing.load(tmp_path / "missing.json")


def test_secret_files_stay_out_of_git_and_images() -> None:
    """The keys files and compose.tls.yaml's certificate folder are git-ignored (the root .gitignore) and
    outside the Docker build context."""
    ignore = DockerIgnore.load(REPO / ".dockerignore")
    paths = [*API_KEYS_SOURCES, TLS_DIR / "server.key", TLS_DIR / "public.key"]
    for path in paths:
        assert ignore.excluded(str(path.relative_to(REPO))), path
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    relative = [str(p.relative_to(REPO)) for p in paths]
    result = subprocess.run(["git", "check-ignore", "--no-index", *relative], cwd=REPO, capture_output=True,
                            text=True, timeout=30, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"})
    ignored = set(result.stdout.split())
    missing = [p for p in relative if p not in ignored]
    assert not missing, f"add to the root .gitignore: {missing}"
