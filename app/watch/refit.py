"""Refit a watched model on recent rows in a child process, check the new version, store it,
prune old versions; and record which version is in use and why.

The fit runs as `python -m models.refit_job` (TensorFlow is imported there, never here), bounded
in time. The new version counts only once it passes the checks a served model would: sane
validation errors, a finite threshold above their median, an ONNX graph that loads and scores
through models.loading. Until then nothing is written to the model folder.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec

import numpy as np

import models
from app.watch.config import FlagsKept
from models.artifact import ModelStore, StoredModel
from models.errors import ModelFault, RarewatchError
from models.in_use import read_in_use, write_in_use
from models.loading import EngineChoice, load_detector
from models.refit_job import JOB_FILE, RESULT_FILE, ROWS_FILE, STORE_FOLDER
from models.wording import plural

P = ParamSpec("P")
log = logging.getLogger("rarewatch.watch.refit")

# rows of the end of the data the new version scores before it counts: enough windows to catch
# a graph that fails or gives non-finite scores, few enough to cost nothing next to the fit
CHECK_ROWS = 512


# the fits running now, so that a watch told to stop ends them rather than waiting for them:
# asyncio.run joins the thread a fit runs in before the process may exit, and a fit is bounded
# only by fit_timeout (by default a whole fit_every)
_fits: set[subprocess.Popen[str]] = set()
_fits_lock = threading.Lock()
_stopping = threading.Event()
STOPPED = "the watch stopped during the fit"


def stop_fits() -> None:
    """End every running fit (SIGTERM to its process) and refuse any fit started from now; each
    refit then returns a failed outcome and removes its temporary folder. Safe from any thread."""
    _stopping.set()
    with _fits_lock:
        for child in _fits:
            child.terminate()


@dataclass(frozen=True)
class RefitOutcome:
    ok: bool
    version: int | None  # the version stored; None when the refit failed
    reason: str  # plain words: what was fitted on, or why nothing was


def _failure_as_outcome(fit: Callable[P, RefitOutcome]) -> Callable[P, RefitOutcome]:
    """A bad stored model, a graph that scores NaN or files that cannot be written end the refit
    as a failed outcome, never as an exception: the watch keeps the version it has."""

    @functools.wraps(fit)
    def guarded(*args: P.args, **kwargs: P.kwargs) -> RefitOutcome:
        try:
            return fit(*args, **kwargs)
        except (RarewatchError, ModelFault) as exc:
            return _failed(exc.detail)
        except OSError as exc:  # the model folder or the temporary folder
            return _failed(f"the refit could not write its files: {exc}")

    return guarded


@_failure_as_outcome
def refit(
    models_dir: Path,
    name: str,
    times: np.ndarray,
    values: np.ndarray,
    features: list[str],
    flagged_rows: np.ndarray,
    keep_versions: int,
    timeout_s: float,
) -> RefitOutcome:
    """Train a new version of `name` with the options of its newest version on these rows,
    leaving out the windows that hold a flagged row (all rows are kept when that leaves none to
    fit on: models.refit_job.fit); never raises for a failed fit.

    times  # (n_rows,) datetime64[ns] UTC, increasing
    values  # (n_rows, n_features) float64, NaN missing
    flagged_rows  # (n_rows,) bool: inside a window flagged anomalous (flags_to_fit)
    """
    store = ModelStore(models_dir)
    newest = store.open(name)
    options = newest.spec.options
    if options is None:
        return _failed(f"version {newest.version} has no training options stored to refit with")
    if list(features) != newest.spec.features:
        return _failed(
            f"the features given ({', '.join(features)}) are not the model's "
            f"({', '.join(newest.spec.features)})"
        )
    _check_rows(times, values, flagged_rows, len(features))
    with tempfile.TemporaryDirectory(prefix="rarewatch-refit-") as folder:
        job = Path(folder)
        np.savez(
            job / ROWS_FILE,
            times=times.astype("datetime64[ns]").astype(np.int64),
            values=np.asarray(values, dtype=np.float64),
            flagged=np.asarray(flagged_rows, dtype=bool),
        )
        job_text = {
            "name": name,
            "features": list(features),
            "options": options.model_dump(mode="json"),
        }
        (job / JOB_FILE).write_text(json.dumps(job_text))
        failure, flags_ignored = _run_fit(job, timeout_s)
        if failure is not None:
            return _failed(failure)
        candidate = ModelStore(job / STORE_FOLDER).open(name)
        refused = refusal(candidate, values)
        if refused is not None:
            return _failed(f"the new model was refused: {refused}")
        version, _ = store.write(name, candidate.spec, candidate.weights(), candidate.onnx())
    reason = _fitted_on(times, flagged_rows, newest.spec.lookback, flags_ignored)
    try:
        pruned = prune_versions(store, name, keep_versions, keep={version})
    except OSError as exc:  # the new version stands; the next refit prunes again
        log.warning("model %r: old versions could not be pruned: %s", name, exc)
        pruned = []
    log.info("model %r version %d: %s; pruned %s", name, version, reason, pruned or "none")
    return RefitOutcome(True, version, reason)


def flags_to_fit(flagged: set[int], stamps: np.ndarray) -> tuple[set[int], np.ndarray]:
    """The flags still inside the fit window (rows older than it are never fitted on again, so
    their flags go, also when refits keep failing: the set stays bounded), and which of the
    window's rows they mark.

    stamps  # (n_rows,) int64 epoch nanoseconds of the fit window's rows, increasing
    """
    kept = {t for t in flagged if t >= int(stamps[0])}
    return kept, np.isin(stamps, np.fromiter(kept, np.int64, count=len(kept)))


def flags_after_fit(flagged: set[int], fitted_end: int, kept: FlagsKept) -> set[int]:
    """The flags left once a new version, fitted on rows up to `fitted_end` (epoch ns), is in
    use: only those after it (until_fit), or all of them until they leave the fit window
    (in_fit_window)."""
    if kept is FlagsKept.IN_FIT_WINDOW:
        return set(flagged)
    return {t for t in flagged if t > fitted_end}


def record_in_use(models_dir: Path, name: str, version: int, why: str) -> None:
    """Record that watch uses `version` of `name` from now, and why (GET /v1/models/{name}
    shows it); written atomically."""
    write_in_use(models_dir, name, version, why)


def prune_versions(store: ModelStore, name: str, keep_versions: int, keep: set[int]) -> list[int]:
    """Delete the oldest versions of `name` until at most `keep_versions` (at least 1) are left,
    never one in `keep` nor the one in use; returns those deleted. A version is renamed out of
    sight first, so a reader never finds it half deleted."""
    in_use = read_in_use(store.root, name)
    protected = keep | ({in_use.version} if in_use is not None else set())
    versions = store.versions(name)
    excess = len(versions) - max(1, keep_versions)
    pruned = [v for v in versions if v not in protected][: max(0, excess)]
    for version in pruned:
        folder = store.root / name / str(version)
        hidden = folder.with_name(f".pruned-{uuid.uuid4().hex}")
        os.rename(folder, hidden)
        shutil.rmtree(hidden, ignore_errors=True)
    return pruned


def _run_fit(job: Path, timeout_s: float) -> tuple[str | None, bool]:
    """The child's fit: (None when it stored a model, else why not; whether it had to ignore
    the flags, see models.refit_job.fit)."""
    env = dict(os.environ)
    # the child runs the same code as this process, wherever `models` was imported from
    code_root = str(Path(models.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (code_root, env.get("PYTHONPATH")) if p)
    with _fits_lock:
        if _stopping.is_set():
            return STOPPED, False
        child = subprocess.Popen(
            [sys.executable, "-m", "models.refit_job", str(job), str(os.getpid())],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        _fits.add(child)
    try:
        _, stderr = child.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        return f"the fit ran past its {timeout_s:g} s limit and was stopped", False
    finally:
        with _fits_lock:
            _fits.discard(child)
    if _stopping.is_set() and child.returncode != 0:
        return STOPPED, False
    result_path = job / RESULT_FILE
    if result_path.is_file():
        result = json.loads(result_path.read_text())
        if result["ok"]:
            return None, bool(result["flags_ignored"])
        return f"the fit was refused: {result['reason']}", False
    lines = [line for line in stderr.splitlines() if line.strip()]
    last = lines[-1].strip() if lines else "no message"
    return f"the fit failed (exit {child.returncode}): {last[:300]}", False


def refusal(candidate: StoredModel, values: np.ndarray) -> str | None:
    """Why a new model may not count (None: it may): validation errors negative or out of
    order, a threshold not finite or not above their median, a graph that does not load or
    score the newest of `values` through models.loading.

    values  # (n_rows, n_features) the rows it was fitted on
    """
    spec = candidate.spec
    by_quantile = sorted(spec.validation_error_quantiles.items(), key=lambda kv: float(kv[0]))
    quantiles = np.array([value for _, value in by_quantile])
    if (quantiles < 0).any() or (np.diff(quantiles) < 0).any():
        return "its validation errors are negative or out of order"
    threshold = spec.threshold.value
    if not np.isfinite(threshold) or threshold <= spec.validation_error_quantiles["0.5"]:
        return f"its threshold ({threshold:.4g}) is not above its median validation error"
    try:
        store = ModelStore(candidate.path.parents[1])
        detector = load_detector(store, candidate.name, candidate.version, EngineChoice.ONNX)
        scores = detector.detect(np.asarray(values[-CHECK_ROWS:], dtype=np.float64)).scores
    except (RarewatchError, ModelFault) as exc:  # no graph, one that fails, or NaN out of it
        return exc.detail
    if not np.isfinite(scores).any():
        return f"it scored none of the newest {plural(CHECK_ROWS, 'row')}"
    return None


def _check_rows(
    times: np.ndarray, values: np.ndarray, flagged: np.ndarray, n_features: int
) -> None:
    from models.errors import InvalidInput

    n_rows = len(times)
    if values.ndim != 2 or values.shape != (n_rows, n_features) or flagged.shape != (n_rows,):
        raise InvalidInput(
            f"the rows do not line up: {n_rows} times, values {values.shape}, "
            f"flags {flagged.shape}, {plural(n_features, 'feature')}"
        )
    if n_rows > 1 and not (np.diff(times.astype("datetime64[ns]").astype(np.int64)) > 0).all():
        raise InvalidInput("the times do not strictly increase")


def _fitted_on(times: np.ndarray, flagged: np.ndarray, lookback: int, flags_ignored: bool) -> str:
    """`refit on 10,080 rows from ... to ..., 12 windows left out as anomalous`."""
    start, end = (np.datetime_as_string(t, unit="m") + "Z" for t in (times[0], times[-1]))
    fitted_on = f"refit on {len(times):,} rows from {start} to {end}"
    if flags_ignored:
        n_flagged = int(np.count_nonzero(flagged))
        return (
            f"{fitted_on}, every row kept: leaving out the {plural(n_flagged, 'flagged row')} "
            "left no normal window to fit on (the normal level has moved)"
        )
    held = np.convolve(np.asarray(flagged, dtype=np.int64), np.ones(lookback, np.int64), "valid")
    left_out = int(np.count_nonzero(held))
    return f"{fitted_on}, {plural(left_out, 'window')} left out as anomalous"


def _failed(reason: str) -> RefitOutcome:
    log.warning("refit failed: %s", reason)
    return RefitOutcome(False, None, reason)
