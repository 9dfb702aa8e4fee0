"""Liveness (never touches a model) and readiness (models loaded and warmed)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from app import examples
from app.deps import RegistryDep
from app.problems import NotReady
from app.responses import JSONResponse
from app.schemas import Health, Readiness

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    response_model=Health,
    summary="Liveness: the process answers",
    responses=examples.ok(examples.HEALTH),
)
async def healthz() -> Response:
    """Never touches a model: 200 as long as the process serves requests."""
    return JSONResponse({"status": "ok"})


@router.get(
    "/readyz",
    response_model=Readiness,
    summary="Readiness: models loaded and warmed up",
    responses=examples.ok(examples.READY) | examples.problems(503, only={"not_ready"}),
)
async def readyz(registry: RegistryDep) -> Response:
    """200 once the models are loaded and warmed up; 503 before, on shutdown, or without any."""
    if not registry.ready:
        raise NotReady("not ready: no model is loaded and warmed up (yet); see the server log")
    return JSONResponse({"status": "ready", "models": registry.loaded_models()})
