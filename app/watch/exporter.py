"""The watch's own /metrics: each model's newest score and the health of its ticks."""

from __future__ import annotations

import contextlib
from wsgiref.simple_server import WSGIServer

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from models.data_quality import QualityVerdict
from models.detector import Detection


class WatchMetrics:
    def __init__(self, top_features: int = 3) -> None:
        self.registry = CollectorRegistry()
        self.top_features = top_features
        r = self.registry
        self.score = Gauge(
            "rarewatch_anomaly_score",
            "Newest window's score divided by the threshold: above 1 is anomalous.",
            ["model"],
            registry=r,
        )
        self.is_anomaly = Gauge(
            "rarewatch_is_anomaly",
            "1 when the newest window is flagged (the model's alarm rule), else 0.",
            ["model"],
            registry=r,
        )
        self.severity = Gauge(
            "rarewatch_severity", "Severity of the newest window, in [0, 1).", ["model"], registry=r
        )
        self.feature_share = Gauge(
            "rarewatch_feature_share",
            "Share of the newest window's error of each of its top features.",
            ["model", "feature"],
            registry=r,
        )
        self.quality_ok = Gauge(
            "rarewatch_data_quality_ok",
            "1 when the rows scored look like the training data (data-quality verdict), else 0.",
            ["model"],
            registry=r,
        )
        self.score_age = Gauge(
            "rarewatch_watch_score_age_seconds",
            "Seconds since the newest score exported was computed, as of the last tick.",
            ["model"],
            registry=r,
        )
        self.last_tick = Gauge(
            "rarewatch_watch_last_tick_timestamp_seconds",
            "When the last tick ended (epoch seconds).",
            ["model"],
            registry=r,
        )
        self.tick_duration = Gauge(
            "rarewatch_watch_last_tick_duration_seconds",
            "How long the last tick took.",
            ["model"],
            registry=r,
        )
        self.ticks = Counter("rarewatch_watch_ticks", "Ticks run.", ["model"], registry=r)
        self.failed = Counter(
            "rarewatch_watch_failed_ticks",
            "Ticks that exported no score, by reason.",
            ["model", "reason"],
            registry=r,
        )
        self.late = Counter(
            "rarewatch_watch_late_ticks",
            "Ticks skipped because the one before ran past their time.",
            ["model"],
            registry=r,
        )
        self.version = Gauge(
            "rarewatch_watch_model_version",
            "The model version the watch scores with.",
            ["model"],
            registry=r,
        )
        self.refits = Counter(
            "rarewatch_watch_refits", "Refits by outcome.", ["model", "outcome"], registry=r
        )
        self.remote_write_failures = Counter(
            "rarewatch_watch_remote_write_failures",
            "Remote writes of a model's series that failed (each is logged).",
            ["model"],
            registry=r,
        )
        self._shown: dict[str, list[str]] = {}  # the features each model's shares are shown for

    def scored(
        self, model: str, detection: Detection, features: list[str], verdict: QualityVerdict
    ) -> None:
        """The newest window's result (`detection.newest()`, scored) exported."""
        score = float(detection.scores[-1])
        self.score.labels(model).set(score / detection.threshold)
        self.is_anomaly.labels(model).set(float(detection.is_anomaly[-1]))
        self.severity.labels(model).set(float(detection.severity[-1]))
        shares = detection.contributions[-1]
        top = [int(i) for i in np.argsort(-shares, kind="stable")[: self.top_features]]
        self._drop_shares(model)
        for i in top:
            self.feature_share.labels(model, features[i]).set(float(shares[i]))
        self._shown[model] = [features[i] for i in top]
        self.quality_ok.labels(model).set(float(verdict.ok))
        self.score_age.labels(model).set(0.0)

    def unscored(self, model: str, reason: str, age: float | None) -> None:
        """No fresh score: the score series go (a stale one is never exported as fresh), the
        age says how old the last good one is, the failure is counted."""
        for gauge in (self.score, self.is_anomaly, self.severity, self.quality_ok):
            _remove(gauge, model)
        self._drop_shares(model)
        if age is None:
            _remove(self.score_age, model)
        else:
            self.score_age.labels(model).set(age)
        self.failed.labels(model, reason).inc()

    def ticked(self, model: str, ended: float, duration: float) -> None:
        self.ticks.labels(model).inc()
        self.last_tick.labels(model).set(ended)
        self.tick_duration.labels(model).set(duration)

    def serve(self, host: str, port: int) -> WSGIServer:
        """/metrics served from a thread of this process (`shutdown()` ends it)."""
        server, _thread = start_http_server(port, host, registry=self.registry)
        return server

    def _drop_shares(self, model: str) -> None:
        for feature in self._shown.pop(model, []):
            _remove(self.feature_share, model, feature)


def _remove(gauge: Gauge, *labels: str) -> None:
    with contextlib.suppress(KeyError):  # never set
        gauge.remove(*labels)
