"""Fit a detector on normal windows: split, scale, temporalize, fit, threshold, describe."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import numpy as np

from models.artifact import ModelStore
from models.data import Dataset, dataset_sha256, label_before_events, time_span
from models.data_quality import median_step_seconds, time_seconds
from models.ensemble import member_medians, member_squares, network_squares
from models.errors import InvalidInput
from models.hygiene import check_training_rows, split_sizes
from models.input_contract import fill_missing
from models.pca_member import PcaBasis, fit_pca, member_of, scored_squares
from models.scaling import Scaler
from models.scoring import (
    ErrorStandard,
    ErrorStandardisation,
    ErrorWeighting,
    error_standard_of,
    error_weights_of,
    errors_from_squares,
    scored_steps,
    smoothed,
)
from models.spec import (
    DetectorSpec,
    ErrorStandardSpec,
    PcaMemberSpec,
    ScalerSpec,
    ThresholdSpec,
    TrainingOptions,
    TrainingSummary,
)
from models.thresholds import (
    ThresholdMethod,
    error_quantiles,
    max_f1_threshold,
    pot_threshold,
    quantile_threshold,
)
from models.windows import WindowTransform, temporalize, transform_windows
from models.wording import plural

# epoch, epochs, train loss, validation loss, seconds per epoch so far
EpochProgress = Callable[[int, int, float, float, float], None]


@dataclass(frozen=True, slots=True)
class TrainingCurves:
    """What the training report draws: the losses per epoch and the normal validation errors."""

    losses: list[float]
    validation_losses: list[float]
    normal_errors: np.ndarray  # (n_normal_validation_windows,) scores of normal windows


@dataclass(frozen=True, slots=True)
class TrainedModel:
    """A fitted detector in memory: Detector.from_trained serves it, store_trained stores it."""

    spec: DetectorSpec
    weights: list[np.ndarray]
    onnx: bytes | None  # the network as an ONNX graph, checked against Keras; None without tf2onnx
    curves: TrainingCurves


def store_trained(
    store: ModelStore,
    name: str,
    trained: TrainedModel,
    extra_files: dict[str, bytes] | None = None,
) -> tuple[int, Path]:
    """Write `trained` as the next version of `name`; returns (version, path)."""
    return store.write(name, trained.spec, trained.weights, trained.onnx, extra_files)


@dataclass(frozen=True, slots=True)
class _Split:
    """Chronological split: the first rows train, the last `validation_fraction` validate."""

    train_windows: np.ndarray  # (n, lookback, n_features) scaled, every row normal
    validation_windows: np.ndarray  # (m, lookback, n_features) scaled, all of them
    validation_normal: np.ndarray  # (m,) bool: every row of the window is normal
    validation_labels: np.ndarray  # (m,) the label of each window's last row
    left_out: int = 0  # windows of either part left out for a value still missing


def split_windows(
    data: Dataset,
    scaler_fit_rows: int,
    lookback: int,
    scaler: Scaler,
    transform: WindowTransform = WindowTransform.NONE,
) -> _Split:
    """Windows holding a missing value (NaN in data.values, a gap the fill left) are left out
    of both parts."""
    labels = data.labels if data.labels is not None else np.zeros(data.n_rows, np.int8)
    missing_rows = np.isnan(data.values).any(axis=1)
    scaled = scaler.transform(np.where(missing_rows[:, None], 0.0, data.values))
    parts, left_out = [], 0
    for rows in (slice(0, scaler_fit_rows), slice(scaler_fit_rows, data.n_rows)):
        windows = transform_windows(temporalize(scaled[rows], lookback), transform)
        window_labels = temporalize(labels[rows, None], lookback)[:, :, 0]  # (n, lookback)
        all_normal = np.logical_not(window_labels.any(axis=1))
        complete = ~temporalize(missing_rows[rows, None], lookback)[:, :, 0].any(axis=1)
        left_out += int(np.count_nonzero(~complete))
        parts.append((windows[complete], all_normal[complete], window_labels[complete, -1]))
    (train, train_normal, _), (valid, valid_normal, valid_last) = parts
    return _Split(
        np.ascontiguousarray(train[train_normal]), valid, valid_normal, valid_last, left_out
    )


def train_detector(
    data: Dataset, options: TrainingOptions, progress: EpochProgress | None = None
) -> TrainedModel:
    """The fitted detector, in memory. Same data, options and seed give the same model on CPU.
    Data too small for the split is refused before TensorFlow is imported."""
    started = time.monotonic()
    check_training_rows(data, options)
    data_sha256 = dataset_sha256(data)  # of the data as given, before `shift` marks more rows
    n_train_rows, _ = split_sizes(data.n_rows, options.validation_fraction)
    labels = data.labels if data.labels is not None else np.zeros(data.n_rows, np.int8)
    if options.shift and data.labels is not None:
        labels = label_before_events(labels, options.shift)
        data = dataclasses.replace(data, labels=labels)
    filled, fill_report = fill_missing(data.values, options.fill_policy)
    if fill_report is not None:
        data = dataclasses.replace(data, values=filled)
        _require_some_value(data)
    complete_rows = ~np.isnan(data.values).any(axis=1)
    fit_rows = (labels[:n_train_rows] == 0) & complete_rows[:n_train_rows]
    normal_train_rows = data.values[:n_train_rows][fit_rows]
    if len(normal_train_rows) == 0:
        raise InvalidInput("no complete normal row in the training part to fit the scaling on")
    scaler = Scaler.fit(normal_train_rows, options.scaling, options.relative_scale_floor)
    split = split_windows(data, n_train_rows, options.lookback, scaler, options.window_transform)
    if len(split.train_windows) == 0 or not split.validation_normal.any():
        # check_training_rows saw enough rows; what is missing now went with the gaps
        raise InvalidInput(
            "no complete all-normal window is left in the training or the validation part once "
            f"the {plural(split.left_out, 'window')} still holding a missing value are left out; "
            "fill longer gaps (--max-gap) or give more rows"
        )

    validation_normal = np.ascontiguousarray(split.validation_windows[split.validation_normal])
    fitted = fit_network(split.train_windows, validation_normal, options, progress)
    # fitted on the windows the network was fitted on, as it saw them (scaled, transformed)
    pca = fit_pca(split.train_windows) if options.pca_member else None
    start, end = time_span(data)
    spec, normal_errors = fitted_spec(
        fitted,
        data.features,
        scaler,
        split.validation_windows,
        split.validation_normal,
        split.validation_labels,
        options,
        pca,
        rows=data.n_rows,
        normal_rows=int((labels == 0).sum()),
        train_windows=len(split.train_windows),
        time_column=data.time_column,
        label_column=data.label_column,
        time_start=start,
        time_end=end,
        feature_min=np.nanmin(data.values, axis=0).tolist(),
        feature_max=np.nanmax(data.values, axis=0).tolist(),
        seconds=round(time.monotonic() - started, 3),
        shift=options.shift,
        time_step_seconds=None
        if data.times is None
        else median_step_seconds(time_seconds(data.times)),
        filled_cells=0 if fill_report is None else int(fill_report.filled.sum()),
        windows_left_out=split.left_out,
        data_sha256=data_sha256,
    )
    network = fitted.network
    curves = TrainingCurves(list(fitted.losses), list(fitted.validation_losses), normal_errors)
    onnx = _onnx_or_none(network, split.validation_windows)
    return TrainedModel(spec, network.get_weights(), onnx, curves)


def fitted_spec(
    fitted: FittedNetwork,
    features: list[str],
    scaler: Scaler,
    windows: np.ndarray,
    normal: np.ndarray,
    labels: np.ndarray,
    options: TrainingOptions,
    pca: PcaBasis | None = None,
    **data_summary: Any,
) -> tuple[DetectorSpec, np.ndarray]:
    """The spec of a fitted network, and the scores of its normal validation windows: the score
    options fitted on the validation windows, the threshold chosen on them, the training
    summary (`data_summary`: its fields about the data; the fit's are filled here). With
    options.pca_member, `pca` is the basis fitted on the training windows (fit_pca): its
    medians are taken here, and every score option is fitted on both members' squares.

    windows  # (n_windows, lookback, n_features) validation windows, scaled, in time order
    normal  # (n_windows,) bool, the window touches no labelled row
    labels  # (n_windows,) the label of each window's last row
    """
    from models.engines import TensorFlowEngine
    from models.network import layer_table

    network, losses, val_losses = fitted.network, fitted.losses, fitted.validation_losses
    best = int(np.argmin(val_losses))
    if options.pca_member and pca is None:
        raise ValueError("options.pca_member needs the PCA fitted on the training windows")
    engine = TensorFlowEngine(network, options.lookback, len(features))
    reconstructed = engine.reconstruct(windows)
    score_on = options.score_on
    n_steps = scored_steps(options.lookback, score_on)
    medians = None
    if options.network.members > 1:
        normal_squares = member_squares(windows[normal], reconstructed[normal], score_on)
        medians = member_medians(normal_squares, options.lookback, score_on)
    member = None
    if pca is not None:
        normal_squares = network_squares(windows[normal], reconstructed[normal], score_on, medians)
        member = member_of(pca, normal_squares, windows[normal], score_on)
    squares = scored_squares(windows, reconstructed, score_on, member, medians)
    weights = error_weights(squares[normal], n_steps, options)
    standard = error_standard(squares[normal], n_steps, options)
    # the validation windows in time order, smoothed as Detector.detect smooths a request's
    errors = smoothed(
        errors_from_squares(squares, n_steps, weights, standard), options.smoothing
    ).scores
    normal_errors = errors[normal]
    threshold = choose_threshold(errors, normal, labels, options)
    spec = DetectorSpec(
        features=features,
        lookback=options.lookback,
        network=options.network,
        score_on=options.score_on,
        window_transform=options.window_transform,
        error_weights=None if weights is None else weights.tolist(),
        member_medians=None if medians is None else medians.tolist(),
        alarm_after=options.alarm_after,
        alarm_hold=options.alarm_hold,
        error_standard=None if standard is None else ErrorStandardSpec.of(standard),
        smoothing=options.smoothing,
        pca_member=None if member is None else PcaMemberSpec.of(member),
        layers=layer_table(network),
        scaler=ScalerSpec(**scaler.to_json(), method=options.scaling),
        threshold=threshold,
        validation_error_quantiles=error_quantiles(normal_errors),
        training=TrainingSummary(
            **data_summary,
            validation_windows=len(windows),
            validation_normal_windows=int(normal.sum()),
            epochs=options.epochs,
            epochs_run=len(losses),
            best_epoch=best + 1,
            train_loss=float(losses[best]),
            validation_loss=float(val_losses[best]),
            batch_size=options.batch_size,
            learning_rate=options.learning_rate,
            validation_fraction=options.validation_fraction,
            seed=options.seed,
        ),
        options=options,
        library_versions=library_versions(),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    return spec, normal_errors


def _require_some_value(data: Dataset) -> None:
    empty = np.isnan(data.values).all(axis=0)
    if empty.any():
        feature = data.features[int(np.argmax(empty))]
        raise InvalidInput(f"column {feature!r} has no value at all; exclude it")


def _onnx_or_none(network: object, check_windows: np.ndarray) -> bytes | None:
    """The ONNX export when the exporter is installed (the `train` extra brings it)."""
    if find_spec("tf2onnx") is None or find_spec("onnxruntime") is None:
        return None
    from models.onnx_export import export_onnx

    return export_onnx(network, check_windows[:256])


@dataclass(frozen=True, slots=True)
class FittedNetwork:
    network: Any  # keras.Model (rolled), its best-validation-loss weights restored
    losses: list[float]  # training loss per epoch run
    validation_losses: list[float]


def fit_network(
    train_windows: np.ndarray,
    validation_windows: np.ndarray,
    options: TrainingOptions,
    progress: EpochProgress | None = None,
) -> FittedNetwork:
    """Build the network of `options` and fit it to reconstruct `train_windows`, stopping early
    on the loss over `validation_windows`; both are scaled, all-normal windows. The fit runs
    unrolled for short lookbacks (faster epochs); the network returned is the rolled one.

    train_windows, validation_windows  # (n, lookback, n_features)
    """
    from models.tensorflow_import import import_tensorflow

    tf = import_tensorflow()
    import keras

    from models.network import rolled, training_network

    keras.utils.set_random_seed(options.seed)
    tf.config.experimental.enable_op_determinism()
    lookback, n_features = train_windows.shape[1], train_windows.shape[2]
    network = training_network(options.network, lookback, n_features)
    network.compile(optimizer=keras.optimizers.Adam(options.learning_rate), loss="mse")
    history = network.fit(
        train_windows,
        _targets(train_windows, options.network.members),
        validation_data=(validation_windows, _targets(validation_windows, options.network.members)),
        epochs=options.epochs,
        batch_size=options.batch_size,
        shuffle=True,
        verbose=0,
        callbacks=[
            keras.callbacks.EarlyStopping(
                monitor="val_loss", patience=options.patience, restore_best_weights=True
            ),
            _ProgressCallback(options.epochs, progress),
        ],
    )
    served = rolled(network, options.network)
    return FittedNetwork(served, history.history["loss"], history.history["val_loss"])


def _targets(windows: np.ndarray, members: int) -> np.ndarray:
    """What the network should output for `windows`: each member reconstructs the same window
    (models/ensemble.py: side by side along the feature axis); one autoencoder, the windows."""
    return windows if members == 1 else np.tile(windows, (1, 1, members))


def error_weights(
    normal_squares: np.ndarray, n_steps: int, options: TrainingOptions
) -> np.ndarray | None:
    """The per-feature weights of `options.error_weighting`, from normal validation windows'
    squared errors (n_windows, n_features) over `n_steps` scored timesteps."""
    if options.error_weighting is ErrorWeighting.NONE:
        return None
    return error_weights_of(normal_squares, n_steps)


def error_standard(
    normal_squares: np.ndarray, n_steps: int, options: TrainingOptions
) -> ErrorStandard | None:
    """The per-feature error levels of `options.error_standardisation`, from normal validation
    windows' squared errors (n_windows, n_features) over `n_steps` scored timesteps."""
    if options.error_standardisation is ErrorStandardisation.NONE:
        return None
    return error_standard_of(normal_squares, n_steps, options.error_standardisation)


def choose_threshold(
    errors: np.ndarray, normal: np.ndarray, labels: np.ndarray, options: TrainingOptions
) -> ThresholdSpec:
    """The threshold of `options.threshold_method`, from validation data only, times
    `options.threshold_margin`.

    errors  # (n_windows,) validation scores
    normal  # (n_windows,) bool, the window touches no labelled row
    labels  # (n_windows,) the label of each window's last row (used by max-f1 only)
    """
    method, quantile = options.threshold_method, options.threshold_quantile
    if method is ThresholdMethod.MAX_F1:
        value, quantile_used = max_f1_threshold(errors, labels), None
    elif method is ThresholdMethod.POT:
        value, quantile_used = pot_threshold(errors[normal], quantile), quantile
    else:
        value, quantile_used = quantile_threshold(errors[normal], quantile), quantile
    return ThresholdSpec(
        value=value * options.threshold_margin,
        method=method,
        quantile=quantile_used,
        margin=options.threshold_margin,
    )


def library_versions() -> dict[str, str]:
    versions = {}
    for package in ("rarewatch", "tensorflow-cpu", "keras", "numpy", "onnxruntime", "tf2onnx"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            continue
    return versions


def _ProgressCallback(epochs: int, progress: EpochProgress | None) -> Any:  # noqa: N802 - a factory
    import keras

    class ProgressCallback(keras.callbacks.Callback):  # type: ignore[misc]  # keras is untyped
        def on_train_begin(self, logs=None):  # type: ignore[no-untyped-def]
            self._started = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):  # type: ignore[no-untyped-def]
            if progress is not None and logs:
                per_epoch = (time.monotonic() - self._started) / (epoch + 1)
                progress(epoch + 1, epochs, float(logs["loss"]), float(logs["val_loss"]), per_epoch)

    return ProgressCallback()
