"""What is served: the models, their versions, features, thresholds, training and layers; and
the admin's reload of a model's newest version."""

from __future__ import annotations

from fastapi import APIRouter, Response
from starlette.concurrency import run_in_threadpool

from app.api import examples
from app.api.deps import DEFAULT_PAGE, CursorQuery, LimitQuery, RegistryDep, VersionQuery
from app.api.openapi import with_problems
from app.api.problems import Forbidden, ReloadFailed, Unauthorized
from app.api.responses import JSONResponse, model_info, model_list
from app.api.schemas import ModelInfo, ModelList, ReloadResult
from app.api.security import AdminDep
from models.in_use import read_in_use

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get(
    "",
    response_model=ModelList,
    summary="List the models served",
    responses=with_problems(
        examples.ok(examples.MODEL_LIST) | examples.problems(422, only={"validation_error"}),
        Unauthorized,
        Forbidden,
    ),
)
def list_models(
    registry: RegistryDep, limit: LimitQuery = DEFAULT_PAGE, cursor: CursorQuery = None
) -> Response:
    """The models served, by name, at the version served by default (its newest), whether in
    memory or not (none is loaded to list it); `limit` at a time, the next page after
    `cursor=` the previous page's `next_cursor`."""
    return JSONResponse(model_list(registry, limit, cursor))


@router.get(
    "/{name}",
    response_model=ModelInfo,
    summary="Describe a model version",
    responses=with_problems(
        examples.ok(examples.MODEL_INFO)
        | examples.problems(404)
        | examples.problems(503, only={"model_unavailable"})
        | examples.problems(422, only={"version_error"}),
        Unauthorized,
        Forbidden,
    ),
)
def describe_model(name: str, registry: RegistryDep, version: VersionQuery = None) -> Response:
    """Features, lookback, threshold and method, the quantiles of normal validation errors,
    the training summary and the layer table (layer, output shape, params); and, once
    `rarewatch watch` has used the model, the version it uses and why."""
    version, spec = registry.spec(name, version)
    in_use = read_in_use(registry.store.root, name)
    return JSONResponse(model_info(name, version, registry.versions(name), spec, in_use))


@router.post(
    "/{name}/reload",
    response_model=ReloadResult,
    summary="Serve the newest stored version (admin)",
    responses=with_problems(
        examples.ok(examples.RELOAD_RESPONSE)
        | examples.problems(404, only={"model_not_found"})
        | examples.problems(422, only={"validation_error"}),
        Unauthorized,
        Forbidden,
        ReloadFailed,
    ),
)
async def reload(name: str, registry: RegistryDep, _: AdminDep) -> Response:
    """Load the newest stored version (a model `rarewatch train` just wrote, say), verify its
    manifest and warm it up, then swap it in; requests never wait for it and none fails. On
    any failure the version served so far stays (409). Needs the admin key
    (RAREWATCH_ADMIN_KEY); SIGHUP rescans every model (one in memory is reloaded the same way,
    one not in memory is checked and loaded on its next request)."""
    reloaded = await run_in_threadpool(registry.reload, name)
    return JSONResponse(
        {
            "name": reloaded.name,
            "version": reloaded.version,
            "previous_version": reloaded.previous_version,
            "reloaded": reloaded.reloaded,
        }
    )
