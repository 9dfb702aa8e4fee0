"""detector.json: everything about a model except its weights, validated at the file boundary."""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from models.scaling import Scaling
from models.scoring import ScoreOn
from models.thresholds import ThresholdMethod
from models.windows import WindowTransform

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class Architecture(StrEnum):
    AUTOENCODER = "autoencoder"  # encoder -> RepeatVector bottleneck -> mirrored decoder
    SEQUENCE = "sequence"  # the seed's "regular LSTM": every layer returns sequences


class Activation(StrEnum):
    RELU = "relu"
    TANH = "tanh"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NetworkConfig(_Strict):
    architecture: Architecture = Architecture.AUTOENCODER
    units: tuple[int, ...] = (32, 16)
    activation: Activation = Activation.TANH
    dropout: float = Field(default=0.0, ge=0.0, lt=1.0)

    @field_validator("units")
    @classmethod
    def _positive_units(cls, units: tuple[int, ...]) -> tuple[int, ...]:
        if not units or any(u < 1 or u > 4096 for u in units):
            raise ValueError("units must be one or more layer sizes between 1 and 4096")
        return units


class ScalerSpec(_Strict):
    mean: list[FiniteFloat]  # each feature's centre: the mean, or the median when robust
    scale: list[FiniteFloat]
    method: Scaling = Scaling.STANDARD  # absent from files written before robust scaling

    @field_validator("scale")
    @classmethod
    def _positive_scale(cls, scale: list[float]) -> list[float]:
        if any(s <= 0 for s in scale):
            raise ValueError("every scale must be > 0")
        return scale


class ThresholdSpec(_Strict):
    value: FiniteFloat  # margin x the threshold of `method`
    method: ThresholdMethod
    quantile: float | None = None
    margin: float = Field(default=1.0, gt=0.0)


class LayerRow(_Strict):
    name: str
    type: str
    output_shape: list[int | None]
    params: int


class TrainingSummary(_Strict):
    rows: int
    normal_rows: int
    train_windows: int
    validation_windows: int
    validation_normal_windows: int
    time_column: str | None
    label_column: str | None
    time_start: str | None
    time_end: str | None
    feature_min: list[FiniteFloat]
    feature_max: list[FiniteFloat]
    epochs: int
    epochs_run: int
    best_epoch: int
    train_loss: FiniteFloat
    validation_loss: FiniteFloat
    batch_size: int
    learning_rate: float
    validation_fraction: float
    seed: int
    seconds: float
    shift: int = 0  # rows before each labelled event that were counted as anomalous too


class DetectorSpec(_Strict):
    format_version: Literal[1] = 1
    features: list[str]
    lookback: int = Field(ge=1)
    network: NetworkConfig
    # absent from files written before they existed: whole windows, plain MSE, no transform
    score_on: ScoreOn = ScoreOn.WINDOW
    window_transform: WindowTransform = WindowTransform.NONE
    error_weights: list[FiniteFloat] | None = None  # (n_features,) > 0, see ErrorWeighting
    # a row is anomalous once this many windows in a row, the last ending on it, exceed the
    # threshold (1: every window above the threshold); see models.thresholds.sustained
    alarm_after: int = Field(default=1, ge=1)
    layers: list[LayerRow]
    scaler: ScalerSpec
    threshold: ThresholdSpec
    validation_error_quantiles: dict[str, FiniteFloat]
    training: TrainingSummary
    library_versions: dict[str, str]
    created: str

    @model_validator(mode="after")
    def _shapes_agree(self) -> DetectorSpec:
        n_features = len(self.features)
        if n_features == 0 or len(set(self.features)) != n_features:
            raise ValueError("features must be a non-empty list of distinct names")
        if len(self.scaler.mean) != n_features or len(self.scaler.scale) != n_features:
            raise ValueError("scaler length differs from the number of features")
        if self.error_weights is not None and (
            len(self.error_weights) != n_features or any(w <= 0 for w in self.error_weights)
        ):
            raise ValueError("error_weights needs one weight > 0 per feature")
        if "0.5" not in self.validation_error_quantiles:
            raise ValueError("validation_error_quantiles lacks the median ('0.5')")
        if not math.isfinite(self.threshold.value):
            raise ValueError("threshold must be finite")
        return self

    @property
    def n_features(self) -> int:
        return len(self.features)
