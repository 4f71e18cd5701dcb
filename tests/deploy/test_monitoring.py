"""Prometheus configs and rules (promtool, when installed: Debian's `prometheus` package, which
`make system-deps` installs) and the Grafana dashboard: every metric name it queries must be one the
server or Envoy really exports, so the dashboard cannot drift silently from the code."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from server.metrics import Metrics
from tests.deploy.helpers import (
    GRAFANA,
    PROMETHEUS,
    SERVER_COUNTERS,
    SERVER_GAUGES,
    SERVER_HISTOGRAMS,
    SERVER_SERIES,
    which,
)

PROMTOOL = which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (apt-get install prometheus)")
DASHBOARD = GRAFANA / "dashboards" / "deepfake-service.json"
CONFIGS = ["prometheus.yml", "prometheus-local.yml", "prometheus-k8s.yml"]
# PromQL words that are not metric names (functions are recognised by the "(" that follows them).
PROMQL_WORDS = {"and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left", "group_right",
                "offset", "inf", "nan", "le"}


def promtool(*args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def metric_names(expr: str) -> set[str]:
    """The metric (and recording-rule) names a PromQL expression reads."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range selectors
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\boffset\s+\S+", " ", text)
    text = re.sub(r"\$\{?\w+\}?", " ", text)  # Grafana variables
    names = re.findall(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()", text)
    return {n for n in names if n not in PROMQL_WORDS}


def grafana_to_promql(expr: str) -> str:
    """A Grafana query as plain PromQL (its variables replaced), for promtool to parse."""
    return (expr.replace("$__rate_interval", "5m").replace("$__interval", "1m").replace("$__range", "1h")
            .replace("$instance", ".*"))


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data = json.loads(DASHBOARD.read_text())
    assert isinstance(data, dict)
    return data


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in panels(dashboard) for t in p["targets"]]


def rules() -> dict[str, Any]:
    data = yaml.safe_load((PROMETHEUS / "rules.yml").read_text())
    assert isinstance(data, dict)
    return data


def recorded_names() -> set[str]:
    return {r["record"] for g in rules()["groups"] for r in g["rules"] if "record" in r}


