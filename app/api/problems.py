"""Every error the API answers, as application/problem+json (RFC 9457) with a stable `code`.

Domain errors (models.errors) carry their own code and status; the API adds the few below.
No handler ever puts the request body, or any value from it, into the answer.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from models.errors import RarewatchError

log = logging.getLogger("rarewatch.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:rarewatch:problem:"
MAX_LISTED_ERRORS = 20  # a body with 100 000 bad cells gets a short answer, not a long one
MAX_LOC_TEXT = 64  # dictionary keys sent by the client are cut to this length in `errors`


class UnsupportedMediaType(RarewatchError):
    code = "unsupported_media_type"
    status = 415
    title = "Unsupported media type"


class BodyTooLarge(RarewatchError):
    code = "body_too_large"
    status = 413
    title = "Request body too large"


class InvalidJSON(RarewatchError):
    code = "invalid_json"
    status = 400
    title = "Invalid JSON"


class InvalidTimestamps(RarewatchError):
    code = "invalid_timestamps"
    status = 422
    title = "Invalid timestamps"


class NotReady(RarewatchError):
    code = "not_ready"
    status = 503
    title = "Not ready"

    def __init__(self, detail: str, unavailable: list[dict[str, str]] | None = None) -> None:
        super().__init__(detail)
        self.extra = {} if unavailable is None else {"unavailable": unavailable}


class ModelUnavailable(RarewatchError):
    """A stored model that failed to load (bad artifact): known, but not servable."""

    code = "model_unavailable"
    status = 503
    title = "Model unavailable"


class LimitExceeded(RarewatchError):
    """More rows, features or windows in one request than the settings allow."""

    code = "limit_exceeded"
    status = 413
    title = "Request over a limit"


class Overloaded(RarewatchError):
    """Every inference slot is busy and the queue is full: answered at once, never queued."""

    code = "overloaded"
    status = 503
    title = "Overloaded"

    def __init__(self, detail: str, retry_after_s: int) -> None:
        super().__init__(detail)
        self.headers = {"Retry-After": str(retry_after_s)}


class RequestTimeout(RarewatchError):
    """The body did not arrive in time: a slow sender must not hold a place in the queue."""

    code = "request_timeout"
    status = 408
    title = "Request timeout"


class Unauthorized(RarewatchError):
    code = "unauthorized"
    status = 401
    title = "Unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.headers = {"WWW-Authenticate": 'Bearer realm="rarewatch"'}


class Forbidden(RarewatchError):
    code = "forbidden"
    status = 403
    title = "Forbidden"


class ReloadFailed(RarewatchError):
    """A new version could not be loaded, verified or warmed up; the old one is still served."""

    code = "reload_failed"
    status = 409  # the stored version conflicts with serving it; not a bug of the service
    title = "Reload failed"


class ProblemResponse(Response):
    media_type = PROBLEM_MEDIA_TYPE

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def problem(status: int, code: str, title: str, detail: str, **extra: Any) -> ProblemResponse:
    body = {
        "type": TYPE_PREFIX + code,
        "title": title,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return ProblemResponse(body, status_code=status)


async def rarewatch_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RarewatchError)
    # overload is answered thousands of times a second: counted in the metrics, never logged
    if exc.status >= 500 and not isinstance(exc, Overloaded):
        log.error("%s %s: %s: %s", request.method, request.url.path, exc.code, exc.detail)
    # an error may carry extension members (`extra`) and headers (Retry-After, WWW-Authenticate)
    response = problem(exc.status, exc.code, exc.title, exc.detail, **getattr(exc, "extra", {}))
    response.headers.update(getattr(exc, "headers", {}))
    return response


async def validation_error(request: Request, exc: Exception) -> Response:
    """FastAPI's own 422 lists every input value it refused; this lists where and why only."""
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    listed = [
        {"loc": [_loc_part(p) for p in e["loc"]], "type": e["type"], "msg": e["msg"]}
        for e in errors[:MAX_LISTED_ERRORS]
    ]
    more = f", the first {MAX_LISTED_ERRORS} are listed" if len(errors) > MAX_LISTED_ERRORS else ""
    return problem(
        422,
        "validation_error",
        "Request does not match the schema",
        f"{len(errors)} error(s) in the request{more}; see `errors` for where",
        errors=listed,
    )


async def http_error(request: Request, exc: Exception) -> Response:
    """Routing errors (no such path, method not allowed) in the same shape as the rest."""
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    detail = exc.detail if isinstance(exc.detail, str) else "the request cannot be served"
    response = problem(exc.status_code, code, _reason(exc.status_code), detail)
    response.headers.update(exc.headers or {})
    return response


async def non_finite_score(request: Request, exc: Exception) -> Response:
    """The Detector refuses to return a non-finite score: a model fault, never the client's."""
    return internal_error(request, exc, "the model produced a non-finite score")


async def unexpected_error(request: Request, exc: Exception) -> Response:
    return internal_error(request, exc, "an unexpected error occurred")


def internal_error(request: Request, exc: Exception, what: str) -> Response:
    error_id = uuid.uuid4().hex
    log.error("error id %s: %s %s", error_id, request.method, request.url.path, exc_info=exc)
    return problem(
        500,
        "internal_error",
        "Internal server error",
        f"{what}; quote error id {error_id} to the operator",
        id=error_id,
    )


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RarewatchError, rarewatch_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(ArithmeticError, non_finite_score)
    app.add_exception_handler(Exception, unexpected_error)


def _loc_part(part: int | str) -> int | str:
    return part if isinstance(part, int) else str(part)[:MAX_LOC_TEXT]


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
