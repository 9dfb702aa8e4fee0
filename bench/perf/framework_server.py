"""The framework's own limit: a bare Starlette endpoint on `rarewatch serve`'s uvicorn settings.

    python -m bench.perf.framework_server --port PORT --answer FILE \
        [--score MODEL_DIR [--graph-only]]

Its /v1/models/{name}/detect/last reads and parses the JSON body (orjson, as rarewatch does) and
answers FILE's bytes, a constant of the size of rarewatch's answer. With --score, it also scores
the body's window with the named model of MODEL_DIR (Detector.detect_last, the library's one
call, as rarewatch's route makes it) before answering the same constant: the floor under any
`/detect/last` that scores the window with this model, with no validation, data-quality
verdict, answer shaping, metrics or middleware. With --graph-only, the scoring is the model's
one ONNX Runtime call alone (its fused scoring graph on the raw rows, models.onnx_scoring),
without the Detector's Python around it: the floor under any implementation with this model
and this runtime. It is served by
app.api.serve.server_config, so with the same protocol class, timeouts and keep-alive as
`rarewatch serve`. bench.perf.framework also times rarewatch's app without some of its
middleware layers (rarewatch_without, bench only).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.api.front import AdmissionMiddleware
from app.api.hosts import AllowedHostsMiddleware
from app.api.metrics import RequestMetricsMiddleware
from app.api.security import APIHeadersMiddleware, APIKeyMiddleware
from app.settings import Settings
from models.artifact import ModelStore
from models.detector import Detector
from models.loading import load_detector
from models.onnx_scoring import ROWS, SCORING_OUTPUTS

LAYERS: dict[str, type] = {
    "Host allow-list (hosts.py)": AllowedHostsMiddleware,
    "API headers (security.py)": APIHeadersMiddleware,
    "API keys (security.py)": APIKeyMiddleware,
    "request metrics (metrics.py)": RequestMetricsMiddleware,
    "overload refusal (front.py)": AdmissionMiddleware,
}


def bare_app(
    answer: bytes,
    settings: Settings,
    middleware: Sequence[Middleware] = (),
    score: Path | None = None,
    graph_only: bool = False,
) -> Starlette:
    """One POST route that parses its JSON body and answers `answer`; /readyz for the start.
    `middleware`: layers around it, the outermost first (bench.perf.framework's profile).
    `score`: a model directory; the route then scores the window with the model its path names
    (loaded on the first request, as rarewatch's registry does) before answering; `graph_only`:
    with its ONNX Runtime call alone."""
    detectors: dict[str, Detector] = {}

    async def detect_last(request: Request) -> Response:
        parsed = orjson.loads(await request.body())
        if score is not None:
            name = request.path_params["name"]
            detector = detectors.get(name)
            if detector is None:
                detector = detectors[name] = load_detector(ModelStore(score), name)
            rows = np.asarray(parsed["values"], dtype=np.float64)
            if not graph_only:
                detector.detect_last(rows)
            elif detector.row_scorer is None:  # no fused scoring graph: no such floor
                raise RuntimeError(f"model {name!r} has no scoring graph to time alone")
            else:
                detector.row_scorer.session.run(SCORING_OUTPUTS, {ROWS: rows})
        return Response(answer, media_type="application/json")

    async def ready(request: Request) -> Response:
        return Response(b'{"status":"ready"}', media_type="application/json")

    app = Starlette(
        routes=[
            Route("/v1/models/{name}/detect/last", detect_last, methods=["POST"]),
            Route("/readyz", ready),
        ],
        middleware=list(middleware),
    )
    app.state.settings = settings  # server_config reads the protocol and timeouts from it
    return app


def rarewatch_layers(app: Any, layers: Sequence[str]) -> list[Middleware]:
    """create_app's middleware of `layers` (LAYERS' keys), as it adds them, outermost first."""
    wanted = tuple(LAYERS[layer] for layer in layers)
    return [m for m in app.user_middleware if m.cls in wanted]


def rarewatch_without(settings: Settings, layers: list[str]) -> Any:
    """create_app's app with the middleware of `layers` (LAYERS' keys) removed before its
    stack is built."""
    from app.api.main import create_app

    app = create_app(settings)
    removed = rarewatch_layers(app, layers)
    app.user_middleware = [m for m in app.user_middleware if m not in removed]
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--answer", type=Path, required=True, help="the constant answer's file")
    parser.add_argument("--score", type=Path, help="score each window with this model directory")
    parser.add_argument("--graph-only", action="store_true", help="score by the ONNX call alone")
    args = parser.parse_args()
    import uvicorn

    from app.api.serve import server_config

    answer = args.answer.read_bytes()
    app = bare_app(answer, Settings(), score=args.score, graph_only=args.graph_only)
    # access_log as `rarewatch serve`'s default (off)
    config = server_config(
        app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False
    )
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
