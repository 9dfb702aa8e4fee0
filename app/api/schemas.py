"""HTTP schemas: what the API accepts (strict: no coercion, no extra fields) and what it answers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidatorFunctionWrapHandler, WrapValidator

from app.api.numeric_body import NumericRows
from models.data_quality import GAP_STEPS, MIN_ROWS_FOR_CONSTANT, STEP_TOLERANCE
from models.scoring import SEVERITY_FORMULA, SEVERITY_SCALE
from models.spec import TrainingSummary

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
# a JSON null is a missing value, filled by the fill policy (models.input_contract)
Cell = FiniteFloat | None


def _keep_numeric_rows(value: object, validate: ValidatorFunctionWrapHandler) -> object:
    # rows the fast path already read as finite numbers (app.api.numeric_body) need no second pass
    return value if isinstance(value, NumericRows) else validate(value)


Rows = Annotated[list[list[Cell]], WrapValidator(_keep_numeric_rows)]
Threshold = Annotated[
    float | None,
    Field(
        gt=0,
        allow_inf_nan=False,
        description="Overrides the model's threshold for this request only (> 0).",
    ),
]
Columns = Annotated[
    list[str] | None,
    Field(
        description="Feature names of the columns of `values`, in their order there; they are "
        "reordered to the model's order. Every model feature exactly once; other columns are "
        "ignored and listed in the answer's `ignored_columns` (refused with `strict`). Without "
        "it the columns must be in the model's order."
    ),
]


class FillRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    method: str = Field(description="linear, previous, zero, fixed:<value> or none.")
    max_gap: int | None = Field(
        default=None,
        ge=0,
        le=1_000_000,
        description="The longest run of missing rows in a feature that is filled (default: the "
        "model's).",
    )


Fill = Annotated[
    str | FillRequest | None,
    Field(
        description="How missing values (null) are filled for this request: `linear`, "
        "`previous`, `zero`, `fixed:<value>` or `none`, or {method, max_gap}. Default: the "
        "policy the model was trained with."
    ),
]
Strict = Annotated[
    bool | None,
    Field(
        description="true: a column that is not a model feature is refused (422 "
        "feature_mismatch) instead of ignored. Default: the server's RAREWATCH_STRICT_COLUMNS."
    ),
]

SEVERITY = (
    f"How far past the threshold the score is, in [0, 1]:\n\n```\n{SEVERITY_FORMULA}\n```\n\n"
    f"{SEVERITY_SCALE}"
)


class _Request(BaseModel):
    # strict: "1.0", true and null are refused where numbers are expected
    model_config = ConfigDict(extra="forbid", strict=True)


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


# requests ---------------------------------------------------------------------------------


class DetectRequest(_Request):
    """A series: rows as `values` (+ `columns`), or columnar as `series`; oldest row first."""

    values: Rows | None = Field(default=None, description="Rows x features, oldest row first.")
    columns: Columns = None
    series: dict[str, list[Cell]] | None = Field(
        default=None,
        description="Columnar alternative to `values`: {feature: [value per row]}, as dashboard "
        "queries produce it. Every model feature exactly once (other keys are ignored, see "
        "`strict`); all lists the same length.",
    )
    timestamps: list[str] | None = Field(
        default=None,
        description="One ISO 8601 time per row (e.g. 2026-01-01T00:00:00Z; one without a time "
        "zone is read as UTC, with a note), strictly increasing. Results and events then carry "
        "the time of their row.",
    )
    threshold: Threshold = None
    fill: Fill = None
    strict: Strict = None


class WindowsRequest(_Request):
    """Already-temporalized input, as the seed fed its network."""

    windows: list[list[list[Cell]]] = Field(
        description="Windows x lookback x features; each window is `lookback` consecutive rows. "
        "A null is filled from its own window's rows."
    )
    columns: Columns = None
    threshold: Threshold = None
    fill: Fill = None
    strict: Strict = None


# responses --------------------------------------------------------------------------------


class ModelRef(_Response):
    name: str
    version: int
    lookback: int = Field(description="Rows per window.")
    threshold: float = Field(description="The model's stored threshold.")
    features: list[str] = Field(description="The model's features, in its order.")


class FeatureShare(_Response):
    feature: str
    share: float = Field(description="This feature's share of the window's squared error.")


class WindowResult(_Response):
    index: int = Field(
        description="The row the result belongs to: the window's last row (for /windows, the "
        "window's position in the request)."
    )
    timestamp: str | None = Field(description="That row's timestamp as sent, if any were sent.")
    score: float | None = Field(
        description="Reconstruction mean squared error, in scaled units; null when the window "
        "was not scored (see `reason`)."
    )
    is_anomaly: bool = Field(description="score > threshold; false when not scored.")
    severity: float | None = Field(ge=0, le=1, description=SEVERITY)
    filled_share: float = Field(
        ge=0, le=1, description="The share of the window's cells that were missing and filled."
    )
    reason: str | None = Field(
        description="Why the window was not scored (a missing value the fill left: a gap longer "
        "than max_gap, or fill none); null when it was."
    )
    out_of_range: bool = Field(
        description="The window holds a value more than `data_quality.far_spreads` training "
        "spreads outside its feature's training range: the model has never seen such data, so "
        "its score says little. It does not change `is_anomaly`."
    )
    out_of_range_features: list[str] = Field(
        description="The features of those values, in the model's order; empty when none."
    )
    top_features: list[FeatureShare] = Field(
        description="The features with the largest shares of the error, largest first; all the "
        "shares of a window (listed or not) sum to 1."
    )


class DetectionEvent(_Response):
    """A run of consecutive anomalous windows."""

    start_index: int = Field(description="Row index of the first anomalous window's result.")
    end_index: int = Field(description="Row index of the last anomalous window's result.")
    start_timestamp: str | None
    end_timestamp: str | None
    n_windows: int
    peak_index: int = Field(description="Row index of the window with the highest score.")
    peak_timestamp: str | None
    peak_score: float
    top_feature: str = Field(description="The largest summed share of the error over the run.")


class FillSummary(_Response):
    """What was filled in this request, and what was left missing."""

    method: str = Field(description="The fill applied: the model's, or the request's.")
    max_gap: int
    filled_cells: dict[str, int] = Field(description="Cells filled, per model feature.")
    unfilled_cells: dict[str, int] = Field(
        description="Cells left missing (in gaps longer than max_gap, or with fill none), per "
        "model feature."
    )
    unscored_windows: int = Field(description="Results with `score` null.")


class OutOfRangeFeature(_Response):
    """A feature with values outside its training range (minimum to maximum)."""

    feature: str
    rows: int = Field(description="Rows with the feature outside its training range.")
    far_rows: int = Field(description="Of those, rows more than `far_spreads` spreads out.")
    worst_spreads: float = Field(
        description="The farthest value's distance from the range, in training spreads (the "
        "scaler's scale)."
    )
    worst_row: int = Field(description="The row of the farthest value, counted from 0.")
    first_row: int = Field(description="The first row outside the range.")
    side: Literal["above", "below"] = Field(description="Which side the farthest value lies.")


class TimeStepsVerdict(_Response):
    """The steps between the timestamps sent, against the training rows' median step."""

    training_step_seconds: float | None = Field(
        description="The training rows' median step; null when the model stores none (trained "
        "without a time column): then only the median step below is given."
    )
    median_step_seconds: float | None = Field(description="The median step of the rows sent.")
    step_differs: bool = Field(
        description=f"The median step is not within {STEP_TOLERANCE:.0%} of training's."
    )
    gaps: int = Field(description=f"Steps of {GAP_STEPS:g} training steps or more.")
    missing_samples: int = Field(description="Samples the gaps skip, in training steps.")
    longest_gap_seconds: float | None
    first_gap_row: int | None = Field(description="The row after the first gap.")
    irregular_steps: int = Field(
        description=f"Steps neither within {STEP_TOLERANCE:.0%} of a training step nor a gap "
        "(shorter, or in between)."
    )
    first_irregular_row: int | None = Field(description="The row after the first one.")