def real_server_series() -> set[str]:
    """The series names the server's own metrics registry (server/metrics.py) exports."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names |= {f"{family.name}_{s}" for s in ("bucket", "sum", "count")}
        else:
            names.add(family.name)
    return names


# ---- Prometheus --------------------------------------------------------------------------------------------

@needs_promtool
@pytest.mark.parametrize("name", ["prometheus.yml", "prometheus-local.yml"])
def test_promtool_check_config(name: str) -> None:
    result = promtool("check", "config", name)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_promtool_check_k8s_config_without_kubernetes_sd(tmp_path: Path) -> None:
    """Debian builds Prometheus without Kubernetes service discovery, so its promtool cannot read
    kubernetes_sd_configs: check everything else (relabelling, rules) with a static target in its place."""
    config = yaml.safe_load((PROMETHEUS / "prometheus-k8s.yml").read_text())
    job = config["scrape_configs"][0]
    assert job.pop("kubernetes_sd_configs") == [{"role": "pod"}]
    job["static_configs"] = [{"targets": ["127.0.0.1:9100"]}]
    config["rule_files"] = [str(PROMETHEUS / f) for f in config["rule_files"]]
    (tmp_path / "prometheus-k8s.yml").write_text(yaml.safe_dump(config))
    result = promtool("check", "config", str(tmp_path / "prometheus-k8s.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_k8s_config_keeps_annotated_pods_and_names_the_jobs() -> None:
    relabels = yaml.safe_load((PROMETHEUS / "prometheus-k8s.yml").read_text())["scrape_configs"][0]["relabel_configs"]
    keep = relabels[0]
    assert keep["source_labels"] == ["__meta_kubernetes_pod_annotation_prometheus_io_scrape"]
    assert keep["action"] == "keep"
    jobs = {r["replacement"] for r in relabels if r.get("target_label") == "job"}
    assert jobs == {"deepfake-server", "envoy"}


def test_all_configs_share_job_names_and_rules() -> None:
    for name in CONFIGS:
        config = yaml.safe_load((PROMETHEUS / name).read_text())
        assert config["rule_files"] == ["rules.yml"], name
        if name != "prometheus-k8s.yml":
            assert {j["job_name"] for j in config["scrape_configs"]} >= {"deepfake-server", "envoy"}, name


@needs_promtool
def test_promtool_check_and_test_rules() -> None:
    result = promtool("check", "rules", "rules.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    result = promtool("test", "rules", "rules-test.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_read_only_known_metrics(envoy_metric_names: set[str]) -> None:
    known = SERVER_SERIES | envoy_metric_names | recorded_names() | {"up"}
    for group in rules()["groups"]:
        for rule in group["rules"]:
            unknown = metric_names(rule["expr"]) - known
            assert not unknown, f"{rule.get('alert', rule.get('record'))}: {unknown}"
    alerts = {r["alert"] for g in rules()["groups"] for r in g["rules"] if "alert" in r}
    assert {"DeepfakeHighErrorRate", "DeepfakeSlowPredictions", "DeepfakePredictionLogSpooling",
            "DeepfakeNoHealthyUpstream"} <= alerts


# ---- Grafana -----------------------------------------------------------------------------------------------

def test_metric_name_extraction() -> None:
    expr = ('histogram_quantile(0.95, sum by (le, method) (rate(deepfake_request_duration_seconds_bucket'
            '{instance=~"$instance",method=~".*/Predict.*"}[$__rate_interval]))) / on () group_left '
            'sum(deepfake:requests:rate5m) and up == 0')
    assert metric_names(expr) == {"deepfake_request_duration_seconds_bucket", "deepfake:requests:rate5m", "up"}


def test_the_contract_matches_the_server_registry() -> None:
    """The names agreed for the dashboard are the ones server/metrics.py registers."""
    assert real_server_series() >= SERVER_SERIES, SERVER_SERIES - real_server_series()


def test_dashboard_reads_only_real_metrics(dashboard: dict[str, Any], envoy_metric_names: set[str]) -> None:
    used = set().union(*(metric_names(e) for e in dashboard_exprs(dashboard)))
    server = {n for n in used if not n.startswith("envoy_")}
    assert server <= SERVER_SERIES, server - SERVER_SERIES
    assert server <= real_server_series(), server - real_server_series()
    envoy = {n for n in used if n.startswith("envoy_")}
    assert envoy <= envoy_metric_names, envoy - envoy_metric_names
    # Every server metric is on the dashboard somewhere.
    covered = {re.sub(r"_(bucket|sum|count)$", "", n) for n in server}
    assert covered >= SERVER_COUNTERS | SERVER_GAUGES | SERVER_HISTOGRAMS, \
        (SERVER_COUNTERS | SERVER_GAUGES | SERVER_HISTOGRAMS) - covered
    assert {"envoy_cluster_upstream_rq_xx", "envoy_cluster_upstream_rq_total", "envoy_cluster_membership_healthy",
            "envoy_http_local_rate_limit_rate_limited"} <= envoy


@needs_promtool
def test_dashboard_queries_parse(dashboard: dict[str, Any], tmp_path: Path) -> None:
    """promtool parses every dashboard query (as a recording rule), with Grafana's variables filled in."""
    exprs = [grafana_to_promql(e) for e in dashboard_exprs(dashboard)]
    rule_file = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": e} for i, e in enumerate(exprs)]}]}
    (tmp_path / "dashboard-rules.yml").write_text(yaml.safe_dump(rule_file))
    result = promtool("check", "rules", str(tmp_path / "dashboard-rules.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_structure(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "deepfake-service" and dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    cells: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        mine = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine
    for panel in panels(dashboard):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel.get("description"), f"{panel['title']}: say what it shows"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}" and target["expr"].strip()


def test_dashboard_has_the_required_panels(dashboard: dict[str, Any]) -> None:
    def exprs_of(title: str) -> str:
        panel = next((p for p in panels(dashboard) if p["title"] == title), None)
        assert panel is not None, f"no panel {title!r}"
        return " ".join(t["expr"] for t in panel["targets"])

    assert "by (method, code)" in exprs_of("Request rate by method and code")
    assert "deepfake_requests_total" in exprs_of("Error ratio")
    latency = exprs_of("Request latency (Predict methods)")
    assert all(f"histogram_quantile({q}," in latency for q in ("0.5", "0.95", "0.99"))
    stages = exprs_of("Latency by pipeline stage")
    assert "by (le, stage)" in stages and all(f"histogram_quantile({q}," in stages for q in ("0.5", "0.95", "0.99"))
    assert "deepfake_faces_per_image" in exprs_of("Faces per image")
    assert "by (verdict)" in exprs_of("Verdicts")
    heatmap = next(p for p in panels(dashboard) if p["title"] == "Fake-probability distribution (drift)")
    assert heatmap["type"] == "heatmap" and heatmap["targets"][0]["format"] == "heatmap"
    queue = exprs_of("In flight and inference queue")
    assert "deepfake_requests_in_flight" in queue and "deepfake_inference_queue_depth" in queue
    assert "deepfake_inference_batch_size" in exprs_of("Inference batch size")
    assert "deepfake_prediction_log_write_failures_total" in exprs_of("Prediction-log write failures")
    assert "deepfake_prediction_log_spool_records" in exprs_of("Spooled records")
    table = next(p for p in panels(dashboard) if p["title"] == "Model being served")
    assert table["type"] == "table" and "deepfake_model_info" in table["targets"][0]["expr"]
    assert "envoy_response_code_class" in exprs_of("Upstream requests by response class")
    assert "envoy_http_local_rate_limit_rate_limited" in exprs_of("Responses to clients and 429s")
    assert "envoy_cluster_membership_healthy" in exprs_of("Healthy servers")


def test_grafana_provisioning_files() -> None:
    datasource = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    source = datasource["datasources"][0]
    assert source["type"] == "prometheus" and source["uid"] == "prometheus" and source["isDefault"] is True
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "deepfake.yml").read_text())
    assert provider["providers"][0]["type"] == "file"
    assert sorted(p.name for p in (GRAFANA / "dashboards").iterdir()) == [DASHBOARD.name]
