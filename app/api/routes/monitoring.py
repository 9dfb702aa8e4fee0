"""Prometheus scrapes /metrics (text exposition format); see app/api/metrics.py for the series.
The key it needs, if any, is checked by app/api/security.py before the route runs."""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.api.deps import MetricsDep
from app.api.metrics import CONTENT_TYPE_LATEST
from app.api.openapi import with_problems
from app.api.problems import Forbidden, Unauthorized

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses=with_problems(
        {
            200: {
                "content": {
                    CONTENT_TYPE_LATEST: {
                        "example": 'rarewatch_windows_scored_total{model="demo"} 46.0\n'
                    }
                }
            }
        },
        Unauthorized,
        Forbidden,
    ),
)
async def metrics(metrics: MetricsDep) -> Response:
    """Requests and latency by route, windows scored and anomalies flagged by model, the last
    score and the threshold by model, model loads by outcome. Needs RAREWATCH_METRICS_KEY or an
    API key once either is set."""
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
