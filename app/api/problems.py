"""Every error the API answers, as application/problem+json (RFC 9457) with a stable `code`.

Errors carry a code and a detail only: the domain's (models.errors) and the API's own below
alike. ANSWERS maps each code to its status and title, the one place where an error meets HTTP.
No handler ever puts the request body, or any value from it, into the answer.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from app.api.schemas import DetectRequest, WindowsRequest
from models.errors import ModelFault, RarewatchError
from models.wording import plural

log = logging.getLogger("rarewatch.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:rarewatch:problem:"
MAX_LISTED_ERRORS = 20  # a body with 100 000 bad cells gets a short answer, not a long one
# every API answer carries these (security.APIHeadersMiddleware); a 500 is answered outside the
# middleware stack, so internal_error sets them itself
API_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
# the names a request's `loc` may show: the location kinds and every request schema's fields;
# any other key of an object in the body was chosen by the client and is shown by its position
SCHEMA_NAMES = frozenset(
    {"body", "query", "path", "header", "cookie"}
    | {name for schema in (DetectRequest, WindowsRequest) for name in schema.model_fields}
)
# the methods a 405 names; any other token is the client's own text
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class UnsupportedMediaType(RarewatchError):
    code = "unsupported_media_type"


# The answers to a body that is not read whole close the connection: what the client sends
# after them would otherwise be read as the rest of that body.
CLOSE = {"Connection": "close"}


class BodyTooLarge(RarewatchError):
    code = "body_too_large"
    headers = CLOSE


class InvalidJSON(RarewatchError):
    code = "invalid_json"


class NotReady(RarewatchError):
    code = "not_ready"

    def __init__(self, detail: str, unavailable: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.extra = {} if unavailable is None else {"unavailable": unavailable}


class ModelUnavailable(RarewatchError):
    """A stored model that failed to load (bad artifact): known, but not servable."""

    code = "model_unavailable"


class LimitExceeded(RarewatchError):
    """More rows, features or windows in one request than the settings allow."""

    code = "limit_exceeded"


class Overloaded(RarewatchError):
    """Every inference slot is busy and the queue is full: answered at once, never queued."""

    code = "overloaded"

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after_s)}


class RequestTimeout(RarewatchError):
    """The body did not arrive in time: a slow sender must not hold a place in the queue."""

    code = "request_timeout"
    headers = CLOSE


class Unauthorized(RarewatchError):
    code = "unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.headers = {"WWW-Authenticate": 'Bearer realm="rarewatch"'}


class Forbidden(RarewatchError):
    code = "forbidden"


class HostNotAllowed(RarewatchError):
    """A Host header naming none of the server's names (app.api.hosts)."""

    code = "host_not_allowed"


class ReloadFailed(RarewatchError):
    """A new version could not be loaded, verified or warmed up; the old one is still served."""

    code = "reload_failed"


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    title: str


ANSWERS: dict[str, Answer] = {
    # the domain's errors (models.errors, models.onnx_export)
    "rarewatch_error": Answer(400, "Bad request"),
    "invalid_input": Answer(422, "Invalid input"),
    "not_enough_rows": Answer(422, "Not enough rows"),
    "feature_mismatch": Answer(422, "Features do not match the model"),
    "non_finite_values": Answer(422, "Non-finite values"),
    "invalid_labels": Answer(422, "Invalid labels"),
    "invalid_timestamps": Answer(422, "Invalid timestamps"),
    "model_not_found": Answer(404, "Model not found"),
    "artifact_invalid": Answer(500, "Model artifact is invalid"),
    "onnx_export_mismatch": Answer(500, "ONNX export does not match Keras"),
    # the API's own errors (above)
    "unsupported_media_type": Answer(415, "Unsupported media type"),
    "body_too_large": Answer(413, "Request body too large"),
    "invalid_json": Answer(400, "Invalid JSON"),
    "not_ready": Answer(503, "Not ready"),
    "model_unavailable": Answer(503, "Model unavailable"),
    "limit_exceeded": Answer(413, "Request over a limit"),
    "overloaded": Answer(503, "Overloaded"),
    "request_timeout": Answer(408, "Request timeout"),
    "unauthorized": Answer(401, "Unauthorized"),
    "forbidden": Answer(403, "Forbidden"),
    "host_not_allowed": Answer(400, "Host not allowed"),
    # the stored version conflicts with serving it; not a bug of the service
    "reload_failed": Answer(409, "Reload failed"),
    # answered by the handlers below: the schema, the router, and every bug
    "validation_error": Answer(422, "Request does not match the schema"),
    "not_found": Answer(404, HTTPStatus.NOT_FOUND.phrase),
    "method_not_allowed": Answer(405, HTTPStatus.METHOD_NOT_ALLOWED.phrase),
    "internal_error": Answer(500, "Internal server error"),
}
# Starlette's own HTTPExceptions by status; any other status is answered as http_error
ROUTING_CODES = {404: "not_found", 405: "method_not_allowed"}
MODEL_PATHS = "/v1/models/"


