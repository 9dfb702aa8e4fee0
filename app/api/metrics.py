"""Prometheus metrics: requests and latency by route; detections, fills and data quality by model;
model loads.

One CollectorRegistry per app (not the global one), so every app a test builds counts alone.
Names follow Prometheus conventions; the Grafana dashboard in deploy/grafana/ reads them.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.data_quality import QualityVerdict
from models.detector import Detection, Detector, Filling

T = TypeVar("T")

# from a fraction of a millisecond (/detect/last) to seconds (a large /detect)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "rarewatch_http_requests",
            "HTTP requests answered.",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "rarewatch_http_request_duration_seconds",
            "Time to answer a request.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.windows = Counter("rarewatch_windows_scored", "Windows scored.", ["model"], registry=r)
        self.anomalies = Counter(
            "rarewatch_anomalies_flagged", "Windows flagged anomalous.", ["model"], registry=r
        )
        self.last_score = Gauge(
            "rarewatch_last_score", "Score of the newest window scored.", ["model"], registry=r
        )
        self.last_severity = Gauge(
            "rarewatch_last_severity",
            "Severity of the newest window scored.",
            ["model"],
            registry=r,
        )
        self.filled_cells = Counter(
            "rarewatch_cells_filled",
            "Missing cells filled by the fill policy.",
            ["model"],
            registry=r,
        )
        self.unfilled_cells = Counter(
            "rarewatch_cells_unfilled",
            "Missing cells left missing (a gap longer than max_gap, or fill none).",
            ["model"],
            registry=r,
        )
        self.unscored = Counter(
            "rarewatch_windows_unscored",
            "Windows not scored because they held a missing value.",
            ["model"],
            registry=r,
        )
        self.out_of_range_windows = Counter(
            "rarewatch_windows_out_of_range",
            "Windows answered holding a value far outside the training range (out_of_range).",
            ["model"],
            registry=r,
        )
        # per model, not per feature: a request far off in every feature would touch a series
        # per feature (the answer's data_quality names them)
        self.out_of_range_values = Counter(
            "rarewatch_values_out_of_range",
            "Values received outside their feature's training range.",
            ["model"],
            registry=r,
        )
        self.timestamp_gaps = Counter(
            "rarewatch_timestamp_gaps",
            "Steps between timestamps received of 1.5 training steps or more.",
            ["model"],
            registry=r,
        )
        self.irregular_steps = Counter(
            "rarewatch_timestamp_irregular_steps",
            "Steps between timestamps received neither about one training step nor a gap.",
            ["model"],
            registry=r,
        )
        self.threshold = Gauge(
            "rarewatch_threshold", "The model's stored threshold.", ["model"], registry=r
        )
        self.model_version = Gauge(
            "rarewatch_model_version", "The version served by default.", ["model"], registry=r
        )
        self.model_loads = Counter(
            "rarewatch_model_loads",
            "Model loads and reloads by outcome.",
            ["model", "outcome"],
            registry=r,
        )

        # the labelled series, looked up once per label values: prometheus_client checks the
        # values and takes a lock on every labels() call, six times a request
        self.request_series = _remembered(self.requests.labels)
        self.latency_series = _remembered(self.latency.labels)
        self.windows_series = _remembered(self.windows.labels)
        self.anomalies_series = _remembered(self.anomalies.labels)
        self.last_score_series = _remembered(self.last_score.labels)
        self.last_severity_series = _remembered(self.last_severity.labels)
        self.out_of_range_windows_series = _remembered(self.out_of_range_windows.labels)
        self.out_of_range_values_series = _remembered(self.out_of_range_values.labels)

    def model_loaded(self, name: str) -> None:
        self.model_loads.labels(name, "success").inc()

    def model_served(self, name: str, version: int, threshold: float) -> None:
        """A model's default version from now on, loaded or not yet."""
        self.threshold.labels(name).set(threshold)
        self.model_version.labels(name).set(version)

    def model_failed(self, name: str) -> None:
        self.model_loads.labels(name, "failure").inc()

    def detection(self, detector: Detector, detection: Detection, verdict: QualityVerdict) -> None:
        n_windows = len(detection.scores)
        if n_windows == 0:
            return
        name = detector.name
        self._quality(name, verdict)
        filling = detection.filling
        if filling is not None:
            self._filling(name, filling)
            n_windows -= filling.n_unscored
        self.windows_series(name).inc(n_windows)
        self.anomalies_series(name).inc(int(detection.is_anomaly.sum()))
        if filling is None or filling.scored[-1]:  # the newest score, when there is one
            self.last_score_series(name).set(float(detection.scores[-1]))
            self.last_severity_series(name).set(float(detection.severity[-1]))

    def _filling(self, name: str, filling: Filling) -> None:
        self.filled_cells.labels(name).inc(int(filling.report.filled.sum()))
        self.unfilled_cells.labels(name).inc(int(filling.report.missing.sum()))
        self.unscored.labels(name).inc(filling.n_unscored)

    def _quality(self, name: str, verdict: QualityVerdict) -> None:
        """Counted only when the verdict found something: complete, regular rows in range (the
        dashboard refresh) touch no counter."""
        if verdict.out_of_range:
            self.out_of_range_windows_series(name).inc(int(verdict.windows_out_of_range.sum()))
            self.out_of_range_values_series(name).inc(sum(f.rows for f in verdict.out_of_range))
        steps = verdict.time_steps
        if steps is not None and (steps.gaps or steps.irregular_steps):
            self.timestamp_gaps.labels(name).inc(steps.gaps)
            self.irregular_steps.labels(name).inc(steps.irregular_steps)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def _remembered(labels: Callable[..., T]) -> Callable[..., T]:
    """`metric.labels`, answering from memory for label values seen before. The label values
    passed here come from bounded sets (route templates, known methods, statuses, model names),
    and the memory is bounded too."""
    return functools.lru_cache(maxsize=4096)(labels)


class RequestMetricsMiddleware:
    """Counts and times every HTTP request by its route template (never the raw path, whose
    values are unbounded), so `/v1/models/{name}/detect` is one series whatever the name."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client sees if the app fails before it answers

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            # the method as sent is unbounded (any token is a valid method): one series each
            # would let a client grow the exposition without end
            method = scope["method"] if scope["method"] in KNOWN_METHODS else "other"
            self.metrics.request_series(route, method, str(status)).inc()
            self.metrics.latency_series(route).observe(time.perf_counter() - started)


__all__ = ["CONTENT_TYPE_LATEST", "Metrics", "RequestMetricsMiddleware"]