class CellCounts(_Response):
    cells: int = Field(description="In all features.")
    per_feature: dict[str, int]


class NotJudgedCheck(_Response):
    check: Literal["out_of_range", "constant", "time_steps"]
    reason: str = Field(description="What was not judged, and why.")


class DataQuality(_Response):
    """What is unusual about the rows sent, judged against the model's training data. Rows are
    counted from 0 in the rows sent (for /windows: the windows' rows one after another)."""

    ok: bool = Field(
        description="Nothing found: every value within the training range, no constant or "
        "newly varying feature, no missing cell, regular steps (what was not judged aside)."
    )
    far_spreads: float = Field(
        description="How many training spreads outside the range make a window `out_of_range`."
    )
    out_of_range: list[OutOfRangeFeature] = Field(description="Farthest first.")
    out_of_range_windows: int = Field(description="Results with `out_of_range` true.")
    windows: int = Field(description="Results judged (as `n_windows`).")
    constant_features: list[str] = Field(
        description=f"Constant in the rows sent (at least {MIN_ROWS_FOR_CONSTANT} values) where "
        "training varied."
    )
    varied_features: list[str] = Field(description="Varying where training was constant.")
    time_steps: TimeStepsVerdict | None = Field(
        description="Null without timestamps (always for /windows)."
    )
    missing: CellCounts = Field(description="Cells missing as sent.")
    filled: CellCounts | None = Field(
        description="Of those, cells the fill policy filled (as `fill.filled_cells`); null when "
        "nothing was missing."
    )
    not_judged: list[NotJudgedCheck] = Field(
        description="Checks the rows could not answer: constancy with fewer than "
        f"{MIN_ROWS_FOR_CONSTANT} values, time steps without a training step or without "
        "timestamps."
    )


