"""API test fixtures: a real uvicorn on 127.0.0.1 serving the session's tiny model, and clients."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from fastapi import FastAPI

from app.api.main import create_app
from app.api.serve import serving_in_thread
from app.client import Client
from app.settings import Settings
from tests.conftest import TinyModel

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

START_TIMEOUT_S = 60.0
# Debian's chromium; RAREWATCH_TEST_CHROMIUM points elsewhere
CHROMIUM = Path(os.environ.get("RAREWATCH_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 30_000


@dataclass(frozen=True)
class Server:
    app: FastAPI
    url: str


@contextmanager
def running(settings: Settings) -> Iterator[Server]:
    """create_app(settings) served by uvicorn in a thread on a port the OS picked; stopped after."""
    app = create_app(settings)
    with serving_in_thread(app, START_TIMEOUT_S) as url:
        yield Server(app, url)


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


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's chromium driven by Playwright for Python (never `playwright install`)."""
    if not CHROMIUM.exists():
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    sync_api = pytest.importorskip(
        "playwright.sync_api",
        reason="Playwright for Python is not installed (pip install playwright)",
    )
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def browser_context(chromium: Browser) -> Iterator[BrowserContext]:
    """A fresh context (no cookies, no storage) at a desktop size, waiting up to WAIT_MS."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    yield context
    context.close()
