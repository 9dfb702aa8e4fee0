"""The OpenAPI examples, read from examples.json: requests and answers captured from real servers.

The detection examples are rows of the demo data around its vibration fault (`index` counts the
rows of the request). READY and MODEL_LIST come from a server whose folder also holds `pump`, a
copy of the demo model with a tampered weights file; RELOAD_RESPONSE is the same server's reload
of a version 2, stored while it served version 1.

scripts/api_docs.py captures the data again (and rewrites docs/api.md from it): never edit it by
hand.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from app.api.schemas import Problem

JSON = dict[str, Any]

_DATA: JSON = json.loads(files(__package__).joinpath("examples.json").read_text("utf-8"))
_SERVED: JSON = _DATA["served"]
_SECURED: JSON = _DATA["secured"]

HEALTH: JSON = _SERVED["health"]
READY: JSON = _SECURED["ready"]
MODEL_LIST: JSON = _SECURED["models"]
MODEL_INFO: JSON = _SERVED["model"]

DETECT_REQUESTS: JSON = {
    "rows": {
        "summary": "Rows, with column names and timestamps",
        "value": _DATA["sample"]["rows"],
    },
    "series": {
        "summary": "Columnar, as dashboard queries produce it",
        "value": _DATA["sample"]["series"],
    },
}
DETECT_RESPONSE: JSON = _SERVED["detect"]
DETECT_LAST_RESPONSE: JSON = _SERVED["detect_last"]

WINDOWS_REQUESTS: JSON = {
    "windows": {
        "summary": f"Two windows of {MODEL_INFO['lookback']} rows (the demo model's lookback)",
        "value": _SERVED["windows_request"],
    },
}
WINDOWS_RESPONSE: JSON = _SERVED["windows"]

RELOAD_RESPONSE: JSON = _SECURED["reload"]

# status -> name -> (summary, answer), by status in capture order; app.api.openapi.with_problems
# shows the one named after an error's code
PROBLEMS: dict[int, dict[str, tuple[str, JSON]]] = {}
for _refusal in _DATA["problems"]:
    PROBLEMS.setdefault(_refusal["status"], {})[_refusal["name"]] = (
        _refusal["summary"],
        _refusal["answer"],
    )


def ok(example: JSON) -> dict[int | str, JSON]:
    return {200: {"content": {"application/json": {"example": example}}}}


def problems(*statuses: int, only: set[str] | None = None) -> dict[int | str, JSON]:
    """Problem answers (the examples named in `only`, or all of a status'); app.api.openapi files
    them under application/problem+json."""
    responses: dict[int | str, JSON] = {}
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
