"""Examples for the OpenAPI document: requests and answers captured from `rarewatch serve --demo`.

The detection examples are rows 1290-1298 of the demo data, around the vibration fault that starts
at row 1296 (`index` counts the rows of the request).
"""

from __future__ import annotations

from typing import Any

from app.schemas import Problem

HEALTH: dict[str, Any] = {"status": "ok"}

READY: dict[str, Any] = {"status": "ready", "models": [{"name": "demo", "version": 1}]}

MODEL_LIST: dict[str, Any] = {
    "models": [
        {
            "name": "demo",
            "version": 1,
            "versions": [1],
            "features": ["load", "temperature", "pressure", "flow", "vibration"],
            "lookback": 5,
            "threshold": 0.034262576615423555,
            "threshold_method": "quantile",
        }
    ],
    "unavailable": [],
}

MODEL_INFO: dict[str, Any] = {
    "name": "demo",
    "version": 1,
    "versions": [1],
    "created": "2026-11-28T11:09:15+00:00",
    "features": ["load", "temperature", "pressure", "flow", "vibration"],
    "lookback": 5,
    "score_on": "window",
    "threshold": {"value": 0.034262576615423555, "method": "quantile", "quantile": 0.99},
    "validation_error_quantiles": {
        "0": 0.004136216489856324,
        "0.01": 0.005150111581152365,
        "0.05": 0.006808967120025145,
        "0.1": 0.008486538155380401,
        "0.25": 0.010949858568724435,
        "0.5": 0.014179945974627729,
        "0.75": 0.01884399884556092,
        "0.9": 0.024408588207748147,
        "0.95": 0.02759985914694084,
        "0.975": 0.030129246434184256,
        "0.99": 0.034262576615423555,
        "0.995": 0.03868478952547109,
        "0.999": 0.04098559222732333,
        "1": 0.04214535657692739,
    },
    "network": {
        "architecture": "autoencoder",
        "units": [32, 16],
        "activation": "tanh",
        "dropout": 0.0,
    },
    "layers": [
        {"layer": "encoder_1", "type": "LSTM", "output_shape": [None, 5, 32], "params": 4864},
        {"layer": "encoder_2", "type": "LSTM", "output_shape": [None, 16], "params": 3136},
        {"layer": "bottleneck", "type": "RepeatVector", "output_shape": [None, 5, 16], "params": 0},
        {"layer": "decoder_1", "type": "LSTM", "output_shape": [None, 5, 16], "params": 2112},
        {"layer": "decoder_2", "type": "LSTM", "output_shape": [None, 5, 32], "params": 6272},
        {
            "layer": "reconstruction",
            "type": "TimeDistributed",
            "output_shape": [None, 5, 5],
            "params": 165,
        },
    ],
    "total_params": 16549,
    "training": {
        "rows": 4320,
        "normal_rows": 4256,
        "train_windows": 3400,
        "validation_windows": 860,
        "validation_normal_windows": 832,
        "time_column": "timestamp",
        "label_column": "label",
        "time_start": "2026-01-01T00:00:00+00:00",
        "time_end": "2026-01-30T23:50:00+00:00",
        "feature_min": [25.434, 46.677, 2.453, 12.995, 0.722],
        "feature_max": [73.754, 74.733, 3.5011, 22.916, 1.2809],
        "epochs": 50,
        "epochs_run": 50,
        "best_epoch": 49,
        "train_loss": 0.015695590525865555,
        "validation_loss": 0.015443418174982071,
        "batch_size": 64,
        "learning_rate": 0.001,
        "validation_fraction": 0.2,
        "seed": 0,
        "seconds": 28.979,
    },
    "library_versions": {
        "rarewatch": "0.1.0",
        "tensorflow-cpu": "2.21.0",
        "keras": "3.15.1",
        "numpy": "2.4.6",
    },
}

