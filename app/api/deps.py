"""What routes receive through dependencies: the settings, the registry, the detector asked for."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
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
