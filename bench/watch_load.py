"""One `rarewatch watch` process keeping up with many models: ticks on time, tick duration, CPU.

    python -m bench.watch_load [--models 200] [--features 10] [--infer-every 15] [--seconds 120]
                               [--write docs/benchmarks.md]

One small model (--features features, lookback 5) is trained once and copied under --models
names. A prometheus-client exporter on 127.0.0.1 serves every model's features as one series each
(`bench_sensor{model, feature}`, --models x --features series); Debian's Prometheus scrapes it
every 5 s. One `rarewatch watch` reads each model with one query (feature_label), step 5 s, every
--infer-every seconds. After a warm-up (the lookback filled), for --seconds: ticks run, late,
failed (by reason) from its /metrics, its CPU seconds over the wall seconds (1.0 is one core),
and the last tick's duration of every model, read every 5 s (median, p99). Checks: no late tick,
no failed tick, every model ticked as often as its schedule says. Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import yaml
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from bench.load.common import check_lines, publish
from bench.perf import http
from bench.perf.fixtures import BenchModel
from bench.perf.many_models import fleet_store
from models.spec import Activation

SCRAPE_S = 5  # Prometheus's scrape interval and the models' step
WARM_UP_S = 40  # the lookback's rows in Prometheus, and the first tick of every model


def sensor_phases(n_models: int, n_features: int) -> np.ndarray:
    """Each series' phase, (n_models, n_features): the same for the same sizes."""
    return np.random.default_rng(0).uniform(0, 2 * np.pi, (n_models, n_features))


def sensor_values(t: float | np.ndarray, phases: np.ndarray) -> np.ndarray:
    """The sensors at epoch seconds `t`: slow waves of one period, shifted by their phases
    (correlated, none a copy of another); `t` of shape (n, 1) gives one row per time."""
    return np.asarray(3 * np.sin(np.asarray(t) / 60 + phases))


class Sensors(Collector):
    """Every model's features: slow waves with a phase per series, one value per scrape."""

    def __init__(self, names: list[str], features: list[str]) -> None:
        self.names, self.features = names, features
        self.phases = sensor_phases(len(names), len(features))

    def collect(self) -> Iterator[GaugeMetricFamily]:
        values = sensor_values(time.time(), self.phases)
        family = GaugeMetricFamily(
            "bench_sensor", "A synthetic sensor.", labels=["model", "feature"]
        )
        for i, name in enumerate(self.names):
            for j, feature in enumerate(self.features):
                family.add_metric([name, feature], float(values[i, j]))
        yield family


def watch_config(prometheus_url: str, names: list[str], infer_every: int, port: int) -> dict:  # type: ignore[type-arg]
    return {
        "prometheus": {"url": prometheus_url, "timeout_s": 30},
        "models": [
            {
                "model": name,
                "query": f'bench_sensor{{model="{name}"}}',
                "feature_label": "feature",
                "step": SCRAPE_S,
                "infer_every": infer_every,
            }
            for name in names
        ],
        "listen": {"host": "127.0.0.1", "port": port},
    }


