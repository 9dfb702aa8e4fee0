"""Liveness (never touches a model) and readiness (the model folder scanned, every model's
newest version checked; each loads on its first request)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.api import examples
from app.api.deps import RegistryDep
from app.api.problems import NotReady
from app.api.responses import JSONResponse, unavailable_models
from app.api.schemas import Health, Readiness
from app.api.security import Keys

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
    summary="Readiness: the models found and checked",
    responses=examples.ok(examples.READY) | examples.problems(503, only={"not_ready"}),
)
async def readyz(request: Request, registry: RegistryDep) -> Response:
    """200 once the model folder is scanned and every model's newest version checked (its
    manifest and detector.json; each loads and warms up on its first request), even if some
    failed (listed with why, as is a model that failed at its first load); 503 before, from
    the moment shutdown begins, or when no model passed its check. With
    RAREWATCH_API_KEYS set, only a caller with an API key (or the metrics key) is told which
    models; a probe without one gets the status alone."""
    keys: Keys = request.app.state.keys
    detailed = keys.may_read_readiness(request.headers)
    unavailable = unavailable_models(registry) if detailed else []
    if not registry.ready:
        detail = "not ready: no model is found and checked (yet); see the server log"
        if registry.stopping:
            detail = "not ready: shutting down"
        raise NotReady(detail, unavailable or None)
    if not detailed:
        return JSONResponse({"status": "ready"})
    return JSONResponse(
        {"status": "ready", "models": registry.served(), "unavailable": unavailable}
    )
