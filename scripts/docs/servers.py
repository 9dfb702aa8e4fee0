"""Real servers for the captures, and the broken models and held requests that make them fail.

`rarewatch serve` runs as a process, create_app in a thread; broken copies of the demo model and
requests held half-sent give the answers a healthy, idle server never gives.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
from fastapi import FastAPI

from app.api.main import create_app
from app.api.serve import DEMO_MODEL, serving_in_thread
from app.settings import Settings
from models.artifact import WEIGHTS_FILE, ModelStore
from models.detector import Detector
from models.engines import Engine
from models.loading import load_detector
from scripts.docs.captures import REPO

START_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def demo_server(
    model_dir: Path, log_path: Path, environment: dict[str, str] | None = None
) -> Iterator[str]:
    """`rarewatch serve` as a real process on a free port, with these RAREWATCH_* variables set;
    yields its URL once /readyz is 200."""
    port = free_port()
    command = [sys.executable, "-m", "app.cli", "--model-dir", str(model_dir)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "serve", "--port", str(port)],
            cwd=REPO,
            stdout=log,
            stderr=log,
            env=os.environ | (environment or {}),
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process, log_path)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/readyz", timeout=5.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    lines = log_path.read_text(errors="replace").splitlines()
    log = "\n".join(line for line in lines if "/readyz" not in line)[-3000:]
    raise SystemExit(f"the demo server did not become ready; its log ends with:\n{log}")


@contextmanager
def in_process_server(settings: Settings) -> Iterator[tuple[FastAPI, str]]:
    """create_app(settings) served by uvicorn in a thread; yields (app, URL)."""
    app = create_app(settings)
    with serving_in_thread(app, START_TIMEOUT_S) as url:
        yield app, url


@contextmanager
def quiet_rarewatch_log() -> Iterator[None]:
    """The broken copies make the app log errors and a traceback on purpose: not shown."""
    logger = logging.getLogger("rarewatch")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)  # the module loggers below it inherit the level
    try:
        yield
    finally:
        logger.setLevel(level)


def tampered_copy(demo_store: ModelStore, target: Path) -> None:
    """The demo model's newest version with one byte of its weights changed: its SHA-256
    manifest no longer matches, so the server refuses to load it."""
    _, source = demo_store.resolve(DEMO_MODEL)
    shutil.copytree(source, target)
    weights = target / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))


class NaNEngine(Engine):
    """A network whose every reconstruction is NaN: the fault behind the 500 example."""

    name = "nan"

    def _run(self, windows: np.ndarray) -> np.ndarray:
        return np.full(windows.shape, np.nan, dtype=np.float32)


def nan_model(demo_store: ModelStore) -> Detector:
    """The demo model over a network that reconstructs NaN. The loader refuses such an
    artifact at its warm-up, so this is put under the loaded detector in memory: a request then
    reaches the non-finite score check and gets 500."""
    demo = load_detector(demo_store, DEMO_MODEL)
    engine = NaNEngine(demo.lookback, len(demo.features))
    return Detector(DEMO_MODEL, demo.version, demo.spec, engine)