class DetectResponse(_Response):
    model: ModelRef
    threshold: float = Field(description="The threshold applied: the model's, or the override.")
    n_windows: int = Field(description="Windows in the answer; one result each.")
    results: list[WindowResult]
    events: list[DetectionEvent] = Field(
        description="Runs of anomalous windows; a window not scored ends a run."
    )
    fill: FillSummary
    data_quality: DataQuality
    ignored_columns: list[str] = Field(
        description="Columns that are not model features, ignored, named by their position "
        "(`columns[3]`, `key 3 of series`)."
    )
    notes: list[str] = Field(
        description="What was assumed about the input, e.g. timestamps without a time zone "
        "read as UTC."
    )


class ModelSummary(_Response):
    name: str
    version: int = Field(description="The version served by default (the newest).")
    versions: list[int]
    features: list[str]
    lookback: int
    threshold: float
    threshold_method: str


class UnavailableModel(_Response):
    name: str
    reason: str = Field(description="Why it failed to load; the server log has the details.")


class ModelList(_Response):
    models: list[ModelSummary]
    unavailable: list[UnavailableModel] = Field(
        description="Stored models that failed to load and are not served (all of them, on "
        "every page)."
    )
    next_cursor: str | None = Field(
        default=None,
        description="Pass it as `cursor` for the next page; null on the last page.",
    )


class ReloadResult(_Response):
    name: str
    version: int = Field(description="The version served now.")
    previous_version: int | None = Field(description="The version served before, if any.")
    reloaded: bool = Field(
        description="false when the newest stored version was already the one served."
    )


class ThresholdInfo(_Response):
    value: float = Field(description="The threshold scores are compared with (margin included).")
    method: str = Field(
        description="quantile (of normal validation errors), max-f1 or pot (peaks over threshold)."
    )
    quantile: float | None
    margin: float = Field(description="The factor the method's threshold was multiplied by.")


class NetworkInfo(_Response):
    architecture: str
    units: list[int]
    activation: str
    dropout: float
    members: int = Field(
        default=1,  # what a server from before ensembles means by its silence
        description="Autoencoders side by side in the network, each from its own initial "
        "weights (1: one).",
    )


class Layer(_Response):
    layer: str
    type: str
    output_shape: list[int | None]
    params: int


