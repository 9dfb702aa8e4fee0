"""What routes receive through dependencies: the settings, the registry, the detector asked for."""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BeforeValidator, Field
from starlette.concurrency import run_in_threadpool

from app.api.metrics import Metrics
from app.api.registry import Registry
from app.settings import Settings
from models.detector import Detector

VERSION_DIGITS = re.compile(r"[0-9]+")
MAX_VERSION = 2**31 - 1  # past any real version; the schema says so, and clients can check


def _plain_digits(value: object) -> object:
    # int() alone would read "1_0" as 10, and " 1", "+1" or an Arabic-Indic digit one as 1
    if isinstance(value, str) and not VERSION_DIGITS.fullmatch(value):
        raise ValueError("a version is written in plain decimal digits (0-9) only")
    return value


# the bounds go on the integer before the check of its text wraps it, so that the OpenAPI
# document shows them as minimum and maximum
Version = Annotated[int, Field(ge=1, le=MAX_VERSION), BeforeValidator(_plain_digits)]
VersionQuery = Annotated[
    Version | None,
    Query(
        description="Model version, in plain decimal digits; the newest loaded version when not "
        "given.",
        examples=[1],
    ),
]
MAX_PAGE = 1000  # models listed at most by one GET /v1/models
DEFAULT_PAGE = MAX_PAGE
LimitQuery = Annotated[
    int, Query(ge=1, le=MAX_PAGE, description="How many models to list at most.", examples=[100])
]
CursorQuery = Annotated[
    str | None,
    Query(
        max_length=64,
        description="The previous page's `next_cursor`: list the models named after it.",
        examples=["pump-17"],
    ),
]


async def get_registry(request: Request) -> Registry:
    return request.app.state.registry


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics


MetricsDep = Annotated[Metrics, Depends(get_metrics)]
RegistryDep = Annotated[Registry, Depends(get_registry)]


@dataclass(frozen=True, slots=True)
class Scoring:
    """What a detection route needs, resolved as one dependency: FastAPI's cost grows with the
    number of dependencies, and /detect/last answers in well under a millisecond."""

    detector: Detector
    settings: Settings
    metrics: Metrics


async def get_scoring(request: Request, name: str, version: VersionQuery = None) -> Scoring:
    state = request.app.state
    registry: Registry = state.registry
    # the hot path stays on the event loop; only a first request for an old version loads
    detector = registry.cached(name, version)
    if detector is None:
        detector = await run_in_threadpool(registry.get, name, version)
    return Scoring(detector, state.settings, state.metrics)


ScoringDep = Annotated[Scoring, Depends(get_scoring)]


def scoring_call(route: APIRoute) -> Callable[[Request, Any], Awaitable[Response]] | None:
    """For a route whose function takes a body and a Scoring (`f(body, scoring)`, the detection
    routes): a call of it with the body already parsed, validated and its Scoring resolved as
    FastAPI's dependency solving does them (the same checks, errors and order: the version, the
    model, then the body), without that machinery's generic cost on every request. None for
    any other route, which FastAPI's own handler serves."""
    dependant, body_field = route.dependant, route.body_field
    subs = dependant.dependencies
    if (
        body_field is None
        or len(subs) != 1
        or subs[0].call is not get_scoring
        or len(dependant.body_params) != 1
        or dependant.path_params
        or dependant.query_params
        or dependant.header_params
        or dependant.cookie_params
    ):
        return None
    call, body_name, scoring_name = dependant.call, body_field.name, subs[0].name
    assert call is not None
    assert scoring_name is not None
    (version_field,) = subs[0].query_params
    version_loc = ("query", version_field.alias)
    is_coroutine = inspect.iscoroutinefunction(call)

    async def call_route(request: Request, parsed: Any) -> Response:
        errors: list[Any] = []
        given = request.query_params.get(version_field.alias)
        version = None
        if given is not None:
            version, errors = version_field.validate(given, {}, loc=version_loc)
        scoring = None
        if not errors:
            scoring = await get_scoring(request, request.path_params["name"], version)
        body, body_errors = body_field.validate(parsed, {}, loc=("body",))
        errors += body_errors
        if errors:
            raise RequestValidationError(errors, body=parsed)
        arguments = {body_name: body, scoring_name: scoring}
        if is_coroutine:
            response: Response = await call(**arguments)
        else:
            response = await run_in_threadpool(call, **arguments)
        return response

    return call_route
