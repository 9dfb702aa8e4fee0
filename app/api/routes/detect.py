"""Detection: score every window of a series, only its newest window, or given windows."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response

from app.api import examples
from app.api.body import StrictJSONRoute
from app.api.deps import Scoring, ScoringDep
from app.api.inputs import fill_of, rows_of, windows_of
from app.api.openapi import with_problems
from app.api.problems import Forbidden, LimitExceeded, Overloaded, Unauthorized
from app.api.responses import JSONResponse, detection_body
from app.api.schemas import DetectRequest, DetectResponse, WindowsRequest
from models.data_quality import QualityVerdict, judge
from models.detector import Detection

router = APIRouter(prefix="/v1/models", tags=["detection"], route_class=StrictJSONRoute)

DetectBody = Annotated[DetectRequest, Body(openapi_examples=examples.DETECT_REQUESTS)]
WindowsBody = Annotated[WindowsRequest, Body(openapi_examples=examples.WINDOWS_REQUESTS)]
ERRORS = with_problems(
    examples.problems(400, 404, 413, 415, 422, 500)
    | examples.problems(503, only={"model_unavailable"}),
    LimitExceeded,
    Overloaded,
    Unauthorized,
    Forbidden,  # the admin key, which opens the admin routes only
)


@router.post(
    "/{name}/detect",
    response_model=DetectResponse,
    summary="Score every window of a series",
    responses=examples.ok(examples.DETECT_RESPONSE) | ERRORS,
)
def detect(body: DetectBody, scoring: ScoringDep) -> Response:
    """Cut the series into windows of `lookback` rows (n_rows - lookback + 1 of them), score
    each, flag those above the threshold, and group consecutive flagged windows into events."""
    detector = scoring.detector
    rows = rows_of(body, detector.features, scoring.settings.strict_columns)
    fill = fill_of(body, detector.fill_policy)
    detection = detector.detect(rows.values, body.threshold, fill=fill)
    verdict = judge(
        detector.training_stats, detector.lookback, rows.values, detection, rows.timestamps
    )
    return answer(scoring, detection, verdict, rows.timestamps, rows.ignored_columns, rows.notes)


# On the event loop, not in the thread pool: scoring one window is shorter than the hand-off to
# a worker thread and back (bench.perf.run's /detect/last figures are the ones to watch).
@router.post(
    "/{name}/detect/last",
    response_model=DetectResponse,
    summary="Score only the newest window (the dashboard refresh)",
    responses=examples.ok(examples.DETECT_LAST_RESPONSE) | ERRORS,
)
async def detect_last(body: DetectBody, scoring: ScoringDep) -> Response:
    """The same body as /detect; only the window ending at the newest row is scored."""
    detector = scoring.detector
    rows = rows_of(body, detector.features, scoring.settings.strict_columns)
    fill = fill_of(body, detector.fill_policy)
    detection = detector.detect_last(rows.values, body.threshold, fill)
    verdict = judge(
        detector.training_stats, detector.lookback, rows.values, detection, rows.timestamps
    )
    return answer(scoring, detection, verdict, rows.timestamps, rows.ignored_columns, rows.notes)


@router.post(
    "/{name}/windows",
    response_model=DetectResponse,
    summary="Score already-temporalized windows",
    responses=examples.ok(examples.WINDOWS_RESPONSE) | ERRORS,
)
def detect_windows(body: WindowsBody, scoring: ScoringDep) -> Response:
    """Windows x lookback x features, as the network is fed; one result per window. Without
    timestamps, the data-quality verdict judges the range and constancy of the windows' values,
    not their time steps."""
    detector = scoring.detector
    given = windows_of(body, detector.features, detector.lookback, scoring.settings.strict_columns)
    fill = fill_of(body, detector.fill_policy)
    detection = detector.detect_windows(given.windows, body.threshold, fill)
    rows = given.windows.reshape(-1, given.windows.shape[2])
    verdict = judge(detector.training_stats, detector.lookback, rows, detection, as_windows=True)
    return answer(scoring, detection, verdict, None, given.ignored_columns, [])


def answer(
    scoring: Scoring,
    detection: Detection,
    verdict: QualityVerdict,
    timestamps: list[str] | None,
    ignored_columns: list[str],
    notes: list[str],
) -> Response:
    """Count the detection and its verdict in the metrics and shape them into the JSON answer."""
    scoring.metrics.detection(scoring.detector, detection, verdict)
    body = detection_body(
        scoring.detector, detection, timestamps, scoring.settings.top_features, verdict
    )
    return JSONResponse(body | {"ignored_columns": ignored_columns, "notes": notes})