class PcaMemberInfo(_Response):
    components: int = Field(description="The principal components the PCA member keeps.")
    values: int = Field(description="The values of a window it reconstructs: lookback x features.")
    network_median: float = Field(
        description="The network's median score on normal validation windows: its squared "
        "errors are divided by it before they are averaged with the PCA's."
    )
    pca_median: float = Field(
        description="The PCA's median score on normal validation windows, dividing its errors."
    )


class WatchInfo(_Response):
    version: int = Field(description="The version `rarewatch watch` scores with.")
    since: str = Field(description="When it started using it (ISO 8601, UTC).")
    why: str = Field(description="Why, in plain words (a refit: the rows it was fitted on).")


class ModelInfo(_Response):
    name: str
    version: int
    versions: list[int]
    created: str
    features: list[str]
    lookback: int
    score_on: str = Field(
        description="What a score averages over: the whole window, or its last step."
    )
    scaling: str = Field(description="How rows are scaled: standard (mean/std) or robust.")
    relative_scale_floor: float = Field(
        description="No feature's scale is below this share of its training level (0: no "
        "floor), so a feature nearly constant in training counts its drift against its level."
    )
    window_transform: str = Field(
        description="What is done to each scaled window before the network: none, center or "
        "difference."
    )
    error_standardisation: str = Field(
        description="none (a plain mean squared error), or how each feature's error, "
        "standardised by its level on normal validation windows, is aggregated: mean_square "
        "or max."
    )
    smoothing: int = Field(
        description="Each score is the mean of its window's and the smoothing - 1 windows' "
        "before it (1: no smoothing)."
    )
    member_medians: list[float] | None = Field(
        default=None,  # what a server from before ensembles means by its silence
        description="With several members: each one's median score on normal validation "
        "windows; its squared errors are divided by it before the members' are averaged. "
        "null for a network of one autoencoder.",
    )
    pca_member: PcaMemberInfo | None = Field(
        default=None,  # what a server from before the member means by its silence
        description="A linear reconstruction (PCA of the normal training windows) whose "
        "errors are averaged with the network's; null when the model has none.",
    )
    alarm_after: int = Field(
        description="A window is flagged once this many windows in a row exceed the threshold."
    )
    alarm_hold: int = Field(
        default=0,  # what a server from before the hold means by its silence
        description="A flag stays raised this many windows after the alarm_after rule last "
        "fired (0: not held).",
    )
    threshold: ThresholdInfo
    validation_error_quantiles: dict[str, float] = Field(
        description="Quantiles of the reconstruction error on held-out normal windows, keyed by "
        "the quantile."
    )
    network: NetworkInfo
    layers: list[Layer]
    total_params: int
    training: TrainingSummary
    library_versions: dict[str, str]
    watch: WatchInfo | None = Field(
        default=None,
        description="The version `rarewatch watch` uses and why it changed; absent when the "
        "model was never watched.",
    )


class Health(_Response):
    status: Literal["ok"]


class LoadedModel(_Response):
    name: str
    version: int


class Readiness(_Response):
    status: Literal["ready"]
    models: list[LoadedModel] = Field(
        default=[],
        description="The models served (checked; each loads on its first request). With "
        "RAREWATCH_API_KEYS set, only for a request that "
        "sends an API key or the metrics key; without one the answer is the status alone.",
    )
    unavailable: list[UnavailableModel] = Field(
        default=[],
        description="Stored models that failed to load; the others are served. Shown as "
        "`models` is.",
    )


class ErrorLocation(_Response):
    loc: list[int | str] = Field(description="Where in the request, e.g. [body, values, 3, 1].")
    type: str
    msg: str


class Problem(_Response):
    """application/problem+json (RFC 9457). Never contains values from the request."""

    type: str = Field(description="urn:rarewatch:problem:<code>")
    title: str
    status: int
    detail: str
    code: str = Field(description="Stable, snake_case; see the error table in docs/api.md.")
    errors: list[ErrorLocation] | None = Field(
        default=None, description="Only for validation_error: where the request is wrong."
    )
    id: str | None = Field(default=None, description="Only for internal_error: quote it.")
    unavailable: list[UnavailableModel] | None = Field(
        default=None, description="Only for not_ready: the models that failed to load, and why."
    )