def samples(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The watch's /metrics: each sample's name -> its (labels, value)s."""
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    text = httpx.get(url + "/metrics", timeout=30).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def total(found: dict[str, list[tuple[dict[str, str], float]]], name: str) -> float:
    return sum(value for _, value in found.get(name, []))


def measure(
    root: Path, names: list[str], features: list[str], infer_every: int, seconds: int
) -> tuple[list[str], bool]:
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        raise SystemExit("bench.watch_load needs Prometheus (apt-get install prometheus)")
    registry = CollectorRegistry()
    registry.register(Sensors(names, features))
    exporter, _thread = start_http_server(0, "127.0.0.1", registry=registry)
    prometheus_port, watch_port = http.free_port(), http.free_port()
    (root / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": f"{SCRAPE_S}s"},
                "scrape_configs": [
                    {
                        "job_name": "sensors",
                        "static_configs": [{"targets": [f"127.0.0.1:{exporter.server_port}"]}],
                    }
                ],
            }
        )
    )
    config = root / "watch.yaml"
    config.write_text(
        yaml.safe_dump(
            watch_config(f"http://127.0.0.1:{prometheus_port}", names, infer_every, watch_port)
        )
    )
    prometheus_command = [
        prometheus,
        f"--config.file={root / 'prometheus.yml'}",
        f"--storage.tsdb.path={root / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prometheus_port}",
    ]
    watch_command = [
        sys.executable,
        "-m",
        "app.cli",
        "--model-dir",
        str(root / "models"),
        "watch",
        "--config",
        str(config),
    ]
    durations: list[float] = []
    try:
        with (
            http.running(prometheus_command, prometheus_port, "/-/ready"),
            http.running(watch_command, watch_port, "/metrics") as watch,
        ):
            time.sleep(WARM_UP_S)
            before, cpu_before, wall_before = samples(watch.url), watch.cpu_s(), time.monotonic()
            deadline = wall_before + seconds
            while time.monotonic() < deadline:
                time.sleep(SCRAPE_S)
                durations += [
                    v
                    for _, v in samples(watch.url).get(
                        "rarewatch_watch_last_tick_duration_seconds", []
                    )
                ]
            after, cpu_after, wall_after = samples(watch.url), watch.cpu_s(), time.monotonic()
            rss = watch.rss_mb()
    finally:
        exporter.shutdown()
        exporter.server_close()
    wall = wall_after - wall_before
    ticks = total(after, "rarewatch_watch_ticks_total") - total(
        before, "rarewatch_watch_ticks_total"
    )
    late = total(after, "rarewatch_watch_late_ticks_total") - total(
        before, "rarewatch_watch_late_ticks_total"
    )
    failed: dict[str, float] = {}
    for name, when in ((after, 1), (before, -1)):
        for labels, value in name.get("rarewatch_watch_failed_ticks_total", []):
            failed[labels["reason"]] = failed.get(labels["reason"], 0) + when * value
    failed = {reason: n for reason, n in failed.items() if n}
    expected = len(names) * math.floor(wall / infer_every)
    cpu_share = (cpu_after - cpu_before) / wall
    p50, p99 = np.percentile(durations, [50, 99]) * 1e3
    checks = {
        "no late tick": late == 0,
        "no failed tick": not failed,
        "every model ticked on schedule": ticks >= expected,
    }
    lines = [
        f"{len(names):,} copies of one model (lookback 5, {len(features)} features), each read "
        f"with one query of {len(features)} series; step {SCRAPE_S} s, infer_every "
        f"{infer_every} s; Prometheus (scraping every {SCRAPE_S} s), the exporter and the watch "
        "on the same machine.",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| measured for | {wall:.0f} s |",
        f"| ticks run / on schedule | {ticks:,.0f} / {expected:,} |",
        f"| late ticks | {late:,.0f} |",
        f"| failed ticks | {', '.join(f'{r}: {n:,.0f}' for r, n in failed.items()) or '0'} |",
        f"| tick duration, median / p99 (each model's last tick, read every {SCRAPE_S} s) | "
        f"{p50:.1f} / {p99:.1f} ms |",
        f"| the watch's CPU (CPU seconds / wall seconds; 1.0 is one core) | {cpu_share:.2f} |",
        f"| the watch's RSS | {rss:.0f} MB |",
        "",
        *check_lines(checks),
    ]
    return lines, all(checks.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=200)
    parser.add_argument("--features", type=int, default=10)
    parser.add_argument("--infer-every", type=int, default=15, help="seconds")
    parser.add_argument("--seconds", type=int, default=120, help="measured, after the warm-up")
    parser.add_argument("--write", type=Path, help="replace this section of the file")
    args = parser.parse_args()
    model = BenchModel("watch", 5, args.features, (16, 8), Activation.RELU)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        names = fleet_store(root / "models", args.models, model)
        features = [f"x{i + 1}" for i in range(args.features)]
        lines, passed = measure(root, names, features, args.infer_every, args.seconds)
    markers = (f"<!-- watch-load-{args.models}:start -->", f"<!-- watch-load-{args.models}:end -->")
    section = (markers, f"## One watch, {args.models:,} models (issue 19)\n\n")
    publish("bench.watch_load", lines, passed, args.write, section, "Prometheus and the exporter")


if __name__ == "__main__":
    main()
