"""detector.json: everything about a model except its weights, validated at the file boundary."""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from models.errors import InvalidInput
from models.input_contract import FILL_CHOICES, FillPolicy
from models.pca_member import VARIANCE_KEPT, PcaBasis, PcaMember
from models.scaling import Scaling
from models.scoring import (
    MAX_STANDARDISED_ERROR,
    ErrorStandard,
    ErrorStandardisation,
    ErrorWeighting,
    ScoreOn,
)
from models.thresholds import ThresholdMethod
from models.windows import WindowTransform

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
PositiveFiniteFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
# Bounds on what detector.json may say, so that a damaged or hostile file is refused when it is
# read instead of failing later: counts stay exact in a double and in any JSON reader, a seed in
# 64 bits, and a window or an alarm rule never asks for more than memory holds.
MAX_COUNT = 2**53 - 1
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
Seed = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
MAX_LOOKBACK = 100_000  # RAREWATCH_MAX_ROWS' default: more rows than a request has by default
MAX_ALARM_AFTER = 100_000
MAX_MEMBERS = 8


class Architecture(StrEnum):
    AUTOENCODER = "autoencoder"  # encoder -> RepeatVector bottleneck -> mirrored decoder
    SEQUENCE = "sequence"  # the seed's "regular LSTM": every layer returns sequences


class Activation(StrEnum):
    RELU = "relu"
    TANH = "tanh"


class _Strict(BaseModel):
    # no NaN or infinity anywhere: every number of a model is finite (JSON has no others)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def validation_problem(exc: ValidationError) -> tuple[str, str]:
    """Where the first error of `exc` is ("top level" when nowhere inside) and what it is, in
    plain words on one line."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "top level"
    message = str(error["msg"]).removeprefix("Value error, ")
    return " ".join(where.split()), " ".join(message.split())


class NetworkConfig(_Strict):
    architecture: Architecture = Field(
        default=Architecture.AUTOENCODER,
        description="autoencoder: encoder, RepeatVector bottleneck, mirrored decoder; sequence: "
        "every layer returns sequences",
    )
    units: tuple[int, ...] = Field(default=(32, 16), description="encoder sizes, e.g. 32,16")
    activation: Activation = Field(default=Activation.TANH, description="of the LSTM layers")
    dropout: float = Field(
        default=0.0, ge=0.0, lt=1.0, description="dropout of the LSTM layers' inputs"
    )
    members: int = Field(
        default=1,
        ge=1,
        le=MAX_MEMBERS,
        description="autoencoders side by side in one network, each from its own initial "
        "weights; a window's errors are each member's divided by its median on normal "
        "validation windows, averaged (1: one autoencoder)",
    )

    @field_validator("units", mode="before")
    @classmethod
    def _units_from_text(cls, units: object) -> object:
        """`32,16` as the command line and the bench's --set write it."""
        if not isinstance(units, str):
            return units
        try:
            return tuple(int(u) for u in units.split(",") if u.strip())
        except ValueError:
            raise ValueError(f"expected layer sizes like 32,16, got {units!r}") from None

    @field_validator("units")
    @classmethod
    def _positive_units(cls, units: tuple[int, ...]) -> tuple[int, ...]:
        if not units or any(u < 1 or u > 4096 for u in units):
            raise ValueError("units must be one or more layer sizes between 1 and 4096")
        return units


