"""What routes receive through dependencies: the settings, the registry, the detector asked for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from app.api.metrics import Metrics
from app.api.registry import Registry
from app.settings import Settings
from models.detector import Detector

VersionQuery = Annotated[
    int | None,
    Query(
        ge=1, description="Model version; the newest loaded version when not given.", examples=[1]
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