DETECT_ROWS: dict[str, Any] = {
    "values": [
        [28.913, 50.09, 2.6362, 13.749, 0.7556],
        [28.317, 48.946, 2.5584, 13.489, 0.7878],
        [32.691, 47.917, 2.5697, 14.338, 0.8796],
        [28.9, 48.839, 2.5988, 13.893, 0.8087],
        [31.924, 48.171, 2.6593, 14.186, 0.8014],
        [30.898, 50.003, 2.5675, 13.841, 0.8114],
        [32.573, 48.502, 2.6457, 14.661, 1.2211],
        [31.524, 49.826, 2.6301, 14.513, 1.27],
        [29.923, 49.134, 2.5284, 13.859, 1.186],
    ],
    "columns": ["load", "temperature", "pressure", "flow", "vibration"],
    "timestamps": [
        "2026-01-09T23:00:00Z",
        "2026-01-09T23:10:00Z",
        "2026-01-09T23:20:00Z",
        "2026-01-09T23:30:00Z",
        "2026-01-09T23:40:00Z",
        "2026-01-09T23:50:00Z",
        "2026-01-10T00:00:00Z",
        "2026-01-10T00:10:00Z",
        "2026-01-10T00:20:00Z",
    ],
}

DETECT_SERIES: dict[str, Any] = {
    "series": {
        "load": [28.913, 28.317, 32.691, 28.9, 31.924, 30.898, 32.573, 31.524, 29.923],
        "temperature": [50.09, 48.946, 47.917, 48.839, 48.171, 50.003, 48.502, 49.826, 49.134],
        "pressure": [2.6362, 2.5584, 2.5697, 2.5988, 2.6593, 2.5675, 2.6457, 2.6301, 2.5284],
        "flow": [13.749, 13.489, 14.338, 13.893, 14.186, 13.841, 14.661, 14.513, 13.859],
        "vibration": [0.7556, 0.7878, 0.8796, 0.8087, 0.8014, 0.8114, 1.2211, 1.27, 1.186],
    },
    "timestamps": [
        "2026-01-09T23:00:00Z",
        "2026-01-09T23:10:00Z",
        "2026-01-09T23:20:00Z",
        "2026-01-09T23:30:00Z",
        "2026-01-09T23:40:00Z",
        "2026-01-09T23:50:00Z",
        "2026-01-10T00:00:00Z",
        "2026-01-10T00:10:00Z",
        "2026-01-10T00:20:00Z",
    ],
}

DETECT_REQUESTS: dict[str, Any] = {
    "rows": {
        "summary": "Rows, with column names and timestamps",
        "value": DETECT_ROWS,
    },
    "series": {
        "summary": "Columnar, as dashboard queries produce it",
        "value": DETECT_SERIES,
    },
}

