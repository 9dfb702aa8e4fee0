"""Model lifecycle while serving: reload one model (the admin route) or all of them (SIGHUP),
counted in the metrics; the SIGHUP handler lives as long as the app's lifespan."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from app.api.metrics import Metrics
from app.api.problems import ReloadFailed
from app.api.registry import Registry, Reload
from models.errors import RarewatchError

log = logging.getLogger("rarewatch.lifecycle")


def reload_model(registry: Registry, metrics: Metrics, name: str) -> Reload:
    """Blocking: load, verify and warm the newest stored version, then swap it in."""
    try:
        reloaded = registry.reload(name)
    except ReloadFailed:
        metrics.model_failed(name)
        raise
    if reloaded.reloaded:
        metrics.model_loaded(registry.newest(name))
    return reloaded


def reload_all(registry: Registry, metrics: Metrics) -> None:
    """Blocking: reload every stored or served model; a failure is logged and the next tried."""
    log.info("reloading every model")
    for name in registry.reload_names():
        try:
            reload_model(registry, metrics, name)
        except RarewatchError as exc:  # broken new version, or a model gone from the folder
            log.error("reload: %s", exc.detail)  # noqa: TRY400 - the reason, not a traceback


def reload_on_sighup(app: FastAPI) -> Callable[[], None]:
    """Reload every model on SIGHUP, off the event loop, one reload after the other (the
    registry serializes them); returns the function that removes the handler. Off the main
    thread (tests serve from a thread) signals cannot be handled and nothing is installed."""
    loop = asyncio.get_running_loop()
    registry: Registry = app.state.registry
    metrics: Metrics = app.state.metrics
    running: set[asyncio.Task[None]] = set()  # held, so a running reload is not collected

    def on_sighup() -> None:
        task = loop.create_task(run_in_threadpool(reload_all, registry, metrics))
        running.add(task)
        task.add_done_callback(running.discard)

    try:
        loop.add_signal_handler(signal.SIGHUP, on_sighup)
    except (ValueError, RuntimeError, NotImplementedError, AttributeError):
        return lambda: None

    def remove() -> None:
        loop.remove_signal_handler(signal.SIGHUP)

    return remove
