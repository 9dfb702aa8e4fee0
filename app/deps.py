"""What routes receive through dependencies: the settings, the registry, the detector asked for."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from app.metrics import Metrics
from app.registry import Registry
from app.settings import Settings
from models.detector import Detector

VersionQuery = Annotated[
    int | None,
    Query(
        ge=1, description="Model version; the newest loaded version when not given.", examples=[1]
    ),
]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_registry(request: Request) -> Registry:
    return request.app.state.registry  # type: ignore[no-any-return]


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics  # type: ignore[no-any-return]


SettingsDep = Annotated[Settings, Depends(get_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
RegistryDep = Annotated[Registry, Depends(get_registry)]


async def get_detector(registry: RegistryDep, name: str, version: VersionQuery = None) -> Detector:
    # the hot path stays on the event loop; only a first request for an old version loads
    detector = registry.cached(name, version)
    if detector is None:
        detector = await run_in_threadpool(registry.get, name, version)
    return detector


DetectorDep = Annotated[Detector, Depends(get_detector)]