DETECT_RESPONSE: dict[str, Any] = {
    "model": {
        "name": "demo",
        "version": 1,
        "lookback": 5,
        "threshold": 0.034262576615423555,
        "features": ["load", "temperature", "pressure", "flow", "vibration"],
    },
    "threshold": 0.034262576615423555,
    "n_windows": 5,
    "results": [
        {
            "index": 4,
            "timestamp": "2026-01-09T23:40:00Z",
            "score": 0.028917267871242557,
            "is_anomaly": False,
            "severity": 0.0,
            "top_features": [
                {"feature": "vibration", "share": 0.5508554836984858},
                {"feature": "temperature", "share": 0.20452635125397053},
                {"feature": "pressure", "share": 0.10890733818344195},
            ],
        },
        {
            "index": 5,
            "timestamp": "2026-01-09T23:50:00Z",
            "score": 0.025651118394894895,
            "is_anomaly": False,
            "severity": 0.0,
            "top_features": [
                {"feature": "vibration", "share": 0.4843674178695624},
                {"feature": "temperature", "share": 0.22159595925990302},
                {"feature": "pressure", "share": 0.13768203818283223},
            ],
        },
        {
            "index": 6,
            "timestamp": "2026-01-10T00:00:00Z",
            "score": 0.302091540154548,
            "is_anomaly": True,
            "severity": 0.9999983852794097,
            "top_features": [
                {"feature": "vibration", "share": 0.8752470119613003},
                {"feature": "pressure", "share": 0.051868174092222274},
                {"feature": "load", "share": 0.029364435464185698},
            ],
        },
        {
            "index": 7,
            "timestamp": "2026-01-10T00:10:00Z",
            "score": 0.5795642543433375,
            "is_anomaly": True,
            "severity": 0.999999999998387,
            "top_features": [
                {"feature": "vibration", "share": 0.8600528301381422},
                {"feature": "pressure", "share": 0.06059799268555565},
                {"feature": "load", "share": 0.04454643782943797},
            ],
        },
        {
            "index": 8,
            "timestamp": "2026-01-10T00:20:00Z",
            "score": 0.8112119593873165,
            "is_anomaly": True,
            "severity": 1.0,
            "top_features": [
                {"feature": "vibration", "share": 0.7877524528505225},
                {"feature": "pressure", "share": 0.09599726165569783},
                {"feature": "load", "share": 0.061572706206895075},
            ],
        },
    ],
    "events": [
        {
            "start_index": 6,
            "end_index": 8,
            "start_timestamp": "2026-01-10T00:00:00Z",
            "end_timestamp": "2026-01-10T00:20:00Z",
            "n_windows": 3,
            "peak_index": 8,
            "peak_timestamp": "2026-01-10T00:20:00Z",
            "peak_score": 0.8112119593873165,
            "top_feature": "vibration",
        }
    ],
}

DETECT_LAST_RESPONSE: dict[str, Any] = {
    "model": {
        "name": "demo",
        "version": 1,
        "lookback": 5,
        "threshold": 0.034262576615423555,
        "features": ["load", "temperature", "pressure", "flow", "vibration"],
    },
    "threshold": 0.034262576615423555,
    "n_windows": 1,
    "results": [
        {
            "index": 8,
            "timestamp": "2026-01-10T00:20:00Z",
            "score": 0.8112119593873165,
            "is_anomaly": True,
            "severity": 1.0,
            "top_features": [
                {"feature": "vibration", "share": 0.7877524528505225},
                {"feature": "pressure", "share": 0.09599726165569783},
                {"feature": "load", "share": 0.061572706206895075},
            ],
        }
    ],
    "events": [
        {
            "start_index": 8,
            "end_index": 8,
            "start_timestamp": "2026-01-10T00:20:00Z",
            "end_timestamp": "2026-01-10T00:20:00Z",
            "n_windows": 1,
            "peak_index": 8,
            "peak_timestamp": "2026-01-10T00:20:00Z",
            "peak_score": 0.8112119593873165,
            "top_feature": "vibration",
        }
    ],
}

WINDOWS_REQUESTS: dict[str, Any] = {
    "windows": {
        "summary": "Two windows of 5 rows (the demo model's lookback)",
        "value": {
            "windows": [
                [
                    [28.913, 50.09, 2.6362, 13.749, 0.7556],
                    [28.317, 48.946, 2.5584, 13.489, 0.7878],
                    [32.691, 47.917, 2.5697, 14.338, 0.8796],
                    [28.9, 48.839, 2.5988, 13.893, 0.8087],
                    [31.924, 48.171, 2.6593, 14.186, 0.8014],
                ],
                [
                    [31.924, 48.171, 2.6593, 14.186, 0.8014],
                    [30.898, 50.003, 2.5675, 13.841, 0.8114],
                    [32.573, 48.502, 2.6457, 14.661, 1.2211],
                    [31.524, 49.826, 2.6301, 14.513, 1.27],
                    [29.923, 49.134, 2.5284, 13.859, 1.186],
                ],
            ]
        },
    },
}

