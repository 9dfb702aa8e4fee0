"""GET /metrics: what Prometheus scrapes, read back with prometheus-client's own parser."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from app.client import Client
from tests.conftest import TINY_FEATURES, TinyModel, tiny_frame, with_fault


def scrape(http: httpx.Client) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_detections_count_windows_and_anomalies_and_set_the_gauges(
    api: Client, http: httpx.Client, tiny_model: TinyModel
) -> None:
    before = scrape(http)
    values = with_fault(tiny_frame(80, seed=4), 40)[TINY_FEATURES].to_numpy().tolist()
    answer = api.detect("tiny", values=values)
    after = scrape(http)

    flagged = sum(r["is_anomaly"] for r in answer["results"])
    assert flagged > 0
    windows = "rarewatch_windows_scored_total"
    anomalies = "rarewatch_anomalies_flagged_total"
    assert value(after, windows, model="tiny") - value(before, windows, model="tiny") == 77
    assert value(after, anomalies, model="tiny") - value(before, anomalies, model="tiny") == flagged
    assert value(after, "rarewatch_last_score", model="tiny") == answer["results"][-1]["score"]
    assert value(after, "rarewatch_threshold", model="tiny") == answer["model"]["threshold"]
    assert value(after, "rarewatch_model_loads_total", model="tiny", outcome="success") >= 1


def test_requests_are_counted_by_route_template_and_status(http: httpx.Client) -> None:
    before = scrape(http)
    http.post("/v1/models/no-such-model/detect", json={"values": [[1.0, 2.0, 3.0]]})
    http.get("/no/such/path")
    after = scrape(http)
    requests = "rarewatch_http_requests_total"
    route = "/v1/models/{name}/detect"
    unknown = {"route": route, "method": "POST", "status": "404"}
    assert value(after, requests, **unknown) - value(before, requests, **unknown) == 1
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert value(after, requests, **unmatched) - value(before, requests, **unmatched) == 1
    # raw paths never become labels: the model name sent is not in any series
    assert not any("no-such-model" in str(labels) for _, labels in after)
    latency = "rarewatch_http_request_duration_seconds_count"
    assert value(after, latency, route=route) > value(before, latency, route=route)


def test_methods_nobody_uses_share_one_series(http: httpx.Client) -> None:
    before = scrape(http)
    for method in ("PROPFIND", "MKCOL", "PROPFIND"):  # methods the HTTP parser knows
        http.request(method, "/healthz")
    after = scrape(http)
    methods = {
        dict(labels)["method"] for name, labels in after if name == "rarewatch_http_requests_total"
    }
    assert "other" in methods
    assert not methods & {"PROPFIND", "MKCOL"}
    others = {
        labels: count
        for (name, labels), count in after.items()
        if name == "rarewatch_http_requests_total" and dict(labels)["method"] == "other"
    }
    assert (
        sum(others.values())
        - sum(before.get(("rarewatch_http_requests_total", labels), 0.0) for labels in others)
        == 3
    )
