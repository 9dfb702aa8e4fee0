"""The monitoring files in deploy/: the Grafana dashboard asks only for series rarewatch exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from app.api.metrics import Metrics

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
COMPOSE = DEPLOY.parent / "docker-compose.yml"
METRICS_KEY_FILE = "metrics.key"  # relative to prometheus.yml, where compose mounts the secret
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exported_series() -> set[str]:
    return {
        family.name + suffix
        for family in Metrics().registry.collect()
        for suffix in SUFFIXES[family.type]
    }


def dashboard() -> dict:  # type: ignore[type-arg]
    return json.loads((DEPLOY / "grafana" / "dashboards" / "rarewatch.json").read_text())


def test_the_dashboard_is_a_provisionable_grafana_dashboard() -> None:
    board = dashboard()
    assert board["uid"] == "rarewatch"
    assert board["title"]
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)) >= 4
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        assert grid["h"] > 0, panel["title"]
        assert panel["datasource"]["uid"] == "prometheus", panel["title"]
        assert panel["targets"], panel["title"]
        assert all(t["expr"] for t in panel["targets"]), panel["title"]


def test_every_dashboard_query_reads_series_that_rarewatch_exports() -> None:
    exported = exported_series()
    queried = {
        name
        for panel in dashboard()["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\brarewatch_\w+", target["expr"])
    }
    assert queried, "the dashboard queries no rarewatch series"
    assert queried <= exported, f"not exported: {sorted(queried - exported)}"


def test_the_dashboard_shows_the_four_things_the_issue_asks_for() -> None:
    exprs = " ".join(t["expr"] for p in dashboard()["panels"] for t in p["targets"])
    for series in (
        "rarewatch_http_requests_total",  # request rate
        "rarewatch_http_request_duration_seconds_bucket",  # latency
        "rarewatch_anomalies_flagged_total",  # anomaly rate
        "rarewatch_last_score",  # score against threshold
        "rarewatch_threshold",
    ):
        assert series in exprs, series


def test_prometheus_sends_the_metrics_key_that_compose_gives_both_services() -> None:
    scrape = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())["scrape_configs"][0]
    assert scrape["authorization"] == {"type": "Bearer", "credentials_file": METRICS_KEY_FILE}
    compose = yaml.safe_load(COMPOSE.read_text())
    secret = compose["secrets"]["rarewatch_metrics_key"]
    assert secret == {"environment": "RAREWATCH_METRICS_KEY"}
    prometheus = compose["services"]["prometheus"]
    mounted = {s["source"]: s["target"] for s in prometheus["secrets"]}
    assert mounted == {"rarewatch_metrics_key": f"/etc/prometheus/{METRICS_KEY_FILE}"}
    assert "RAREWATCH_METRICS_KEY" not in str(prometheus.get("environment", ""))
    api = compose["services"]["api"]["environment"]
    assert api["RAREWATCH_METRICS_KEY"] == "${RAREWATCH_METRICS_KEY:-}"
    # the healthcheck asks /readyz, which answers ready or not without a key
    assert "/readyz" in " ".join(compose["services"]["api"]["healthcheck"]["test"])


def test_prometheus_scrapes_the_api_service_and_grafana_reads_prometheus() -> None:
    prometheus = (DEPLOY / "prometheus.yml").read_text()
    assert "metrics_path: /metrics" in prometheus
    assert '"api:8000"' in prometheus
    provisioning = DEPLOY / "grafana" / "provisioning"
    datasource = (provisioning / "datasources" / "prometheus.yml").read_text()
    assert "uid: prometheus" in datasource
    assert "url: http://prometheus:9090" in datasource


@pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool is not installed (apt-get install prometheus); .ci/run installs it",
)
def test_promtool_accepts_the_prometheus_config(tmp_path: Path) -> None:
    # promtool checks that the credentials file exists: compose mounts it beside the config
    config = tmp_path / "prometheus.yml"
    shutil.copy(DEPLOY / "prometheus.yml", config)
    (tmp_path / METRICS_KEY_FILE).write_text("a-metrics-key\n")
    result = subprocess.run(
        ["promtool", "check", "config", str(config)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
