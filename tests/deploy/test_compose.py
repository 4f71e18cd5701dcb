"""deploy/docker/compose.yaml without Docker: the Compose Specification's JSON schema, then the links
between services, files and the server's settings that the schema cannot see."""

from __future__ import annotations

import json
import re
import subprocess
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from server.config import Config, load_config
from tests.deploy.helpers import (
    DEEPFAKE_ENV,
    DOCKER,
    GRAFANA,
    PROMETHEUS,
    REPO,
    envoy_healthcheck_command,
    known_settings,
    parse_dockerfile,
)

COMPOSE = DOCKER / "compose.yaml"
INTERPOLATION = re.compile(r"\$\$|\$\{(\w+)(?::-([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    with open(COMPOSE) as fh:
        doc = yaml.safe_load(fh)
    assert isinstance(doc, dict)
    return doc


def interpolate(value: str) -> str:
    """Compose's ${VAR:-default} with nothing set in the environment; $$ is a literal $."""
    return INTERPOLATION.sub(lambda m: "$" if m.group(0) == "$$" else m.group(2) or "", value)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "use the mapping form for environment"
    return {k: interpolate(str(v)) for k, v in env.items()}


def test_matches_the_compose_specification_schema(compose: dict[str, Any]) -> None:
    """The official Compose Specification schema (JSON Schema 2020-12), as vendored by check-jsonschema
    (pinned in requirements-dev.txt), so no network is needed."""
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    assert schema["title"] == "Compose Specification"
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, "\n".join(errors)
    # The schema does reject a misspelt key (so a pass means something).
    broken = json.loads(json.dumps(compose))
    broken["services"]["server"]["helthcheck"] = broken["services"]["server"].pop("healthcheck")
    assert list(validator.iter_errors(broken))


def test_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"server", "envoy", "postgres", "prometheus", "grafana"}


def test_every_service_has_a_healthcheck_restart_policy_and_limits(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        check = service.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), f"{name}: healthcheck"
        assert check["test"][0] in {"CMD", "CMD-SHELL"}, name
        assert service.get("restart") == "unless-stopped", f"{name}: restart policy"
        limits = service.get("deploy", {}).get("resources", {}).get("limits", {})
        assert limits.get("cpus") and limits.get("memory"), f"{name}: resource limits"
        assert service.get("logging", {}).get("options", {}).get("max-size"), f"{name}: bounded logs"


def test_depends_on_waits_for_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert condition["condition"] == "service_healthy", f"{name} -> {dependency}"
    assert "server" in services["envoy"]["depends_on"] and "postgres" in services["server"]["depends_on"]
    assert "prometheus" in services["grafana"]["depends_on"]


