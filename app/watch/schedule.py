"""The watch loop: each model ticks on its own infer_every grid (and refits on fit_every) in one
asyncio loop, its series remote-written after each tick when configured; a slow tick makes the
next ones late, counted, never piled up."""

from __future__ import annotations

import asyncio
import logging
import math
import signal
import time

from app.watch.config import WatchConfig, load_watched
from app.watch.exporter import WatchMetrics
from app.watch.prometheus import PrometheusReader
from app.watch.refitting import end_fits, in_use, refit_once
from app.watch.remote_write import RemoteWriter
from app.watch.tick import Watched, tick
from models.artifact import ModelStore
from models.detector import Detector

logger = logging.getLogger(__name__)


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Wait `seconds` unless told to stop; True when told to stop."""
    if seconds > 0:
        try:
            await asyncio.wait_for(stop.wait(), seconds)
        except TimeoutError:
            return False
    return stop.is_set()


def next_due(due: float, now: float, every: float) -> tuple[float, int]:
    """The tick after the one due at `due`, as of `now`: the first grid time still ahead, and how
    many grid times passed while the tick ran (skipped, not run late one after another)."""
    due += every
    if now < due:
        return due, 0
    missed = math.floor((now - due) / every) + 1
    return due + missed * every, missed


async def run_model(
    watched: Watched,
    reader: PrometheusReader,
    store: ModelStore,
    metrics: WatchMetrics,
    stop: asyncio.Event,
    writer: RemoteWriter | None = None,
    spread: float = 0.0,
) -> None:
    """`spread` in [0, 1): where in each infer_every this model ticks, so that many models'
    queries do not all reach Prometheus at the same instant."""
    config = watched.config
    every = config.infer_every
    offset = spread * every
    due = math.ceil((time.time() - offset) / every) * every + offset
    next_fit = None if config.fit_every is None else time.time() + config.fit_every
    refitting: asyncio.Task[None] | None = None
    while not await _wait(stop, due - time.time()):
        await tick(watched, reader, metrics)
        if writer is not None:
            failure = await writer.write(watched.name, time.time())
            if failure is not None:
                logger.warning("watch %s: remote write failed: %s", watched.name, failure)
                metrics.remote_write_failures.labels(watched.name).inc()
        if refitting is not None and refitting.done():
            refitting = None
        if next_fit is not None and time.time() >= next_fit and refitting is None:
            assert config.fit_every is not None
            next_fit += config.fit_every
            # in the loop alongside the ticks: the fit itself runs in a thread and a process
            refitting = asyncio.create_task(refit_once(watched, reader, store, metrics))
        due, missed = next_due(due, time.time(), every)
        if missed:
            metrics.late.labels(watched.name).inc(missed)
    if refitting is not None:
        refitting.cancel()


async def watch(
    config: WatchConfig,
    detectors: list[Detector],
    store: ModelStore,
    metrics: WatchMetrics,
    stop: asyncio.Event,
) -> None:
    """Watch every model of `config` (its `detectors`, in order) until `stop` is set."""
    reader = PrometheusReader(config.prometheus)
    writer = None
    if config.remote_write is not None:
        writer = RemoteWriter(config.remote_write, metrics.registry)
    try:
        models = [Watched(c, d) for c, d in zip(config.models, detectors, strict=True)]
        for watched in models:
            metrics.version.labels(watched.name).set(watched.detector.version)
            if watched.config.fit_every is not None:
                await asyncio.to_thread(in_use, store, watched, "watch started")
        await asyncio.gather(
            *(
                run_model(w, reader, store, metrics, stop, writer, i / len(models))
                for i, w in enumerate(models)
            )
        )
    finally:
        await reader.aclose()
        if writer is not None:
            await writer.aclose()


def run_watch(config: WatchConfig, store: ModelStore) -> None:
    """`rarewatch watch`: models checked and loaded, /metrics served, then the loop until
    SIGTERM or SIGINT."""
    detectors = load_watched(config, store)
    metrics = WatchMetrics(config.top_features)
    server = metrics.serve(config.listen.host, config.listen.port)
    logger.info(
        "watching %d models from %s; /metrics on %s:%d",
        len(detectors),
        config.prometheus.url,
        config.listen.host,
        server.server_port,
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def stopping() -> None:
            stop.set()
            end_fits()  # a fit in its thread would otherwise hold the exit until it ends

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping)
        await watch(config, detectors, store, metrics, stop)

    try:
        asyncio.run(main())
    finally:
        server.shutdown()
        server.server_close()
    logger.info("watch stopped")
