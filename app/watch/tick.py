"""One inference tick of one watched model: read its rows, score the newest window, export it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from app.watch.config import WatchedModel
from app.watch.exporter import WatchMetrics
from app.watch.prometheus import QueryFailed, RowReader, Rows, grid_end
from models.data_quality import judge
from models.detector import Detection, Detector
from models.errors import RarewatchError

logger = logging.getLogger(__name__)

# the failed-tick reasons beyond the reader's
UNSCORED = "unscored"  # the newest window held a gap the fill policy does not close
MODEL_ERROR = "model_error"  # the detector refused the rows
INTERNAL = "internal"  # a bug: logged with its traceback


@dataclass
class Watched:
    """One watched model: its config, the detector in use (swapped whole by a refit), and what
    its ticks remember."""

    config: WatchedModel
    detector: Detector
    last_good: float | None = None  # epoch seconds of the newest row given a score
    # epoch nanoseconds of the rows inside flagged windows that refits leave out (since the last
    # fit, or while inside the fit window: the config's flags_kept)
    flagged: set[int] = field(default_factory=set)

    @property
    def name(self) -> str:
        return self.config.model


def rows_needed(detector: Detector) -> int:
    """The newest window, the windows before it that its result needs (the alarm rule's count,
    the score smoothing), and before them as many rows as the fill policy's longest gap, so a
    gap at the edge is filled as one inside."""
    return detector.spec.lookback + detector.earlier_windows() + detector.fill_policy.max_gap


async def tick(watched: Watched, reader: RowReader, metrics: WatchMetrics) -> None:
    """Never raises: a failure is counted by reason and logged, and the score series dropped."""
    began, started = time.time(), time.monotonic()
    failure = await score_up_to(watched, reader, metrics, grid_end(began, watched.config.step))
    if failure is not None:
        reason, detail = failure
        logger.warning("watch %s: no score this tick (%s): %s", watched.name, reason, detail)
        age = None if watched.last_good is None else began - watched.last_good
        metrics.unscored(watched.name, reason, age)
    metrics.ticked(watched.name, time.time(), time.monotonic() - started)


async def score_up_to(
    watched: Watched, reader: RowReader, metrics: WatchMetrics, end: float
) -> tuple[str, str] | None:
    """The newest window up to `end` scored and exported: None, else (reason, detail). A tick's
    work without its clock and its failure accounting (bench.watch_delay replays ticks with it)."""
    detector = watched.detector  # one detector for the whole tick, whatever a refit swaps in
    try:
        rows = await reader.rows(watched.config, detector.features, end, rows_needed(detector))
        detection = detector.detect_last(rows.values)
        filling = detection.filling
        if filling is not None and not filling.scored[-1]:
            return UNSCORED, "the newest window holds a gap the fill policy does not close"
        _export(watched, detector, rows, detection, metrics)
    except QueryFailed as exc:
        return exc.reason, exc.detail
    except RarewatchError as exc:
        return MODEL_ERROR, exc.detail
    except Exception:
        logger.exception("watch %s: the tick failed", watched.name)
        return INTERNAL, "see the traceback above"
    watched.last_good = end
    return None


def _export(
    watched: Watched, detector: Detector, rows: Rows, detection: Detection, metrics: WatchMetrics
) -> None:
    # ISO text: judged by the input contract's own parser, without pandas (not in the serve image)
    stamps = [f"{t}Z" for t in np.datetime_as_string(rows.times, unit="ms")]
    verdict = judge(detector.training_stats, detector.lookback, rows.values, detection, stamps)
    metrics.scored(watched.name, detection, detector.features, verdict)
    if detection.is_anomaly[-1] and watched.config.fit_every is not None:
        window = rows.times[-detector.lookback :].astype(np.int64)
        watched.flagged.update(int(t) for t in window)
