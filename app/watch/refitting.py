"""The refit hook: every fit_every, a new version fitted on the recent rows (app.watch.refit, in
its own process) and swapped in once it loads; a failed one keeps the version in use."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path

import numpy as np

from app.watch.exporter import WatchMetrics
from app.watch.prometheus import QueryFailed, RowReader, grid_end
from app.watch.tick import Watched
from models.artifact import ModelStore
from models.errors import RarewatchError
from models.loading import load_detector

logger = logging.getLogger(__name__)

OK, FAILED = "ok", "failed"  # the refit counter's outcomes


def in_use(store: ModelStore, watched: Watched, why: str) -> None:
    """The version the watch scores with, recorded beside the model (GET /v1/models/{name});
    a failure to record is logged, never raised: the watch goes on scoring."""
    try:
        # app.watch.refit is imported only where a model refits (fit_every)
        from app.watch.refit import record_in_use

        record_in_use(store.root, watched.name, watched.detector.version, why)
    except Exception:
        logger.exception("watch %s: the version in use could not be recorded", watched.name)


def end_fits() -> None:
    """End the fits running now (the watch is told to stop), rather than wait for them; where
    app.watch.refit was never imported, no fit was ever started."""
    refit = sys.modules.get("app.watch.refit")
    if refit is not None:
        refit.stop_fits()


async def refit_once(
    watched: Watched, reader: RowReader, store: ModelStore, metrics: WatchMetrics
) -> None:
    """One refit of `watched`; never raises (a failure is counted and logged)."""
    config = watched.config
    assert config.fit_every is not None
    assert config.fit_window is not None
    try:
        from app.watch.refit import flags_after_fit, flags_to_fit, refit

        detector = watched.detector
        end = grid_end(time.time(), config.step)
        n_rows = round(config.fit_window / config.step) + 1
        rows = await reader.rows(config, detector.features, end, n_rows)
        stamps = rows.times.astype(np.int64)
        watched.flagged, flagged_rows = flags_to_fit(watched.flagged, stamps)
        outcome = await asyncio.to_thread(
            refit,
            Path(store.root),
            watched.name,
            rows.times,
            rows.values,
            list(detector.features),
            flagged_rows,
            config.keep_versions,
            # by default a fit must end before the next one is due
            config.fit_timeout or config.fit_every,
        )
        new = None
        if outcome.ok and outcome.version is not None:
            new = await asyncio.to_thread(load_detector, store, watched.name, outcome.version)
    except QueryFailed as exc:
        _kept(watched, metrics, exc.detail)
        return
    except RarewatchError as exc:  # the new version refused as it loaded
        _kept(watched, metrics, exc.detail)
        return
    except Exception:
        logger.exception("watch %s: the refit failed", watched.name)
        _kept(watched, metrics, "see the traceback above")
        return
    if new is None:
        _kept(watched, metrics, outcome.reason)
        return
    watched.detector = new  # one assignment in the event loop: a tick sees the old or the new
    watched.flagged = flags_after_fit(watched.flagged, int(stamps[-1]), config.flags_kept)
    metrics.version.labels(watched.name).set(new.version)
    metrics.refits.labels(watched.name, OK).inc()
    logger.info("watch %s: now version %d: %s", watched.name, new.version, outcome.reason)
    await asyncio.to_thread(in_use, store, watched, outcome.reason)


def _kept(watched: Watched, metrics: WatchMetrics, why: str) -> None:
    logger.warning(
        "watch %s: refit failed, version %d kept: %s", watched.name, watched.detector.version, why
    )
    metrics.refits.labels(watched.name, FAILED).inc()
