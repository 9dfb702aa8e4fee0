"""`rarewatch serve` and signals: SIGHUP rescans the model folder (new models, new versions);
SIGTERM fails readiness at once, lets the requests in flight complete within the grace period,
then exits."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from app.api.main import create_app
from app.api.serve import graceful_server
from app.settings import Settings
from models.artifact import ModelStore
from tests.app.api.test_bad_input import JSON_TYPE, body, rows
from tests.app.faults import WAIT_S, copy_model, gated, wait_for
from tests.conftest import TINY_FEATURES, TinyModel, tiny_frame

REPO = Path(__file__).resolve().parents[3]
START_TIMEOUT_S = 60.0


@pytest.fixture
def store(tiny_model: TinyModel, tmp_path: Path) -> ModelStore:
    store = ModelStore(tmp_path)
    copy_model(tiny_model.store, store, "tiny")
    return store


@contextmanager
def serve_process(store: ModelStore, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [sys.executable, "-m", "app.cli", "--model-dir", str(store.root), "serve"]
    env = {**os.environ, "RAREWATCH_SHUTDOWN_GRACE_S": "30"}
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*command, "--port", str(port)], cwd=REPO, stdout=output, stderr=output, env=env
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(url, process), START_TIMEOUT_S)
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def _ready(url: str, process: subprocess.Popen[bytes]) -> bool:
    assert process.poll() is None, "rarewatch serve exited before it was ready"
    try:
        return httpx.get(url + "/readyz").status_code == 200
    except httpx.TransportError:
        return False


def test_sighup_serves_a_newly_trained_version_without_a_restart(
    store: ModelStore, tiny_model: TinyModel, tmp_path: Path
) -> None:
    log = tmp_path / "serve.log"
    with serve_process(store, log) as (process, url):
        copy_model(tiny_model.store, store, "tiny")  # what `rarewatch train` does
        copy_model(tiny_model.store, store, "tiny", as_name="fresh")  # a model new to it
        process.send_signal(signal.SIGHUP)
        wait_for(lambda: httpx.get(url + "/readyz").json()["models"][-1]["version"] == 2)
        assert httpx.get(url + "/readyz").json()["models"][0] == {"name": "fresh", "version": 1}
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    assert "model 'tiny' now serves version 2 (was 1)" in log.read_text()


def test_sigterm_lets_the_requests_in_flight_complete_then_exits(
    store: ModelStore, tmp_path: Path
) -> None:
    heavy = body(values=tiny_frame(20_000)[TINY_FEATURES].to_numpy().tolist())
    log = tmp_path / "serve.log"
    # Six requests surely in flight when the signal goes: each client has sent half its body and
    # sends the rest only after the signal. (Timing alone no longer does it: six requests of
    # 20,000 rows all finish within half a second.)
    signal_sent = threading.Event()

    def body_in_two_halves(half_sent: threading.Event) -> Iterator[bytes]:
        yield heavy[: len(heavy) // 2]
        half_sent.set()
        assert signal_sent.wait(WAIT_S)
        yield heavy[len(heavy) // 2 :]

    def detect(url: str, half_sent: threading.Event) -> tuple[int, float]:
        with httpx.Client(timeout=60) as http:
            response = http.post(
                url + "/v1/models/tiny/detect",
                content=body_in_two_halves(half_sent),
                headers={"content-type": JSON_TYPE},
            )
            return response.status_code, time.monotonic()

    halves_sent = [threading.Event() for _ in range(6)]
    with serve_process(store, log) as (process, url), ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(detect, url, half_sent) for half_sent in halves_sent]
        assert all(half_sent.wait(WAIT_S) for half_sent in halves_sent)
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        signal_sent.set()
        answers = [f.result() for f in futures]
        process.wait(timeout=30)

    assert [status for status, _ in answers] == [200] * 6
    assert min(done for _, done in answers) > signalled  # all six answered after the signal
    assert process.returncode in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in log.read_text()


def test_readiness_fails_the_moment_the_exit_signal_arrives(tiny_model: TinyModel) -> None:
    app = create_app(Settings(model_dir=tiny_model.store.root))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=30)
    server = graceful_server(config, app.state.registry)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started)
        registry = app.state.registry
        detector, engine = gated(registry.newest("tiny"))
        registry.add(detector)
        engine.gate.clear()
        with ThreadPoolExecutor(1) as pool:
            in_flight = pool.submit(
                httpx.post,
                url + "/v1/models/gated/detect",
                content=body(values=rows()),
                headers={"content-type": JSON_TYPE},
                timeout=30,
            )
            wait_for(lambda: engine.entered == 1)
            assert registry.ready

            server.handle_exit(signal.SIGTERM, None)

            assert not registry.ready
            assert registry.stopping
            engine.gate.set()
            assert in_flight.result().status_code == 200
    finally:
        engine.gate.set()
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
    assert not thread.is_alive()
