"""The OpenAPI document, with every error answer filed under application/problem+json."""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.api import examples
from app.api.problems import PROBLEM_MEDIA_TYPE, answer_of
from app.api.schemas import Problem
from models.errors import RarewatchError

Responses = dict[int | str, dict[str, Any]]


def with_problems(responses: Responses, *errors: type[RarewatchError]) -> Responses:
    """`responses` plus these errors' answers, each with the example app/api/examples.json holds
    under its code (captured by scripts/api_docs.py; tests/app check that none is missing)."""
    merged = copy.deepcopy(responses)
    for error in errors:
        known = answer_of(error)
        status, title = known.status, known.title
        answer = merged.setdefault(
            status, {"model": Problem, "description": "", "content": {"application/json": {}}}
        )
        captured = examples.PROBLEMS.get(status, {}).get(error.code)
        titles = {t for t in answer["description"].split(" or ") if t} | {title}
        answer["description"] = " or ".join(sorted(titles))
        if captured is not None:
            summary, value = captured
            content = answer["content"]["application/json"]
            content.setdefault("examples", {})[error.code] = {"summary": summary, "value": value}
    return merged


def problem_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        for path in schema["paths"].values():
            for operation in path.values():
                for status, response in operation.get("responses", {}).items():
                    content = response.get("content", {})
                    if status[0] in "45" and "application/json" in content:
                        content[PROBLEM_MEDIA_TYPE] = content.pop("application/json")
        if app.state.keys.required:
            _document_keys(schema)
        app.openapi_schema = schema
    return app.openapi_schema


def _document_keys(schema: dict[str, Any]) -> None:
    """With RAREWATCH_API_KEYS set, every /v1 operation and /metrics need a key (either
    header)."""
    schema.setdefault("components", {})["securitySchemes"] = {
        "APIKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        "Bearer": {"type": "http", "scheme": "bearer"},
    }
    for path, operations in schema["paths"].items():
        if path.startswith("/v1/") or path == "/metrics":
            for operation in operations.values():
                operation["security"] = [{"APIKey": []}, {"Bearer": []}]