WINDOWS_RESPONSE: dict[str, Any] = {
    "model": {
        "name": "demo",
        "version": 1,
        "lookback": 5,
        "threshold": 0.034262576615423555,
        "features": ["load", "temperature", "pressure", "flow", "vibration"],
    },
    "threshold": 0.034262576615423555,
    "n_windows": 2,
    "results": [
        {
            "index": 0,
            "timestamp": None,
            "score": 0.028917267871242557,
            "is_anomaly": False,
            "severity": 0.0,
            "top_features": [
                {"feature": "vibration", "share": 0.5508554836984858},
                {"feature": "temperature", "share": 0.20452635125397053},
                {"feature": "pressure", "share": 0.10890733818344195},
            ],
        },
        {
            "index": 1,
            "timestamp": None,
            "score": 0.8112119593873165,
            "is_anomaly": True,
            "severity": 1.0,
            "top_features": [
                {"feature": "vibration", "share": 0.7877524528505225},
                {"feature": "pressure", "share": 0.09599726165569783},
                {"feature": "load", "share": 0.061572706206895075},
            ],
        },
    ],
    "events": [
        {
            "start_index": 1,
            "end_index": 1,
            "start_timestamp": None,
            "end_timestamp": None,
            "n_windows": 1,
            "peak_index": 1,
            "peak_timestamp": None,
            "peak_score": 0.8112119593873165,
            "top_feature": "vibration",
        }
    ],
}

