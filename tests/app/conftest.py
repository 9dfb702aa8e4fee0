"""API test fixtures: a real uvicorn on 127.0.0.1 serving the session's tiny model, and clients."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from app.client import Client
from app.main import create_app
from app.settings import Settings
from tests.conftest import TinyModel

START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Server:
    app: FastAPI
    url: str


@contextmanager
def running(settings: Settings) -> Iterator[Server]:
    """create_app(settings) served by uvicorn in a thread on a port the OS picked; stopped after."""
    app = create_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))  # bound here, so no other process can take the port meanwhile
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        yield Server(app, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=START_TIMEOUT_S)
        sock.close()
        assert not thread.is_alive(), "the test server did not stop"


@pytest.fixture(scope="session")
def server(tiny_model: TinyModel) -> Iterator[Server]:
    with running(Settings(model_dir=tiny_model.store.root)) as started:
        yield started


@pytest.fixture(scope="session")
def api(server: Server) -> Iterator[Client]:
    with Client(server.url) as client:
        yield client


@pytest.fixture(scope="session")
def http(server: Server) -> Iterator[httpx.Client]:
    """For raw requests: bytes, headers and content types the Client would never send."""
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        yield client
