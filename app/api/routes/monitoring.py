"""Prometheus scrapes /metrics (text exposition format); see app/api/metrics.py for the series."""

from __future__ import annotations

from fastapi import APIRouter, Response

from app.api.deps import MetricsDep
from app.api.metrics import CONTENT_TYPE_LATEST

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "content": {
                CONTENT_TYPE_LATEST: {
                    "example": 'rarewatch_windows_scored_total{model="demo"} 46.0\n'
                }
            }
        }
    },
)
async def metrics(metrics: MetricsDep) -> Response:
    """Requests and latency by route, windows scored and anomalies flagged by model, the last
    score and the threshold by model, model loads by outcome."""
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
