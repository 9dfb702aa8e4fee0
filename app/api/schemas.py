"""HTTP schemas: what the API accepts (strict: no coercion, no extra fields) and what it answers."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidatorFunctionWrapHandler, WrapValidator

from app.api.numeric_body import NumericRows
from models.scoring import SEVERITY_FORMULA, SEVERITY_SCALE
from models.spec import TrainingSummary

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


def _keep_numeric_rows(value: object, validate: ValidatorFunctionWrapHandler) -> object:
    # rows the fast path already read as finite numbers (app.api.numeric_body) need no second pass
    return value if isinstance(value, NumericRows) else validate(value)


Rows = Annotated[list[list[FiniteFloat]], WrapValidator(_keep_numeric_rows)]
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
        "reordered to the model's order. Every model feature exactly once, nothing else. "
        "Without it the columns must be in the model's order."
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
    series: dict[str, list[FiniteFloat]] | None = Field(
        default=None,
        description="Columnar alternative to `values`: {feature: [value per row]}, as dashboard "
        "queries produce it. Every model feature exactly once; all lists the same length.",
    )
    timestamps: list[str] | None = Field(
        default=None,
        description="One ISO 8601 time with a time zone per row (e.g. 2026-01-01T00:00:00Z), "
        "strictly increasing. Results and events then carry the time of their row.",
    )
    threshold: Threshold = None


class WindowsRequest(_Request):
    """Already-temporalized input, as the seed fed its network."""

    windows: list[list[list[FiniteFloat]]] = Field(
        description="Windows x lookback x features; each window is `lookback` consecutive rows."
    )
    columns: Columns = None
    threshold: Threshold = None


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
    score: float = Field(description="Reconstruction mean squared error, in scaled units.")
    is_anomaly: bool = Field(description="score > threshold.")
    severity: float = Field(ge=0, le=1, description=SEVERITY)
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


class DetectResponse(_Response):
    model: ModelRef
    threshold: float = Field(description="The threshold applied: the model's, or the override.")
    n_windows: int = Field(description="Windows scored; one result each.")
    results: list[WindowResult]
    events: list[DetectionEvent]


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


class Layer(_Response):
    layer: str
    type: str
    output_shape: list[int | None]
    params: int


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
    window_transform: str = Field(
        description="What is done to each scaled window before the network: none, center or "
        "difference."
    )
    alarm_after: int = Field(
        description="A window is flagged once this many windows in a row exceed the threshold."
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
