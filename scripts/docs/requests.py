"""The example series and the requests the capture sends, each with the answer it must get."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from app.api.serve import DEMO_MODEL
from app.settings import Settings
from models.demo import DEMO_FEATURES, demo_frame
from scripts.docs.captures import JSON, Refusal, RefusedRequest, Sample

# The detection examples: rows 1290-1298 of the demo data, around a vibration fault.
FIRST_ROW, N_ROWS = 1290, 9
BROKEN_MODEL = "pump"  # the tampered copy's name
DETECT = f"/v1/models/{DEMO_MODEL}/detect"
RELOAD = f"/v1/models/{DEMO_MODEL}/reload"
# the keys and the browser origin of the second server (made up for the examples)
API_KEYS = ("client-key-1", "client-key-2")
ADMIN_KEY = "admin-key"
CORS_ORIGIN = "https://dash.example"
SECURED_ENVIRONMENT = {
    "RAREWATCH_API_KEYS": ",".join(API_KEYS),
    "RAREWATCH_ADMIN_KEY": ADMIN_KEY,
    "RAREWATCH_CORS_ORIGINS": CORS_ORIGIN,
}


def demo_sample() -> Sample:
    part = demo_frame().iloc[FIRST_ROW : FIRST_ROW + N_ROWS]
    faulty = np.flatnonzero(part["label"].to_numpy() == 1)
    if len(faulty) == 0:
        raise SystemExit(f"the demo rows {FIRST_ROW}-{FIRST_ROW + N_ROWS - 1} hold no fault")
    values = part[DEMO_FEATURES].to_numpy().tolist()
    timestamps = part["timestamp"].tolist()
    columns = zip(*values, strict=True)
    series = {f: list(column) for f, column in zip(DEMO_FEATURES, columns, strict=True)}
    return Sample(
        first_row=FIRST_ROW,
        n_rows=N_ROWS,
        fault_index=int(faulty[0]),
        rows={"values": values, "columns": DEMO_FEATURES, "timestamps": timestamps},
        series={"series": series, "timestamps": timestamps},
    )


def windows_body(sample: Sample, lookback: int) -> JSON:
    """The first and the last window of the series."""
    values = sample.rows["values"]
    return {"windows": [values[:lookback], values[-lookback:]]}


def gaps_body(sample: Sample) -> JSON:
    """The rows with the first four loads missing, a gap longer than the default max_gap (the
    windows holding it are not scored), and one temperature near the end (filled)."""
    values = [list(row) for row in sample.rows["values"]]
    for row in values[:4]:
        row[0] = None
    values[-3][1] = None
    return {**sample.rows, "values": values}


def out_of_range_body(sample: Sample) -> JSON:
    """The rows with the second-to-last load ten of the sample's load ranges above its highest:
    far outside anything in training, in the newest window (for /detect/last)."""
    values = [list(row) for row in sample.rows["values"]]
    loads = [row[0] for row in values]
    values[-2][0] = max(loads) + 10 * (max(loads) - min(loads))
    return {**sample.rows, "values": values}


@dataclass(frozen=True)
class Case(RefusedRequest):
    """A request that must be refused: the answer's status and code are checked when captured."""

    body: bytes | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)  # sent besides the content type
    answer_header: str | None = None  # a header the answer must carry (docs/api.md shows it)

    def refused(self, answer: JSON, header: str = "") -> Refusal:
        """The record of this request's refusal; `header` is "Name: value" of answer_header."""
        return Refusal(
            self.name, self.status, self.code, self.summary, self.method, self.path,
            dict(self.headers), header, answer,
        )  # fmt: skip


