"""Read a model's rows from Prometheus: range queries on the step grid -> rows x features."""

from __future__ import annotations

import asyncio
import math
import ssl
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import numpy as np

from app.watch.config import Connection, PrometheusConfig, WatchedModel


class QueryFailed(Exception):
    """A read that gave no rows; `reason` is the failed-tick counter's label."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


# the reasons, as the failed-tick counter labels them
UNREACHABLE, HTTP_ERROR, QUERY_ERROR, EMPTY = "unreachable", "http_error", "query_error", "empty"


@dataclass(frozen=True, slots=True)
class Rows:
    times: np.ndarray  # (n_rows,) datetime64[ns] UTC, one per step, oldest first
    values: np.ndarray  # (n_rows, n_features) float64, NaN where Prometheus had no sample


class RowReader(Protocol):
    """Where a tick and a refit read a model's rows: Prometheus in the watch, generated rows in
    bench.watch_delay's replay."""

    async def rows(
        self, watched: WatchedModel, features: list[str], end: float, n_rows: int
    ) -> Rows:
        """The `n_rows` grid points up to `end` (on the grid), in `features`' order."""
        ...


def grid_end(now: float, step: float) -> float:
    """The newest point of the step grid at or before `now` (epoch seconds): every read of a
    model lands on the same grid, whenever its tick runs."""
    return math.floor(now / step) * step


def http_client(
    connection: Connection, headers: dict[str, str] | None = None, base_url: str = ""
) -> httpx.AsyncClient:
    """An HTTP client with the connection's credentials, CA and timeout."""
    headers = dict(headers or {})
    auth = None
    if connection.basic_auth is not None:
        basic = connection.basic_auth
        auth = httpx.BasicAuth(basic.username, basic.password.get_secret_value())
    if connection.bearer_token is not None:
        headers["Authorization"] = f"Bearer {connection.bearer_token.get_secret_value()}"
    verify: bool | ssl.SSLContext = True
    if connection.ca_file is not None:
        # a context, not the file's path: httpx deprecates `verify=<path>` (a warning per client)
        verify = ssl.create_default_context(cafile=str(connection.ca_file))
    return httpx.AsyncClient(
        base_url=base_url, auth=auth, headers=headers, verify=verify, timeout=connection.timeout_s
    )


class PrometheusReader:
    def __init__(self, config: PrometheusConfig) -> None:
        self._client = http_client(config, base_url=config.url.rstrip("/"))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def rows(
        self, watched: WatchedModel, features: list[str], end: float, n_rows: int
    ) -> Rows:
        """The `n_rows` grid points up to `end` (on the grid), in `features`' order."""
        step = watched.step
        start = end - (n_rows - 1) * step
        values = np.full((n_rows, len(features)), np.nan)
        if watched.queries is not None:
            answers = await asyncio.gather(
                *(self._range(watched.queries[f], start, end, step) for f in features)
            )
            for column, (feature, series) in enumerate(zip(features, answers, strict=True)):
                kept = [s for s in series if _kept(s, watched.keep)]
                if len(kept) > 1:
                    raise QueryFailed(
                        QUERY_ERROR,
                        f"the query of feature {feature!r} gives {len(kept)} series, not 1 "
                        "(narrow it, or pick one with keep)",
                    )
                if kept:
                    _place(kept[0], values[:, column], start, step)
        else:
            assert watched.query is not None
            assert watched.feature_label is not None
            series = await self._range(watched.query, start, end, step)
            seen: set[str] = set()
            for one in (s for s in series if _kept(s, watched.keep)):
                feature = one.get("metric", {}).get(watched.feature_label)
                if feature not in features:
                    continue
                if feature in seen:
                    raise QueryFailed(
                        QUERY_ERROR,
                        f"more than one series has {watched.feature_label}={feature!r} "
                        "(narrow the query, or pick one with keep)",
                    )
                seen.add(feature)
                _place(one, values[:, features.index(feature)], start, step)
        if np.isnan(values).all():
            raise QueryFailed(EMPTY, f"no samples for {watched.model!r} in the rows asked for")
        offsets = np.arange(n_rows, dtype=np.int64) * round(step * 1e9)
        times = np.datetime64(round(start * 1e9), "ns") + offsets.astype("timedelta64[ns]")
        return Rows(times, values)

    async def _range(self, query: str, start: float, end: float, step: float) -> list[Any]:
        params = {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step}"}
        try:
            answer = await self._client.get("/api/v1/query_range", params=params)
        except httpx.TransportError as exc:
            raise QueryFailed(UNREACHABLE, f"Prometheus cannot be reached ({exc!r})") from None
        try:
            body = answer.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise QueryFailed(HTTP_ERROR, f"Prometheus answered HTTP {answer.status_code}")
        if body.get("status") != "success":
            # Prometheus says 400/422 for a bad query, 503/5xx for its own trouble
            reason = QUERY_ERROR if answer.status_code in (400, 422) else HTTP_ERROR
            raise QueryFailed(reason, f"Prometheus: {body.get('error', answer.status_code)}")
        data = body.get("data", {})
        if data.get("resultType") != "matrix":
            raise QueryFailed(QUERY_ERROR, "the query does not give a range of samples (a matrix)")
        result: list[Any] = data.get("result", [])
        return result


def _kept(series: dict[str, Any], keep: dict[str, str]) -> bool:
    labels = series.get("metric", {})
    return all(labels.get(name) == value for name, value in keep.items())


def _place(series: dict[str, Any], column: np.ndarray, start: float, step: float) -> None:
    """The series' samples into their grid rows of `column`; Prometheus' NaN and infinities
    become missing values."""
    points = series.get("values", [])
    if not points:
        return
    times = np.array([float(t) for t, _ in points])
    samples = np.array([float(v) for _, v in points])
    samples[~np.isfinite(samples)] = np.nan  # the detector takes a non-finite sample as missing
    rows = np.rint((times - start) / step).astype(np.int64)
    inside = (rows >= 0) & (rows < len(column))
    column[rows[inside]] = samples[inside]