def test_volumes_are_declared_and_bind_mounts_exist(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    used = set()
    for name, service in compose["services"].items():
        for mount in service.get("volumes", []):
            source, target = mount.split(":")[:2]
            if source.startswith((".", "/")):
                assert (COMPOSE.parent / source).resolve().exists(), f"{name}: bind source {source} missing"
            else:
                assert source in declared, f"{name}: volume {source} not declared"
                used.add(source)
            assert target.startswith("/"), f"{name}: {target}"
    assert used == declared, f"declared but unused: {declared - used}"


def test_builds_point_at_the_dockerfiles(compose: dict[str, Any]) -> None:
    for name in ("server", "envoy"):
        build = compose["services"][name]["build"]
        context = (COMPOSE.parent / build["context"]).resolve()
        assert context == REPO, f"{name}: the build context must be the repository root"
        assert (context / build["dockerfile"]).is_file()


def test_deepfake_settings_exist_and_parse(compose: dict[str, Any]) -> None:
    """Every DEEPFAKE_* name anywhere in the file is a server setting, and the server's values parse with
    the server's own config loader (on top of the image defaults)."""
    names = set(DEEPFAKE_ENV.findall(COMPOSE.read_text()))
    assert names <= known_settings(), names - known_settings()
    server = compose["services"]["server"]
    image_env = {k: v for k, v in parse_dockerfile(DOCKER / "server.Dockerfile").final.env().items()
                 if k.startswith("DEEPFAKE_")}
    env = environment(server)
    config = load_config([], environ={**image_env, **env})
    assert config.host == "0.0.0.0" and config.port == Config().port and config.threads == 2
    assert env["DEEPFAKE_DATABASE_URL"] == "postgresql://deepfake:deepfake@postgres:5432/deepfake"


def test_server_is_scalable_and_sized(compose: dict[str, Any]) -> None:
    server = compose["services"]["server"]
    # --scale needs no fixed name and no host port; Envoy and Prometheus find replicas by service name.
    assert "container_name" not in server and "ports" not in server
    assert set(map(str, server["expose"])) == {str(Config().port), "9100"}
    env = environment(server)
    limits = server["deploy"]["resources"]["limits"]
    assert env["DEEPFAKE_THREADS"] == limits["cpus"], "torch threads = the CPU limit"
    assert limits["memory"] == "2g"
    grace = float(env.get("DEEPFAKE_GRACE_S", Config().grace_s))
    assert float(server["stop_grace_period"].rstrip("s")) > grace
    # One spool per replica (a spool directory belongs to one process), inside the volume.
    command = " ".join(server["command"])
    assert "export DEEPFAKE_SPOOL_DIR=/app/var/spool/$${HOSTNAME} && exec python -m server" in command
    # Run the command's shell part (compose turns $$ into $) with `env` in place of the server.
    shell = [interpolate(part) for part in server["command"]]
    assert shell[:2] == ["sh", "-c"]
    result = subprocess.run(["sh", "-c", shell[2].replace("python -m server", "env")],
                            env={"HOSTNAME": "c0ffee", "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert "DEEPFAKE_SPOOL_DIR=/app/var/spool/c0ffee" in result.stdout.splitlines()
    assert server["read_only"] is True and "/tmp" in server["tmpfs"]
    assert server["healthcheck"]["test"][1:4] == ["python", "-m", "server.probe"]


def test_envoy_reaches_the_servers_by_service_name(compose: dict[str, Any]) -> None:
    envoy = compose["services"]["envoy"]
    host, _, port = envoy["build"]["args"]["UPSTREAM"].rpartition(":")
    assert host in compose["services"] and port in map(str, compose["services"][host]["expose"])
    assert envoy["ports"] == [f"{Config().http_port}:{Config().http_port}"]
    assert envoy["healthcheck"]["test"] == ["CMD", *envoy_healthcheck_command()]
    assert envoy["depends_on"]["server"].get("restart") is True


def test_admin_ports_are_published_on_loopback_only(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            if name == "envoy":
                continue  # the public entry point
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port} must bind 127.0.0.1"
    assert "ports" not in compose["services"]["postgres"]


def test_postgres(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert "pg_isready" in postgres["healthcheck"]["test"][1]
    env = environment(postgres)
    url = environment(compose["services"]["server"])["DEEPFAKE_DATABASE_URL"]
    assert url == f"postgresql://{env['POSTGRES_USER']}:{env['POSTGRES_PASSWORD']}@postgres:5432/{env['POSTGRES_DB']}"


def test_prometheus_and_grafana_files(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    mounts = dict(m.split(":")[:2] for m in prometheus["volumes"])
    assert mounts["../prometheus/prometheus.yml"] == "/etc/prometheus/prometheus.yml"
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    for rule_file in config["rule_files"]:  # relative to the config file, in the container too
        assert f"../prometheus/{rule_file}" in mounts
        assert mounts[f"../prometheus/{rule_file}"] == f"/etc/prometheus/{rule_file}"
    # Prometheus scrapes the services on the ports they expose.
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    dns = jobs["deepfake-server"]["dns_sd_configs"][0]
    assert dns["names"] == ["server"] and str(dns["port"]) in map(str, compose["services"]["server"]["expose"])
    envoy_target = jobs["envoy"]["static_configs"][0]["targets"][0]
    assert envoy_target.split(":")[0] == "envoy"
    assert envoy_target.split(":")[1] in map(str, compose["services"]["envoy"]["expose"])
    assert jobs["envoy"]["metrics_path"] == "/stats/prometheus"

    grafana = compose["services"]["grafana"]
    mounts = dict(m.split(":")[:2] for m in grafana["volumes"])
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "deepfake.yml").read_text())
    assert mounts["../grafana/dashboards"] == provider["providers"][0]["options"]["path"]
    assert mounts["../grafana/provisioning"] == "/etc/grafana/provisioning"
    home = environment(grafana)["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert (GRAFANA / "dashboards" / Path(home).name).is_file()
    datasource = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    url = datasource["datasources"][0]["url"]
    assert url == "http://prometheus:9090" and "prometheus" in compose["services"]