class TrainingOptions(_Strict):
    """Every choice `rarewatch train` offers: the one source of its defaults, choices and help
    (the CLI's flags, the bench's --set and detector.json's `options` all read this model)."""

    lookback: int = Field(default=5, ge=1, description="rows per window")
    epochs: int = Field(
        default=50, ge=1, description="at most this many; early stopping may end sooner"
    )
    batch_size: int = Field(default=64, ge=1, description="windows per training step")
    validation_fraction: float = Field(
        default=0.2, gt=0.0, lt=1.0, description="the last rows kept for validation and threshold"
    )
    threshold_method: ThresholdMethod = Field(
        default=ThresholdMethod.QUANTILE,
        description="quantile of normal validation scores, pot (an extreme-value tail fitted "
        "to them) or max-f1 (needs labels)",
    )
    threshold_quantile: float = Field(
        default=0.99, gt=0.0, lt=1.0, description="the quantile of quantile and pot"
    )
    seed: int = Field(default=0, description="the same data, options and seed give the same model")
    learning_rate: float = Field(default=1e-3, gt=0.0, description="Adam's learning rate")
    patience: int = Field(
        default=5, ge=1, description="epochs without a better validation loss before stopping"
    )
    network: NetworkConfig = NetworkConfig()
    score_on: ScoreOn = Field(
        default=ScoreOn.WINDOW,
        description="the error of every row of a window, or of its last row only (the article's)",
    )
    window_transform: WindowTransform = Field(
        default=WindowTransform.NONE,
        description="center: each window minus its mean; difference: each row minus the one before",
    )
    error_weighting: ErrorWeighting = Field(
        default=ErrorWeighting.NONE,
        description="normal_spread: each feature's error divided by its mean on normal "
        "validation windows",
    )
    scaling: Scaling = Field(
        default=Scaling.STANDARD,
        description="standard (mean, standard deviation) or robust (median, interquartile range)",
    )
    # A sensor that barely moves in training (a thermocouple over a short recording, a set
    # point) gets a tiny spread, and any later drift of it then counts in hundreds of those
    # spreads. 0.01 (fixed before its runs: 1 % of the reading, a usual sensor accuracy) with
    # alarm_hold 9 is the default that bench.quality.seeds chose over three seeds and the four
    # visible protocols (docs/benchmarks.md).
    relative_scale_floor: float = Field(
        default=0.01,
        ge=0.0,
        lt=1.0,
        description="each feature's scale is at least this share of its training level "
        "(|mean| or |median|), so a feature (nearly) constant in training counts a movement "
        "relative to its level, not in units of its tiny spread (0: off; a feature constant "
        "at 0 is centred, not divided)",
    )
    shift: int = Field(
        default=0,
        ge=0,
        description="with labels: the rows before each event count as anomalous too (left out "
        "of the normal windows)",
    )
    # SKAB's published autoencoders put their limit at 3/2 of a quantile; measured in
    # docs/benchmarks.md, it lowered false alarms on every data set without costing F1 (a
    # threshold, so rankings and ROC AUC are unchanged)
    threshold_margin: float = Field(
        default=1.5,
        gt=0.0,
        description="store the threshold times this (1.5, as SKAB's published autoencoders; "
        "1: the method's own threshold)",
    )
    alarm_after: int = Field(
        default=1,
        ge=1,
        description="a row is anomalous once this many windows in a row, the last ending on it, "
        "exceed the threshold",
    )
    # 9 (the bench's "hold 10", fixed before its runs): one failure comes as a burst of
    # windows over the threshold with short gaps between; held, it is one event
    alarm_hold: int = Field(
        default=9,
        ge=0,
        le=MAX_ALARM_AFTER,
        description="an alarm stays raised this many windows after the rule (alarm_after) last "
        "fired, so fragments of one fault closer than that are one event (/detect/last reads "
        "as many more rows; 0: an alarm ends with its last window over the threshold)",
    )

    # Stronger scores (issue 17), off by default until measured across data sets: both are
    # applied by Detector.detect, so the API and the CLI score alike.
    error_standardisation: ErrorStandardisation = Field(
        default=ErrorStandardisation.NONE,
        description="mean_square or max: each feature's RMS error minus its median on normal "
        "validation windows, over its spread there (1.4826 MAD, floored at 1/10 of the "
        "features' median spread so a feature constant in training cannot divide by zero), "
        f"clipped to [0, {MAX_STANDARDISED_ERROR:g}]; the score is the mean of their squares "
        "or the largest",
    )
    smoothing: int = Field(
        default=1,
        ge=1,
        le=MAX_ALARM_AFTER,
        description="k: each score is the mean of its window's and the k-1 windows' before it "
        "in the same request or file (fewer at its start; /detect/last reads k-1 more rows); "
        "the threshold is taken on smoothed validation scores",
    )
    pca_member: bool = Field(
        default=False,
        description="also fit a linear reconstruction (PCA: the fewest principal components "
        f"explaining {VARIANCE_KEPT:g} of the normal training windows' variance) and score "
        "each window by the mean of both members' errors, each divided by its median on "
        "normal validation windows",
    )

    # Short gaps (a dropped scrape or two) are common and a straight line across them barely
    # moves a window's score; a longer gap filled would be data the model scores as if seen.
    fill: str = Field(
        default="linear",
        description=f"how missing values are filled, in training and by default in scoring: "
        f"{FILL_CHOICES}",
    )
    max_gap: int = Field(
        default=3,
        ge=0,
        description="the longest run of missing rows in a feature that is filled; windows "
        "holding a longer gap are not scored (nor trained on)",
    )

    @field_validator("fill")
    @classmethod
    def _known_fill(cls, fill: str) -> str:
        try:
            return FillPolicy.of(fill, 0).text
        except InvalidInput as exc:
            raise ValueError(exc.detail) from None

    @property
    def fill_policy(self) -> FillPolicy:
        return FillPolicy.of(self.fill, self.max_gap)

    @model_validator(mode="after")
    def _one_error_scale(self) -> TrainingOptions:
        if (
            self.error_weighting is not ErrorWeighting.NONE
            and self.error_standardisation is not ErrorStandardisation.NONE
        ):
            raise ValueError(
                "error_weighting and error_standardisation both rescale each feature's error: "
                "choose one"
            )
        return self

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> TrainingOptions:
        """Options from plain values (text as the command line gives it is fine); a bad value
        is InvalidInput naming its field, in one line."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            where, message = validation_problem(exc)
            raise InvalidInput(f"{where}: {message}") from None

    def changed(self, **changes: Any) -> TrainingOptions:
        """A checked copy with `changes` (model_copy(update=...) would skip the checks)."""
        return self.of({**self.model_dump(), **changes})


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


class ErrorStandardSpec(_Strict):
    """models.scoring.ErrorStandard as stored: each feature's normal error level."""

    aggregation: ErrorStandardisation
    centre: list[FiniteFloat]
    spread: list[PositiveFiniteFloat]
    cap: PositiveFiniteFloat = MAX_STANDARDISED_ERROR

    @field_validator("aggregation")
    @classmethod
    def _aggregates(cls, aggregation: ErrorStandardisation) -> ErrorStandardisation:
        if aggregation is ErrorStandardisation.NONE:
            raise ValueError("a stored error standard aggregates by mean_square or max")
        return aggregation

    @classmethod
    def of(cls, standard: ErrorStandard) -> ErrorStandardSpec:
        return cls(
            aggregation=standard.aggregation,
            centre=standard.centre.tolist(),
            spread=standard.spread.tolist(),
            cap=standard.cap,
        )

    def standard(self) -> ErrorStandard:
        return ErrorStandard(
            self.aggregation,
            np.asarray(self.centre, np.float64),
            np.asarray(self.spread, np.float64),
            self.cap,
        )


