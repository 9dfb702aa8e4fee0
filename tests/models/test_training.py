import json
from pathlib import Path

import numpy as np
import pytest

from models.artifact import ModelStore
from models.data import select
from models.detector import Detector
from models.errors import InvalidInput
from models.loading import load_detector
from models.scaling import Scaler
from models.spec import DetectorSpec, NetworkConfig, TrainingOptions
from models.thresholds import ThresholdMethod
from models.training import fit_network, split_windows, store_trained, train_detector
from tests.conftest import TINY_FEATURES, TINY_OPTIONS, tiny_frame, with_fault

QUICK = TINY_OPTIONS.changed(epochs=2)


def test_the_same_seed_gives_the_same_model() -> None:
    data = select(tiny_frame(300), time_column="time")
    first = train_detector(data, QUICK)
    second = train_detector(data, QUICK)
    for a, b in zip(first.weights, second.weights, strict=True):
        np.testing.assert_array_equal(a, b)
    assert first.spec.threshold == second.spec.threshold


def test_windows_touching_a_labelled_row_are_left_out_of_training() -> None:
    frame = with_fault(tiny_frame(200), start=50, length=3)
    data = select(frame, time_column="time", label_column="y")
    split = split_windows(data, 150, lookback=4, scaler=Scaler.fit(data.values))
    # 147 windows in the first 150 rows; rows 50-52 touch windows ending at rows 50..55
    assert len(split.train_windows) == 147 - 6


def test_the_validation_part_is_the_last_rows_and_keeps_anomalous_windows_apart() -> None:
    frame = with_fault(tiny_frame(200), start=180, length=2)
    data = select(frame, time_column="time", label_column="y")
    split = split_windows(data, 150, lookback=4, scaler=Scaler.fit(data.values))
    assert len(split.validation_windows) == 50 - 3
    assert (~split.validation_normal).sum() == 5  # windows ending at rows 180..184
    assert split.validation_labels.sum() == 2  # labelled by their last row


def test_the_scaler_is_fitted_on_normal_training_rows_only() -> None:
    frame = with_fault(tiny_frame(300), start=20, length=5, size=1000.0)
    data = select(frame, time_column="time", label_column="y")
    trained = train_detector(data, QUICK)
    normal_rows = data.values[: 300 - 75][data.labels[: 300 - 75] == 0]
    np.testing.assert_allclose(trained.spec.scaler.mean, normal_rows.mean(axis=0))


def test_the_spec_records_the_training_data_and_threshold(tiny_model) -> None:
    _, spec, _ = tiny_model.store.read("tiny")
    assert spec.training.rows == 600
    assert spec.training.time_start == "2026-01-01T00:00:00+00:00"
    assert spec.threshold.method is ThresholdMethod.QUANTILE
    assert spec.threshold.quantile == 0.99
    assert spec.threshold.value == pytest.approx(
        spec.threshold.margin * spec.validation_error_quantiles["0.99"]
    )
    assert spec.training.best_epoch <= spec.training.epochs_run <= spec.training.epochs
    assert sum(row.params for row in spec.layers) > 0


def test_max_f1_training_puts_the_threshold_between_normal_and_faulty_validation_errors() -> None:
    frame = with_fault(with_fault(tiny_frame(400), 330, size=6.0), 370, size=6.0)
    data = select(frame, time_column="time", label_column="y")
    options = TINY_OPTIONS.changed(epochs=8, threshold_method=ThresholdMethod.MAX_F1)
    spec = train_detector(data, options).spec
    assert spec.threshold.method is ThresholdMethod.MAX_F1
    assert spec.threshold.value > spec.validation_error_quantiles["0.5"]


def test_too_few_rows_for_the_split_are_refused_with_the_counts() -> None:
    data = select(tiny_frame(10), time_column="time")
    with pytest.raises(InvalidInput, match="fewer than the lookback"):
        train_detector(data, QUICK.changed(lookback=6))


