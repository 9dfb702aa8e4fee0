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
from app.watch.config import WatchConfig
from app.watch.exporter import WatchMetrics

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
COMPOSE = DEPLOY.parent / "docker-compose.yml"
METRICS_KEY_FILE = "metrics.key"  # relative to prometheus.yml, where compose mounts the secret
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def exported_series() -> set[str]:
    """What the API's /metrics and the watch's export."""
    return {
        family.name + suffix
        for registry in (Metrics().registry, WatchMetrics().registry)
        for family in registry.collect()
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


def test_the_dashboard_shows_the_watch_panels_the_issue_asks_for() -> None:
    exprs = " ".join(t["expr"] for p in dashboard()["panels"] for t in p["targets"])
    for series in (
        "rarewatch_anomaly_score",  # score against the line
        "rarewatch_feature_share",  # top feature
        "rarewatch_data_quality_ok",  # data quality
        "rarewatch_watch_failed_ticks_total",  # tick health
        "rarewatch_watch_late_ticks_total",
        "rarewatch_watch_last_tick_duration_seconds",
    ):
        assert series in exprs, series


def alert_rules() -> list[dict]:  # type: ignore[type-arg]
    groups = yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_the_example_alert_fires_on_the_models_own_decision() -> None:
    rules = {rule["alert"]: rule for rule in alert_rules()}
    anomaly = rules["RarewatchAnomaly"]
    # the model's alarm rule and hold decide, as measured; no extra delay on top
    assert anomaly["expr"] == "rarewatch_is_anomaly == 1"
    assert "for" not in anomaly
    exprs = " ".join(rule["expr"] for rule in rules.values())
    queried = set(re.findall(r"\brarewatch_\w+", exprs))
    assert queried <= exported_series(), f"not exported: {sorted(queried - exported_series())}"


def test_compose_runs_the_example_watch_and_prometheus_scrapes_it_and_loads_the_alerts() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())["services"]
    watch = compose["watch"]
    assert watch["profiles"] == ["monitoring"]
    assert watch["command"][:2] == ["rarewatch", "watch"]
    mounted = dict(volume.rsplit(":", 2)[:2] for volume in watch["volumes"][1:])
    config_file = watch["command"][watch["command"].index("--config") + 1]
    assert mounted == {"./deploy/watch/watch.yaml": config_file}
    example = yaml.safe_load((DEPLOY / "watch" / "watch.yaml").read_text())
    config = WatchConfig.model_validate(example)
    prometheus = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    targets = [
        target
        for job in prometheus["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    ]
    assert f"watch:{config.listen.port}" in targets
    assert prometheus["rule_files"] == ["alerts.yml"]
    assert "./deploy/alerts.yml:/etc/prometheus/alerts.yml:ro" in compose["prometheus"]["volumes"]


@pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool is not installed (apt-get install prometheus); .ci/run installs it",
)
def test_promtool_accepts_the_alerting_rules() -> None:
    result = subprocess.run(
        ["promtool", "check", "rules", str(DEPLOY / "alerts.yml")],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


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
    shutil.copy(DEPLOY / "alerts.yml", tmp_path / "alerts.yml")  # its rule_files, beside it
    (tmp_path / METRICS_KEY_FILE).write_text("a-metrics-key\n")
    result = subprocess.run(
        ["promtool", "check", "config", str(config)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
