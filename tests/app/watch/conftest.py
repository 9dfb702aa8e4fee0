"""Real parts for the watch's tests: Debian's Prometheus on 127.0.0.1 scraping a small exporter
of the tiny model's synthetic sensors (one sample a second), and the watch run in this process."""

from __future__ import annotations

import asyncio
import math
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app.watch.config import WatchConfig
from app.watch.exporter import WatchMetrics
from app.watch.schedule import watch
from models.artifact import ModelStore
from models.loading import load_detector
from tests.app.test_client_and_serve import free_port

PROMETHEUS = shutil.which("prometheus")
needs_prometheus = pytest.mark.skipif(
    PROMETHEUS is None,
    reason="Prometheus is not installed (apt-get install prometheus); .ci/run installs it",
)
FAULT_SIZE = 4.0  # as tests.conftest.with_fault: feature c jumps by this much
ROOT = Path(__file__).resolve().parents[3]
# the `rarewatch watch` process, run by a driver that says at its exit what it imported
DRIVER = """
import json
import sys
from app.cli.main import main
code = main(sys.argv[1:])
print(json.dumps({"tensorflow": "tensorflow" in sys.modules, "keras": "keras" in sys.modules}))
sys.exit(code)
"""


def watch_command(model_dir: Path, config: Path) -> subprocess.Popen[str]:
    """`rarewatch watch --config config` started as its own process, through DRIVER; the caller
    ends it (SIGTERM) and reads its output."""
    command = ["--model-dir", str(model_dir), "watch", "--config", str(config)]
    return subprocess.Popen(
        [sys.executable, "-c", DRIVER, *command],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@dataclass(eq=False)  # hashed by identity, as a registry keeps its collectors
class Sensors(Collector):
    """The tiny model's sensors (tests.conftest.tiny_frame without its noise), one row a second:
    a fault adds to c, and a missing feature is not exposed at all (Prometheus marks it stale)."""

    fault: bool = False
    missing: set[str] = field(default_factory=set)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        # the row of the second before the scrape: the grid point after it reads this sample
        t = math.floor(time.time()) - 1
        a = math.sin(2 * math.pi * t / 50)
        row = {"a": a, "b": 0.5 * a, "c": math.cos(2 * math.pi * t / 50)}
        row["c"] += FAULT_SIZE if self.fault else 0.0
        family = GaugeMetricFamily("sensor_value", "A synthetic sensor.", labels=["sensor"])
        for name, value in row.items():
            if name not in self.missing:
                family.add_metric([name], value)
        yield family


class Prometheus:
    """Debian's prometheus on a free port of 127.0.0.1, scraping every second, its storage in a
    temporary folder; `stop` and `start` again keep that storage."""

    def __init__(
        self,
        folder: Path,
        targets: dict[str, int],
        web_config: str = "",
        ca_file: Path | None = None,
    ) -> None:
        """`ca_file`: the CA of the server certificate named in `web_config`'s
        tls_server_config; Prometheus then answers https only."""
        self.port = free_port()
        scheme = "http" if ca_file is None else "https"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.verify: bool | ssl.SSLContext = (
            True if ca_file is None else ssl.create_default_context(cafile=str(ca_file))
        )
        jobs = "".join(
            f"  - job_name: {job}\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n"
            for job, port in targets.items()
        )
        self.config = folder / "prometheus.yml"
        self.config.write_text(
            f"global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n{jobs}"
        )
        self.storage = folder / "data"
        self.web_config = folder / "web.yml"  # its own server's settings (basic auth, TLS)
        self.web_config.write_text(web_config)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert PROMETHEUS is not None
        self.process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={self.config}",
                f"--storage.tsdb.path={self.storage}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-remote-write-receiver",  # the watch's remote write lands here
                f"--web.config.file={self.web_config}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                # 401 behind basic auth: up all the same
                ready = httpx.get(f"{self.url}/-/ready", timeout=1, verify=self.verify)
                if ready.status_code in (200, 401):
                    return
            except httpx.TransportError:
                pass
            assert self.process.poll() is None, "prometheus exited at start"
            time.sleep(0.2)
        raise AssertionError("prometheus was not ready within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def query(self, promql: str) -> list[dict]:  # type: ignore[type-arg]
        answer = httpx.get(
            f"{self.url}/api/v1/query", params={"query": promql}, timeout=5, verify=self.verify
        )
        answer.raise_for_status()
        result: list[dict] = answer.json()["data"]["result"]  # type: ignore[type-arg]
        return result


@dataclass
class Scene:
    sensors: Sensors
    prometheus: Prometheus
    watch_port: int  # the port Prometheus scrapes the watch on (a `rarewatch watch` started)
    sensors_port: int  # the sensors' exporter, for another Prometheus to scrape too


@pytest.fixture(scope="session")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scene]:
    if PROMETHEUS is None:
        pytest.skip("Prometheus is not installed")
    sensors = Sensors()
    registry = CollectorRegistry()
    registry.register(sensors)
    server, _thread = start_http_server(0, "127.0.0.1", registry=registry)
    watch_port = free_port()
    targets = {"sensors": int(server.server_port), "watch": watch_port}
    prometheus = Prometheus(tmp_path_factory.mktemp("prometheus"), targets)
    try:
        prometheus.start()
        yield Scene(sensors, prometheus, watch_port, int(server.server_port))
    finally:
        prometheus.stop()
        server.shutdown()
        server.server_close()


def config_for(prometheus_url: str, model: str, port: int = 0, **watched: object) -> WatchConfig:
    queries = {f: f'sensor_value{{sensor="{f}"}}' for f in ("a", "b", "c")}
    entry = {"model": model, "queries": queries, "step": "1s", "infer_every": "1s"} | watched
    if "query" in watched:  # one query for all features, its label naming each
        del entry["queries"]
    return WatchConfig.model_validate(
        {
            "prometheus": {"url": prometheus_url, "timeout_s": 2},
            "models": [entry],
            "listen": {"port": port},
        }
    )


@dataclass
class RunningWatch:
    metrics: WatchMetrics

    def value(self, name: str, **labels: str) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels)


@contextmanager
def watching(config: WatchConfig, store: ModelStore) -> Iterator[RunningWatch]:
    """The watch loop of `config` on the models of `store`, in a thread of this process,
    stopped on exit."""
    detectors = [load_detector(store, watched.model) for watched in config.models]
    metrics = WatchMetrics(config.top_features)
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            loop.run_until_complete(watch(config, detectors, store, metrics, stop))
        except BaseException as exc:  # handed to the test below
            failure.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield RunningWatch(metrics)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=20)
        loop.close()
    assert not failure, failure
    assert not thread.is_alive()


def wait_for(check: Callable[[], bool], timeout_s: float, every_s: float = 0.25) -> bool:
    """Whether `check` held within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every_s)
    return check()