class PcaMemberSpec(_Strict):
    """models.pca_member.PcaMember as stored: the basis over flattened windows (lookback x
    n_features values, row after row) and both members' median normal validation scores."""

    mean: list[FiniteFloat]
    components: list[list[FiniteFloat]]  # (n_components, lookback * n_features)
    network_median: PositiveFiniteFloat
    pca_median: PositiveFiniteFloat

    @classmethod
    def of(cls, member: PcaMember) -> PcaMemberSpec:
        return cls(
            mean=member.basis.mean.tolist(),
            components=member.basis.components.tolist(),
            network_median=member.network_median,
            pca_median=member.pca_median,
        )

    def member(self) -> PcaMember:
        basis = PcaBasis(np.asarray(self.mean, np.float64), np.asarray(self.components, np.float64))
        return PcaMember(basis, self.network_median, self.pca_median)

    def problem(self, lookback: int, n_features: int) -> str | None:
        """What is wrong with its shapes for windows of lookback x n_features, or None."""
        values = lookback * n_features
        if len(self.mean) != values:
            return (
                f"pca_member.mean needs lookback x features = {values} values, got {len(self.mean)}"
            )
        if not 1 <= len(self.components) <= values:
            return (
                f"pca_member.components needs 1 to {values} components, got {len(self.components)}"
            )
        lengths = {len(component) for component in self.components}
        if lengths != {values}:
            got = ", ".join(map(str, sorted(lengths)))
            return f"pca_member.components need {values} values each, got {got}"
        return None


class ThresholdSpec(_Strict):
    value: FiniteFloat  # margin x the threshold of `method`
    method: ThresholdMethod
    quantile: float | None = None
    margin: float = Field(default=1.0, gt=0.0)


class LayerRow(_Strict):
    name: str
    type: str
    output_shape: list[Count | None]
    params: Count


class TrainingSummary(_Strict):
    rows: Count
    normal_rows: Count
    train_windows: Count
    validation_windows: Count
    validation_normal_windows: Count
    time_column: str | None
    label_column: str | None
    time_start: str | None
    time_end: str | None
    feature_min: list[FiniteFloat]
    feature_max: list[FiniteFloat]
    epochs: Count
    epochs_run: Count
    best_epoch: Count
    train_loss: FiniteFloat
    validation_loss: FiniteFloat
    batch_size: Count
    learning_rate: float
    validation_fraction: float
    seed: Seed
    seconds: float
    shift: Count = 0  # rows before each labelled event that were counted as anomalous too
    # the median step between the training rows' times, for the data-quality verdict's gaps;
    # None without a readable time column, and absent from files written before it was stored
    time_step_seconds: PositiveFiniteFloat | None = None
    # missing cells filled, and the windows left out of training and validation because they
    # still held a missing value (absent, 0, in files written before missing values were read)
    filled_cells: Count = 0
    windows_left_out: Count = 0
    # SHA-256 of the training data (models.data.dataset_sha256); None in files written before it
    data_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None