@pytest.mark.parametrize(
    ("field", "value"), [("validation_fraction", 0.0), ("threshold_quantile", 1.0), ("epochs", 0)]
)
def test_impossible_options_are_refused(field: str, value: float) -> None:
    data = select(tiny_frame(100), time_column="time")
    with pytest.raises(InvalidInput):
        train_detector(data, QUICK.changed(**{field: value}))


def test_fit_network_hands_back_the_rolled_network_that_is_exported_and_stored() -> None:
    windows = np.random.default_rng(0).normal(size=(64, TINY_OPTIONS.lookback, 3))
    windows = windows.astype("float32")
    seen: list[bool] = []
    fitted = fit_network(windows[:48], windows[48:], QUICK, lambda *_: seen.append(True))
    assert seen == [True, True]  # both epochs ran
    assert [layer.unroll for layer in fitted.network.layers if hasattr(layer, "unroll")] == [
        False
    ] * (2 * len(TINY_OPTIONS.network.units))


def test_a_trained_model_detects_in_memory_as_it_does_once_stored(tmp_path: Path) -> None:
    data = select(tiny_frame(300), time_column="time", label_column="y")
    trained = train_detector(data, QUICK)
    store = ModelStore(tmp_path)
    version, _ = store_trained(store, "fresh", trained)
    in_memory = Detector.from_trained(trained, "fresh")
    loaded = load_detector(store, "fresh", version)
    assert type(in_memory.engine) is type(loaded.engine)
    assert (in_memory.row_scorer is None) == (loaded.row_scorer is None)
    values = tiny_frame(120, seed=3)[TINY_FEATURES].to_numpy()
    np.testing.assert_array_equal(in_memory.detect(values).scores, loaded.detect(values).scores)
    assert in_memory.spec == loaded.spec


def test_detector_json_stores_the_training_options_as_they_were_given(tiny_model) -> None:
    raw = json.loads((tiny_model.store.root / "tiny" / "1" / "detector.json").read_text())
    assert raw["format_version"] == 2
    assert TrainingOptions.model_validate(raw["options"]) == TINY_OPTIONS


def test_a_version_1_detector_json_without_options_still_loads(
    tiny_model,
    tmp_path: Path,
) -> None:
    stored = tiny_model.store.open("tiny")
    old = stored.spec.model_dump(mode="json", exclude={"options"}) | {"format_version": 1}
    store = ModelStore(tmp_path)
    store.write("old", DetectorSpec.model_validate(old), stored.weights(), stored.onnx())
    loaded = load_detector(store, "old")
    assert loaded.spec.format_version == 1
    assert loaded.spec.options is None
    values = tiny_model.frame[TINY_FEATURES].to_numpy()
    np.testing.assert_array_equal(
        loaded.detect(values).scores, load_detector(tiny_model.store, "tiny").detect(values).scores
    )


@pytest.mark.parametrize(
    ("spec_changes", "problem"),
    [({"format_version": 1}, "version 1 none"), ({"options": None}, "version 2 has")],
)
def test_the_format_version_says_whether_the_options_are_there(
    tiny_model,
    spec_changes: dict[str, object],
    problem: str,
) -> None:
    spec = tiny_model.store.open("tiny").spec.model_dump(mode="json") | spec_changes
    with pytest.raises(ValueError, match=problem):
        DetectorSpec.model_validate(spec)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"epochs": "0"}, "epochs: Input should be greater than or equal to 1"),
        (
            {"network": {"units": "8,x"}},
            "network.units: expected layer sizes like 32,16, got '8,x'",
        ),
        ({"scaling": "minmax"}, "scaling: Input should be 'standard' or 'robust'"),
        ({"epoch": 3}, "epoch: Extra inputs are not permitted"),
    ],
)
def test_bad_options_are_one_line_invalid_input_naming_the_field(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        TrainingOptions.of(values)
    assert refused.value.detail == message


def test_options_read_from_text_equal_the_typed_ones() -> None:
    text = {"lookback": "4", "threshold_method": "pot", "network": {"units": "8,4"}}
    assert TrainingOptions.of(text) == TrainingOptions(
        lookback=4, threshold_method=ThresholdMethod.POT, network=NetworkConfig(units=(8, 4))
    )