def refused_requests(sample: Sample, settings: Settings) -> list[Case]:
    """What the demo server (default settings) is sent to show its errors."""
    values = sample.rows["values"]
    five_rows = _json({"values": values[:5]})
    misnamed = ["temp" if feature == "temperature" else feature for feature in DEMO_FEATURES]
    too_many_columns = [f"feature_{i}" for i in range(settings.max_features + 1)]
    not_a_time = [*sample.rows["timestamps"][:4], "yesterday"]
    backwards = sample.rows["timestamps"][:5][::-1]
    model = f"/v1/models/{DEMO_MODEL}"
    return [
        Case(
            "invalid_json", 400, "invalid_json", "Not valid JSON",
            "POST", DETECT, b'{"values": [[1, 2, 3, 4, 5],',
        ),
        Case(
            "forbidden", 403, "forbidden", "A reload while RAREWATCH_ADMIN_KEY is not set",
            "POST", RELOAD,
        ),
        Case(
            "model_not_found", 404, "model_not_found", "No such model",
            "POST", "/v1/models/turbine/detect", five_rows,
        ),
        Case(
            "version_not_found", 404, "model_not_found", "No such version",
            "GET", f"{model}?version=7",
        ),
        Case(
            "body_too_large", 413, "body_too_large", "Body over RAREWATCH_MAX_BODY_BYTES",
            "POST", DETECT, b"[" * (settings.max_body_bytes + 1),
        ),
        Case(
            "limit_exceeded", 413, "limit_exceeded",
            f"{len(too_many_columns):,} columns, over RAREWATCH_MAX_FEATURES",
            "POST", DETECT, _json({"values": values[:5], "columns": too_many_columns}),
        ),
        Case(
            "unsupported_media_type", 415, "unsupported_media_type", "Not sent as JSON",
            "POST", DETECT, five_rows, content_type="text/plain",
        ),
        Case(
            "validation_error", 422, "validation_error",
            "A string where a number belongs, a misspelt field",
            "POST", DETECT, b'{"values": [[50.1, "40.2", 3.0, 35.0, 1.0]], "colums": ["load"]}',
        ),
        Case(
            "version_error", 422, "validation_error", "A version that is not a positive integer",
            "GET", f"{model}?version=latest",
        ),
        Case(
            "feature_mismatch", 422, "feature_mismatch", "Rows of the wrong width",
            "POST", DETECT, _json({"values": [row[:4] for row in values[:5]]}),
        ),
        Case(
            "unknown_column", 422, "feature_mismatch", "A column the model does not know",
            "POST", DETECT, _json({"values": values[:5], "columns": misnamed}),
        ),
        Case(
            "not_enough_rows", 422, "not_enough_rows", "Fewer rows than the lookback",
            "POST", f"{DETECT}/last", _json({"values": values[:3]}),
        ),
        Case(
            "non_finite_values", 422, "non_finite_values", "NaN, Infinity or 1e400",
            "POST", DETECT, b'{"values": [[NaN, 40.2, 3.0, 35.0, 1.0]]}',
        ),
        Case(
            "invalid_timestamps", 422, "invalid_timestamps", "A timestamp that is not ISO 8601",
            "POST", DETECT, _json({"values": values[:5], "timestamps": not_a_time}),
        ),
        Case(
            "timestamps_out_of_order", 422, "invalid_timestamps", "Timestamps that do not increase",
            "POST", DETECT, _json({"values": values[:5], "timestamps": backwards}),
        ),
    ]  # fmt: skip


def secured_requests(sample: Sample) -> tuple[Case, Case, Case]:
    """What the server with keys is sent: no key, an API key where the admin key belongs, and
    (once a tampered version 3 is stored) a reload that must fail."""
    return (
        Case(
            "unauthorized", 401, "unauthorized", "No API key while RAREWATCH_API_KEYS is set",
            "POST", DETECT, _json({"values": sample.rows["values"][:5]}),
            answer_header="WWW-Authenticate",
        ),
        Case(
            "not_admin", 403, "forbidden", "An API key, not the admin key, on the admin route",
            "POST", RELOAD, headers={"X-API-Key": API_KEYS[0]},
        ),
        Case(
            "reload_failed", 409, "reload_failed",
            "The newest stored version fails to load (a tampered copy)",
            "POST", RELOAD, headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        ),
    )  # fmt: skip


def fault_requests(sample: Sample) -> tuple[Case, Case, Case]:
    """not_ready and model_unavailable from a folder holding only the tampered copy;
    internal_error once the NaN copy is registered as the demo model."""
    body = _json(sample.rows)
    return (
        Case(
            "not_ready", 503, "not_ready", "No model found and checked",
            "GET", "/readyz",
        ),
        Case(
            "model_unavailable", 503, "model_unavailable", "A stored model that failed to load",
            "POST", f"/v1/models/{BROKEN_MODEL}/detect", body,
        ),
        Case(
            "internal_error", 500, "internal_error",
            "The model produced a non-finite score (a bug)",
            "POST", DETECT, body,
        ),
    )  # fmt: skip


def overload_request(sample: Sample) -> Case:
    return Case(
        "overloaded", 503, "overloaded",
        "Every inference slot and every place in the queue taken",
        "POST", f"{DETECT}/last", _json(sample.rows), answer_header="Retry-After",
    )  # fmt: skip


def _json(body: JSON) -> bytes:
    return json.dumps(body).encode()
