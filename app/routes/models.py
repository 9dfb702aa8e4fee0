"""What is served: the models, their versions, features, thresholds, training and layers."""

from __future__ import annotations

from fastapi import APIRouter, Response

from app import examples
from app.deps import RegistryDep, VersionQuery
from app.responses import JSONResponse, model_info, model_list
from app.schemas import ModelInfo, ModelList

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get(
    "",
    response_model=ModelList,
    summary="List the models served",
    responses=examples.ok(examples.MODEL_LIST),
)
def list_models(registry: RegistryDep) -> Response:
    """Every model served, at the version served by default (its newest)."""
    return JSONResponse(model_list(registry))


@router.get(
    "/{name}",
    response_model=ModelInfo,
    summary="Describe a model version",
    responses=examples.ok(examples.MODEL_INFO)
    | examples.problems(404, 503)
    | examples.problems(422, only={"version_error"}),
)
def describe_model(name: str, registry: RegistryDep, version: VersionQuery = None) -> Response:
    """Features, lookback, threshold and method, the quantiles of normal validation errors,
    the training summary and the layer table (layer, output shape, params)."""
    version, spec = registry.spec(name, version)
    return JSONResponse(model_info(name, version, registry.versions(name), spec))