def answer_of(error: type[RarewatchError]) -> Answer:
    """The error's answer, or its nearest parent's: a subclass without a code of its own
    answers as the class it refines."""
    for cls in error.__mro__:
        answer = ANSWERS.get(getattr(cls, "code", ""))
        if answer is not None:
            return answer
    return ANSWERS[RarewatchError.code]


class ProblemResponse(Response):
    media_type = PROBLEM_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def problem(code: str, detail: str, answer: Answer | None = None, **extra: Any) -> ProblemResponse:
    """The problem+json answer for `code`, with its status and title from ANSWERS."""
    answer = answer or ANSWERS[code]
    body = {
        "type": TYPE_PREFIX + code,
        "title": answer.title,
        "status": answer.status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return ProblemResponse(body, status_code=answer.status)


async def rarewatch_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RarewatchError)
    answer = answer_of(type(exc))
    # overload is answered thousands of times a second: counted in the metrics, never logged
    if answer.status >= 500 and not isinstance(exc, Overloaded):
        log.error("%s %s: %s: %s", request.method, request.url.path, exc.code, exc.detail)
    # an error may carry extension members (`extra`) and headers (Retry-After, WWW-Authenticate)
    response = problem(exc.code, exc.detail, answer, **getattr(exc, "extra", {}))
    response.headers.update(getattr(exc, "headers", {}))
    return response


async def validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's own 422 lists every input value it refused; this lists where and why only."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    listed = [
        {"loc": _location(e["loc"], exc.body), "type": e["type"], "msg": e["msg"]}
        for e in errors[:MAX_LISTED_ERRORS]
    ]
    more = f", the first {MAX_LISTED_ERRORS} are listed" if len(errors) > MAX_LISTED_ERRORS else ""
    return problem(
        "validation_error",
        f"{plural(len(errors), 'error')} in the request{more}; see `errors` for where",
        errors=listed,
    )


async def http_error(request: Request, exc: Exception) -> Response:
    """Routing errors (no such path, method not allowed) in the same shape as the rest."""
    assert isinstance(exc, StarletteHTTPException)
    code = ROUTING_CODES.get(exc.status_code, "http_error")
    answer = ANSWERS.get(code) or Answer(exc.status_code, _reason(exc.status_code))
    detail = exc.detail if isinstance(exc.detail, str) else "the request cannot be served"
    if detail == answer.title:  # the router's own, which says no more than the status
        detail = _routing_detail(request, exc.status_code, exc.headers or {}) or detail
    response = problem(code, detail, answer)
    response.headers.update(exc.headers or {})
    return response


async def model_fault(request: Request, exc: Exception) -> Response:
    """The Detector refuses to return a non-finite score: a model fault, never the client's."""
    return internal_error(request, exc, "the model produced a non-finite score")


async def unexpected_error(request: Request, exc: Exception) -> Response:
    return internal_error(request, exc, "an unexpected error occurred")


def internal_error(request: Request, exc: Exception, what: str) -> Response:
    error_id = uuid.uuid4().hex
    log.error("error id %s: %s %s", error_id, request.method, request.url.path, exc_info=exc)
    response = problem(
        "internal_error", f"{what}; quote error id {error_id} to the operator", id=error_id
    )
    response.headers.update(API_HEADERS)
    return response


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RarewatchError, rarewatch_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(ModelFault, model_fault)
    app.add_exception_handler(Exception, unexpected_error)


def _routing_detail(request: Request, status: int, headers: Mapping[str, str]) -> str | None:
    if status == 405 and "Allow" in headers:
        method = request.method if request.method in KNOWN_METHODS else "this method"
        return f"{method} is not allowed here; this path takes {headers['Allow']}"
    if status != 404:
        return None
    # a usual cause under /v1/models/: a name with a '/' in it, which no route can match
    if request.url.path.startswith(MODEL_PATHS):
        return "no such path; the paths are listed at /docs (a model name cannot hold a '/')"
    return "no such path; the paths are listed at /docs"


def _location(loc: Sequence[int | str], body: Any) -> list[int | str]:
    """`loc` with every key the client chose (an unexpected field, a `series` name) replaced by
    its position among its object's keys, "(key 2)": never the client's own text."""
    if not loc or loc[0] != "body":
        return list(loc)  # query, path: the names of the parameters the routes declare
    shown: list[int | str] = ["body"]
    node = body
    for depth, part in enumerate(loc[1:], start=1):
        if isinstance(part, int):
            shown.append(part)
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
        elif isinstance(node, dict) and part in node:
            known = depth == 1 and part in SCHEMA_NAMES  # a field of the request schema
            shown.append(part if known else f"(key {list(node).index(part)})")
            node = node[part]
        elif node is None and part not in SCHEMA_NAMES:
            shown.append("(key)")  # the body could not be followed here: it may be a key
        else:
            shown.append(part)  # a missing field, or pydantic's name for a branch of a schema
    return shown


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
