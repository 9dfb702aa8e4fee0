"""Fleet training: one model per entity, each fitted by the one training path as a Ray task.

A fleet is a long table (an entity column beside the time and feature columns) or a folder of
files, one entity per file. Each entity's model is `<prefix><entity>`. The plan is made before any
fit: an entity whose name or data cannot be used fails alone, and one whose newest model was
trained on the same data (SHA-256 in detector.json) with the same options is skipped. Fits run as
Ray tasks, one CPU and one TensorFlow thread each; the fitted models come back to this process,
which stores them, so a cluster's nodes need no shared folder. Ray is imported here only, lazily:
the `fleet` extra brings it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import pandas as pd

from models.artifact import ModelStore, check_name
from models.data import (
    PARQUET_SUFFIXES,
    Dataset,
    dataset_sha256,
    read_table,
    require_columns,
    select,
)
from models.errors import ArtifactError, InvalidInput, ModelNotFound, RarewatchError
from models.spec import NetworkConfig, TrainingOptions
from models.training import TrainedModel, store_trained, train_detector
from models.wording import plural

TABLE_SUFFIXES = {".csv", ".tsv", ".txt", *PARQUET_SUFFIXES}
# Ray's shared memory for the entities' rows and the fitted weights on a local start: enough for
# large fleets (Ray spills to disk beyond it), small enough for a laptop or a CI runner
LOCAL_OBJECT_STORE_BYTES = 512 * 1024 * 1024
# files for people stored beside a model (the training report), made in the task that fits it
ExtraFiles = Callable[[str, TrainedModel], dict[str, bytes]]


class Status(StrEnum):
    TRAINED = "trained"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Entity:
    """One entity's rows, or why they cannot be used."""

    entity: str
    data: Dataset | None
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Job:
    """What the plan decided for one entity: fit it, or report it skipped or failed."""

    entity: str
    name: str
    options: TrainingOptions
    data: Dataset | None  # the rows to fit; None when the outcome is decided already
    outcome: Outcome | None  # decided without a fit (skipped, or failed before it); else None


@dataclass(frozen=True, slots=True)
class Outcome:
    entity: str
    name: str
    status: Status
    detail: str  # what was stored, why it was skipped, or the error, in one line
    version: int | None = None  # the version stored, or the one that made the fit unneeded
    train_windows: int = 0  # windows fitted (0 unless trained)
    seconds: float = 0.0  # of the fit, in its task


def read_fleet(
    source: Path,
    *,
    entity_column: str | None = None,
    time_column: str | None = None,
    label_column: str | None = None,
    features: list[str] | None = None,
    exclude: list[str] | None = None,
) -> list[Entity]:
    """The entities of a long table (`entity_column` says whose each row is) or of a folder (one
    CSV or Parquet file per entity, named by its stem), sorted by entity; each entity's rows keep
    the order they have in the source. A fault of the whole source is InvalidInput; a fault of
    one entity's data is that entity's problem."""
    columns = {"time_column": time_column, "label_column": label_column, "exclude": exclude}
    if source.is_dir():
        if entity_column is not None:
            raise InvalidInput(
                f"{source} is a folder: its entities are its files' names, not an entity column"
            )
        return _read_folder(source, features=features, **columns)
    if entity_column is None:
        raise InvalidInput(
            f"{source}: a table needs --entity-column (or give a folder, one file per entity)"
        )
    frame = read_table(source)
    named = [c for c in (entity_column, time_column, label_column) if c]
    require_columns(frame, named + (features or []) + (exclude or []))
    owner = frame[entity_column]
    if owner.isna().any():
        row = int(owner.isna().to_numpy().argmax())
        raise InvalidInput(f"entity column {entity_column!r}, data row {row + 1}: empty")
    groups = frame.drop(columns=entity_column).groupby(owner.astype(str), sort=True)
    return [_entity(str(entity), rows, features=features, **columns) for entity, rows in groups]