# Training options whose default changed after files were written without them: the value
# that reproduces how those files were trained (an absent field read as today's default would
# misreport them, and a refit from them would change the model's behaviour unasked).
OPTIONS_BEFORE_THEIR_FIELD: dict[str, object] = {"alarm_hold": 0, "relative_scale_floor": 0.0}


class DetectorSpec(_Strict):
    # 2 added `options`; version 1 files (without them) still load
    format_version: Literal[1, 2] = 2
    features: list[str]
    lookback: int = Field(ge=1, le=MAX_LOOKBACK)
    network: NetworkConfig
    # absent from files written before they existed: whole windows, plain MSE, no transform
    score_on: ScoreOn = ScoreOn.WINDOW
    window_transform: WindowTransform = WindowTransform.NONE
    error_weights: list[FiniteFloat] | None = None  # (n_features,) > 0, see ErrorWeighting
    # a row is anomalous once this many windows in a row, the last ending on it, exceed the
    # threshold (1: every window above the threshold); see models.thresholds.sustained
    alarm_after: int = Field(default=1, ge=1, le=MAX_ALARM_AFTER)
    # then held this many windows after the rule last fired (models.thresholds.held); absent
    # from files written before it: 0, no hold
    alarm_hold: int = Field(default=0, ge=0, le=MAX_ALARM_AFTER)
    # absent from files written before them: no standardisation, no smoothing
    error_standard: ErrorStandardSpec | None = None
    smoothing: int = Field(default=1, ge=1, le=MAX_ALARM_AFTER)
    # with network.members > 1: each member's median score on normal validation windows, by
    # which its squared errors are divided before they are averaged (models.ensemble)
    member_medians: list[PositiveFiniteFloat] | None = None
    pca_member: PcaMemberSpec | None = None  # absent: the network alone
    layers: list[LayerRow]
    scaler: ScalerSpec
    threshold: ThresholdSpec
    validation_error_quantiles: dict[str, FiniteFloat]
    training: TrainingSummary
    options: TrainingOptions | None = None  # what it was trained with; None in version 1 files
    library_versions: dict[str, str]
    created: str

    @model_validator(mode="before")
    @classmethod
    def _options_as_trained(cls, data: Any) -> Any:
        """A file's options lacking a field it was written before say what training did then
        (OPTIONS_BEFORE_THEIR_FIELD), not today's default for it."""
        options = data.get("options") if isinstance(data, dict) else None
        if not isinstance(options, dict):
            return data
        missing = {k: v for k, v in OPTIONS_BEFORE_THEIR_FIELD.items() if k not in options}
        return {**data, "options": {**options, **missing}} if missing else data

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
        standard = self.error_standard
        if standard is not None and (
            len(standard.centre) != n_features or len(standard.spread) != n_features
        ):
            raise ValueError("error_standard needs one centre and one spread per feature")
        if standard is not None and self.error_weights is not None:
            raise ValueError("error_weights and error_standard exclude each other")
        if (problem := self._member_medians_problem()) is not None:
            raise ValueError(problem)
        if self.pca_member is not None:
            problem = self.pca_member.problem(self.lookback, n_features)
            if problem is not None:
                raise ValueError(problem)
        if "0.5" not in self.validation_error_quantiles:
            raise ValueError("validation_error_quantiles lacks the median ('0.5')")
        if not math.isfinite(self.threshold.value):
            raise ValueError("threshold must be finite")
        if sum(row.params for row in self.layers) > MAX_COUNT:
            raise ValueError(f"the layers' params add up to more than {MAX_COUNT}")
        if (self.options is None) != (self.format_version == 1):
            raise ValueError("format_version 2 has the training options, version 1 none")
        return self

    def _member_medians_problem(self) -> str | None:
        members = self.network.members
        if members > 1 and len(self.member_medians or []) != members:
            return f"member_medians needs one median per member ({members})"
        if members == 1 and self.member_medians is not None:
            return "member_medians belongs to a network of several members"
        return None

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def fill_policy(self) -> FillPolicy:
        """The fill it was trained with (the default for files written before fills)."""
        return (self.options or TrainingOptions()).fill_policy

    @property
    def relative_scale_floor(self) -> float:
        """The share of each feature's level its scale was kept at or above (0: none)."""
        return 0.0 if self.options is None else self.options.relative_scale_floor

    @property
    def error_standardisation(self) -> ErrorStandardisation:
        """How each feature's error is standardised before it is aggregated (none: plain MSE)."""
        standard = self.error_standard
        return ErrorStandardisation.NONE if standard is None else standard.aggregation