# status -> name -> (summary, answer)
PROBLEMS: dict[int, dict[str, tuple[str, dict[str, Any]]]] = {
    400: {
        "invalid_json": (
            "Not valid JSON",
            {
                "type": "urn:rarewatch:problem:invalid_json",
                "title": "Invalid JSON",
                "status": 400,
                "detail": "the request body is not valid JSON: unexpected end of data (at "
                "character 28)",
                "code": "invalid_json",
            },
        )
    },
    404: {
        "model_not_found": (
            "No such model",
            {
                "type": "urn:rarewatch:problem:model_not_found",
                "title": "Model not found",
                "status": 404,
                "detail": "no model named 'turbine'",
                "code": "model_not_found",
            },
        ),
        "version_not_found": (
            "No such version",
            {
                "type": "urn:rarewatch:problem:model_not_found",
                "title": "Model not found",
                "status": 404,
                "detail": "model 'demo' has no version 7 (versions: 1)",
                "code": "model_not_found",
            },
        ),
    },
    413: {
        "body_too_large": (
            "Body over max_body_bytes",
            {
                "type": "urn:rarewatch:problem:body_too_large",
                "title": "Request body too large",
                "status": 413,
                "detail": "the request body is larger than the limit of 16777216 bytes",
                "code": "body_too_large",
            },
        )
    },
    415: {
        "unsupported_media_type": (
            "Not sent as JSON",
            {
                "type": "urn:rarewatch:problem:unsupported_media_type",
                "title": "Unsupported media type",
                "status": 415,
                "detail": "send the body as JSON with the header Content-Type: application/json",
                "code": "unsupported_media_type",
            },
        )
    },
    422: {
        "validation_error": (
            "A string where a number belongs, a misspelt field",
            {
                "type": "urn:rarewatch:problem:validation_error",
                "title": "Request does not match the schema",
                "status": 422,
                "detail": "2 error(s) in the request; see `errors` for where",
                "code": "validation_error",
                "errors": [
                    {
                        "loc": ["body", "values", 0, 1],
                        "type": "float_type",
                        "msg": "Input should be a valid number",
                    },
                    {
                        "loc": ["body", "colums"],
                        "type": "extra_forbidden",
                        "msg": "Extra inputs are not permitted",
                    },
                ],
            },
        ),
        "version_error": (
            "A version that is not a positive integer",
            {
                "type": "urn:rarewatch:problem:validation_error",
                "title": "Request does not match the schema",
                "status": 422,
                "detail": "1 error(s) in the request; see `errors` for where",
                "code": "validation_error",
                "errors": [
                    {
                        "loc": ["query", "version"],
                        "type": "int_parsing",
                        "msg": "Input should be a valid integer, unable to parse "
                        "string as an integer",
                    }
                ],
            },
        ),
        "feature_mismatch": (
            "Rows of the wrong width",
            {
                "type": "urn:rarewatch:problem:feature_mismatch",
                "title": "Features do not match the model",
                "status": 422,
                "detail": "row 0 has 4 values, expected 5; the model's features are "
                "load, temperature, pressure, flow, vibration",
                "code": "feature_mismatch",
            },
        ),
        "unknown_column": (
            "A column the model does not know",
            {
                "type": "urn:rarewatch:problem:feature_mismatch",
                "title": "Features do not match the model",
                "status": 422,
                "detail": "columns must name every model feature exactly once (unknown: "
                "'temp'; missing: 'temperature'); the model's features are "
                "load, temperature, pressure, flow, vibration",
                "code": "feature_mismatch",
            },
        ),
        "not_enough_rows": (
            "Fewer rows than the lookback",
            {
                "type": "urn:rarewatch:problem:not_enough_rows",
                "title": "Not enough rows",
                "status": 422,
                "detail": "3 rows given, at least 5 (the lookback) are needed",
                "code": "not_enough_rows",
            },
        ),
        "non_finite_values": (
            "NaN, Infinity or 1e400",
            {
                "type": "urn:rarewatch:problem:non_finite_values",
                "title": "Non-finite values",
                "status": 422,
                "detail": "the body holds a non-finite number (NaN, Infinity or one "
                "too large for a double) near character 13; only finite "
                "numbers are accepted",
                "code": "non_finite_values",
            },
        ),
        "invalid_timestamps": (
            "A timestamp without a time zone",
            {
                "type": "urn:rarewatch:problem:invalid_timestamps",
                "title": "Invalid timestamps",
                "status": 422,
                "detail": "timestamps[0] has no time zone; add Z or an offset such as +01:00",
                "code": "invalid_timestamps",
            },
        ),
    },
    500: {
        "internal_error": (
            "The model produced a non-finite score (a bug)",
            {
                "type": "urn:rarewatch:problem:internal_error",
                "title": "Internal server error",
                "status": 500,
                "detail": "the model produced a non-finite score; quote error id "
                "60e8dc762a644a1796db86084f9a527d to the operator",
                "code": "internal_error",
                "id": "60e8dc762a644a1796db86084f9a527d",
            },
        )
    },
    503: {
        "not_ready": (
            "No model loaded and warmed up",
            {
                "type": "urn:rarewatch:problem:not_ready",
                "title": "Not ready",
                "status": 503,
                "detail": "not ready: no model is loaded and warmed up (yet); see the server log",
                "code": "not_ready",
            },
        ),
        "model_unavailable": (
            "A stored model that failed to load",
            {
                "type": "urn:rarewatch:problem:model_unavailable",
                "title": "Model unavailable",
                "status": 503,
                "detail": "model 'pump' failed to load; see the server log",
                "code": "model_unavailable",
            },
        ),
    },
}


def ok(example: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {200: {"content": {"application/json": {"example": example}}}}


def problems(*statuses: int, only: set[str] | None = None) -> dict[int | str, dict[str, Any]]:
    """Problem answers (the examples named in `only`, or all of a status'); app.openapi files
    them under application/problem+json."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        named = {
            name: example
            for name, example in PROBLEMS[status].items()
            if only is None or name in only
        }
        responses[status] = {
            "model": Problem,
            "description": " or ".join(sorted({answer["title"] for _, answer in named.values()})),
            "content": {
                "application/json": {
                    "examples": {
                        name: {"summary": summary, "value": answer}
                        for name, (summary, answer) in named.items()
                    }
                }
            },
        }
    return responses