def _read_folder(source: Path, **columns: Any) -> list[Entity]:
    files = sorted(
        p
        for p in source.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in TABLE_SUFFIXES
    )
    if not files:
        raise InvalidInput(f"{source}: no CSV or Parquet files (one per entity)")
    stems = [p.stem for p in files]
    twice = sorted({s for s in stems if stems.count(s) > 1})
    if twice:
        raise InvalidInput(f"{source}: more than one file for entity {', '.join(map(repr, twice))}")
    return [_entity(p.stem, p, **columns) for p in files]


def _entity(entity: str, rows: pd.DataFrame | Path, **columns: Any) -> Entity:
    """The entity's rows (a file is read here), or why they cannot be used."""
    try:
        frame = read_table(rows) if isinstance(rows, Path) else rows.reset_index(drop=True)
        return Entity(entity, select(frame, **columns))
    except InvalidInput as exc:
        return Entity(entity, None, exc.detail)


def read_overrides(path: Path) -> dict[str, dict[str, Any]]:
    """The override file: a JSON object of entity -> {option: value}, the options named as
    train's flags (`units`, `threshold-method` or `threshold_method`)."""
    try:
        overrides = json.loads(path.read_bytes())
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise InvalidInput(f"{path}: not JSON: {' '.join(str(exc).split())}") from None
    if not isinstance(overrides, dict) or not all(isinstance(v, dict) for v in overrides.values()):
        raise InvalidInput(f'{path}: expected {{"entity": {{"option": value}}}}')
    return overrides


def options_with(options: TrainingOptions, changes: Mapping[str, Any]) -> TrainingOptions:
    """`options` with `changes` named as train's flags (the network's fields at the top level,
    as --units is), checked by TrainingOptions."""
    top = {key.replace("-", "_"): value for key, value in changes.items()}
    network = {key: top.pop(key) for key in list(top) if key in NetworkConfig.model_fields}
    if network:
        top["network"] = {**options.network.model_dump(), **network}
    return options.changed(**top)


def plan(
    entities: list[Entity],
    options: TrainingOptions,
    store: ModelStore,
    *,
    prefix: str = "",
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    force: bool = False,
) -> list[Job]:
    """One job per entity; overrides naming no entity, or not valid options, are InvalidInput."""
    overrides = overrides or {}
    known = {e.entity for e in entities}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise InvalidInput(f"the override file names no such entity: {', '.join(unknown)}")
    jobs = []
    for e in entities:
        try:
            entity_options = options_with(options, overrides.get(e.entity, {}))
        except InvalidInput as exc:
            raise InvalidInput(f"override of entity {e.entity!r}: {exc.detail}") from None
        jobs.append(_job(e, prefix + e.entity, entity_options, store, force))
    return jobs


def _job(e: Entity, name: str, options: TrainingOptions, store: ModelStore, force: bool) -> Job:
    def decided(status: Status, detail: str, version: int | None = None) -> Job:
        return Job(e.entity, name, options, None, Outcome(e.entity, name, status, detail, version))

    try:
        check_name(name)
    except InvalidInput as exc:
        return decided(Status.FAILED, exc.detail)
    if e.data is None:
        return decided(Status.FAILED, e.problem or "no data")
    if not force:
        try:
            stored = store.open(name)
        except (ModelNotFound, ArtifactError):  # none yet, or a broken one: a new version
            stored = None
        if (
            stored is not None
            and stored.spec.training.data_sha256 == dataset_sha256(e.data)
            and stored.spec.options == options
        ):
            return decided(Status.SKIPPED, "same data and options", stored.version)
    return Job(e.entity, name, options, e.data, None)


