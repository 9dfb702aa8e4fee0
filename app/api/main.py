"""The app factory: settings in, a FastAPI app out; models load and warm up in its lifespan."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.concurrency import run_in_threadpool

from app.api.admission import Admission, Reception
from app.api.front import AdmissionMiddleware
from app.api.hosts import AllowedHostsMiddleware, Hosts
from app.api.lifecycle import rescan_on_sighup, rescan_periodically
from app.api.limits import Limits
from app.api.metrics import Metrics, RequestMetricsMiddleware
from app.api.openapi import problem_openapi
from app.api.problems import install_problem_handlers
from app.api.registry import Registry
from app.api.routes import detect, docs, health, models, monitoring, page
from app.api.security import APIHeadersMiddleware, APIKeyMiddleware, Keys
from app.settings import Settings
from models.artifact import ModelStore

DESCRIPTION = """\
Anomaly detection for multivariate time series. Each model is an LSTM autoencoder: a series is
cut into windows of `lookback` rows, each window is reconstructed, and its reconstruction error
(the **score**) is compared with the model's **threshold**. Errors are
`application/problem+json` with a stable `code`.
"""


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    registry: Registry = app.state.registry
    # off the event loop: every model's manifest is checked (the models load on first use)
    await run_in_threadpool(registry.scan)
    # The libraries leave many long-lived objects that every full garbage collection walks
    # again, and shaping a large answer triggers several: frozen, they are skipped.
    gc.collect()
    gc.freeze()
    # A large request allocates hundreds of thousands of floats and lists while parsed,
    # validated and answered: a rarer youngest-generation collection runs far fewer passes on
    # those and costs nothing on small requests (bench.perf.breakdown times large requests).
    gc.set_threshold(50_000, 20, 20)
    registry.serving = True
    remove_sighup_handler = rescan_on_sighup(app)
    stop_rescans = rescan_periodically(registry, app.state.settings.rescan_interval_s)
    try:
        yield
    finally:
        registry.stop()
        stop_rescans()
        remove_sighup_handler()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    app = FastAPI(
        title="rarewatch",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # served from the package by routes/docs.py: FastAPI's own pages load them from a CDN
        docs_url=None,
        redoc_url=None,
        # rarewatch exports its own Prometheus metrics; without this FastAPI asks OpenTelemetry
        # on every request whether a provider was configured
        telemetry={"tracing": False, "metrics": False, "logs": False},
        # no redirect from /path/ to /path: Starlette builds its Location from the Host header
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    app.state.registry = Registry(
        ModelStore(settings.model_dir),
        settings.max_older_versions,
        settings.engine,
        settings.max_loaded_models,
        app.state.metrics,
        settings.max_loaded_models_mb,
    )
    app.state.admission = Admission.of(settings)
    app.state.reception = Reception.of(settings)
    app.state.limits = Limits.of(settings)
    app.state.keys = Keys.of(settings)
    # the last added runs first: the headers (on every answer), Host names, CORS (preflights
    # need no key), metrics (401s are counted), keys, the overload refusal (before routing)
    app.add_middleware(
        AdmissionMiddleware, admission=app.state.admission, routes=detect.router.routes
    )
    app.add_middleware(APIKeyMiddleware, keys=app.state.keys)
    app.add_middleware(RequestMetricsMiddleware, metrics=app.state.metrics)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=False,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-API-Key"],
            expose_headers=["Retry-After"],
        )
    app.add_middleware(
        AllowedHostsMiddleware, hosts=Hosts(settings.allowed_hosts, bound_to=settings.host)
    )
    app.add_middleware(APIHeadersMiddleware)
    install_problem_handlers(app)
    # detection first: routes are matched in order, and /detect/last is the hot path
    for routes in (detect, health, monitoring, models):
        app.include_router(routes.router)
    app.include_router(page.router)  # the web page at GET /, out of the OpenAPI document
    app.include_router(docs.router)  # /docs and /redoc, also out of it
    app.openapi = partial(problem_openapi, app)  # type: ignore[method-assign]
    return app
