"""Model lifecycle while serving: a rescan of the model folder on SIGHUP and, when set, every
RAREWATCH_RESCAN_INTERVAL_S; both live as long as the app's lifespan. (One model's reload is the
admin route's, Registry.reload.)"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from app.api.registry import Registry

log = logging.getLogger("rarewatch.lifecycle")


def rescan(registry: Registry) -> None:
    """Blocking: new models found, changed ones brought to their newest version."""
    log.info("rescanning the model folder")
    registry.rescan()


def rescan_on_sighup(app: FastAPI) -> Callable[[], None]:
    """Rescan on SIGHUP, off the event loop, one rescan after the other (the registry serializes
    them); returns the function that removes the handler. Off the main thread (tests serve from
    a thread) signals cannot be handled and nothing is installed."""
    loop = asyncio.get_running_loop()
    registry: Registry = app.state.registry
    running: set[asyncio.Task[None]] = set()  # held, so a running rescan is not collected

    def on_sighup() -> None:
        task = loop.create_task(run_in_threadpool(rescan, registry))
        running.add(task)
        task.add_done_callback(running.discard)

    try:
        loop.add_signal_handler(signal.SIGHUP, on_sighup)
    except (ValueError, RuntimeError, NotImplementedError, AttributeError):
        return lambda: None

    def remove() -> None:
        loop.remove_signal_handler(signal.SIGHUP)

    return remove


def rescan_periodically(registry: Registry, interval_s: float) -> Callable[[], None]:
    """Rescan every `interval_s` seconds (0: never); returns the function that stops it."""
    if interval_s <= 0:
        return lambda: None

    async def every_interval() -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await run_in_threadpool(rescan, registry)
            except Exception:  # a bug here must not end the rescans that follow
                log.exception("the periodic rescan failed")

    task = asyncio.get_running_loop().create_task(every_interval())

    def stop() -> None:
        task.cancel()

    return stop