@contextmanager
def ray_started(address: str | None = None, cpus: int | None = None) -> Iterator[None]:
    """Ray for the fleet's tasks: the cluster at `address`, or a local one with `cpus` CPUs (the
    machine's by default), quiet (no dashboard, no usage statistics, no worker logs). When Ray
    is already started in this process (a notebook, the tests), that one is used and left on."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        raise InvalidInput("fleet training needs Ray: pip install 'rarewatch[fleet]'") from None
    if ray.is_initialized():
        yield
        return
    quiet: dict[str, Any] = {
        "include_dashboard": False,
        "log_to_driver": False,
        "logging_level": logging.ERROR,
    }
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            # no `cpus`: Ray counts the machine's, within a container's CPU limit
            ray.init(num_cpus=cpus, object_store_memory=LOCAL_OBJECT_STORE_BYTES, **quiet)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = f"reach the Ray cluster at {address}" if address else "start a local Ray"
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InvalidInput(f"cannot {where}: {first_line}") from None
    try:
        yield
    finally:
        ray.shutdown()


def train_fleet(
    jobs: list[Job],
    store: ModelStore,
    *,
    extra_files: ExtraFiles | None = None,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[Outcome]:
    """Fit every job that needs it as a Ray task (in the Ray that `ray_started` gave) and store
    each model as it arrives; a failure is that entity's outcome, never the others'. Returns
    the outcomes in the jobs' order."""
    import ray

    fit = ray.remote(num_cpus=1, max_retries=0)(_fit)
    outcomes = {job.entity: job.outcome for job in jobs if job.outcome is not None}
    for outcome in outcomes.values():
        if on_outcome is not None:
            on_outcome(outcome)
    pending = {
        fit.remote(job.data, job.options, job.name, extra_files): job
        for job in jobs
        if job.data is not None
    }
    while pending:
        [ready], _ = ray.wait(list(pending), num_returns=1)
        job = pending.pop(ready)
        try:
            fitted = ray.get(ready)
        except ray.exceptions.RayError as exc:  # the task's process died (out of memory, say)
            fitted = f"the task failed: {_first_line(exc)}"
        outcome = _store(job, fitted, store)
        outcomes[job.entity] = outcome
        if on_outcome is not None:
            on_outcome(outcome)
    return [outcomes[job.entity] for job in jobs]


@dataclass(frozen=True, slots=True)
class _Fitted:
    trained: TrainedModel
    extra_files: dict[str, bytes]
    seconds: float


def _fit(
    data: Dataset, options: TrainingOptions, name: str, extra_files: ExtraFiles | None
) -> _Fitted | str:
    """A Ray task: the fitted model and its extra files, or the error in one line."""
    try:
        _prepare_worker()
        started = time.monotonic()
        trained = train_detector(data, options)
        extras = extra_files(name, trained) if extra_files is not None else {}
        return _Fitted(trained, extras, time.monotonic() - started)
    except RarewatchError as exc:
        return exc.detail
    except Exception as exc:  # any fault of one fit is that entity's, reported, never raised
        return f"{type(exc).__name__}: {_first_line(exc)}"


def _prepare_worker() -> None:
    """One TensorFlow thread per task: Ray gives each task one CPU, and threads beyond it only
    contend. Set before TensorFlow's first use in the worker process; a reused worker instead
    clears what its last fit left in Keras (its memory, and the layer names' counters, so each
    model's layers are named as `train` names them)."""
    if "tensorflow" in sys.modules:
        import keras

        keras.backend.clear_session()
        return
    from models.tensorflow_import import import_tensorflow

    tf = import_tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)


def _store(job: Job, fitted: _Fitted | str, store: ModelStore) -> Outcome:
    if isinstance(fitted, str):
        return Outcome(job.entity, job.name, Status.FAILED, fitted)
    try:
        version, _ = store_trained(store, job.name, fitted.trained, fitted.extra_files)
    except (OSError, RarewatchError) as exc:
        return Outcome(job.entity, job.name, Status.FAILED, f"cannot store: {_first_line(exc)}")
    windows = fitted.trained.spec.training.train_windows
    return Outcome(
        job.entity,
        job.name,
        Status.TRAINED,
        f"{plural(windows, 'window')}, threshold {fitted.trained.spec.threshold.value:.4g}",
        version,
        windows,
        fitted.seconds,
    )


def _first_line(exc: BaseException) -> str:
    text = exc.detail if isinstance(exc, RarewatchError) else str(exc)
    return (text.strip().splitlines() or [type(exc).__name__])[0]
