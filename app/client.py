"""A small synchronous client for the rarewatch API, for dashboards' Python glue and the tests.

    from app.client import Client

    with Client("http://127.0.0.1:8000") as rarewatch:
        answer = rarewatch.detect_last("demo", values=rows, columns=names, timestamps=times)
        if answer["results"][0]["is_anomaly"]: ...

Answers are the JSON documents described in docs/api.md, as dicts. An error answer raises
RarewatchAPIError with the problem+json fields.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict, Unpack

import httpx
import orjson

JSON = dict[str, Any]


class RequestOptions(TypedDict, total=False):
    """A request's own choices; one left out takes the model's (or the server's) own."""

    threshold: float  # the line above which a window is anomalous
    fill: str | Mapping[str, Any]  # "linear", "fixed:0", ... or {"method": ..., "max_gap": rows}
    strict: bool  # refuse columns that are not the model's features instead of ignoring them


class RarewatchAPIError(Exception):
    """An error answer: `status`, `code`, `title`, `detail`, and `errors` / `id` where given."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        self.code: str = problem.get("code", "http_error")
        self.title: str = problem.get("title", "")
        self.detail: str = problem.get("detail", "")
        self.errors: list[dict[str, Any]] | None = problem.get("errors")
        self.id: str | None = problem.get("id")
        self.problem = dict(problem)
        super().__init__(f"{status} {self.code}: {self.detail}")


class Client:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._http = httpx.Client(base_url=base_url, timeout=timeout, transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def detect(
        self,
        name: str,
        values: Any = None,
        *,
        columns: Sequence[str] | None = None,
        series: Mapping[str, Any] | None = None,
        timestamps: Sequence[Any] | None = None,
        version: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> JSON:
        """Score every window. `values`: rows x features (lists, a numpy array or a DataFrame,
        whose column names become `columns`); or `series`: {feature: values}. `options`:
        `threshold`, `fill` (how missing values, NaN or None, are filled: `"linear"`,
        `"previous"`, `"zero"`, `"fixed:<value>"`, `"none"` or `{"method": ..., "max_gap": rows}`)
        and `strict` (refuse columns that are not the model's features)."""
        body = _series_body(values, columns, series, timestamps) | _drop_none({**options})
        return self._post(f"/v1/models/{name}/detect", body, version)

    def detect_last(
        self,
        name: str,
        values: Any = None,
        *,
        columns: Sequence[str] | None = None,
        series: Mapping[str, Any] | None = None,
        timestamps: Sequence[Any] | None = None,
        version: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> JSON:
        """Score only the newest window (send at least `lookback` rows); `options` as in
        `detect`."""
        body = _series_body(values, columns, series, timestamps) | _drop_none({**options})
        return self._post(f"/v1/models/{name}/detect/last", body, version)

    def detect_windows(
        self,
        name: str,
        windows: Any,
        *,
        columns: Sequence[str] | None = None,
        version: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> JSON:
        """Score windows x lookback x features, already temporalized; `options` as in `detect`."""
        body = _drop_none({"windows": windows, "columns": columns, **options})
        return self._post(f"/v1/models/{name}/windows", body, version)

    def models(self) -> JSON:
        return self._send("GET", "/v1/models")

    def model(self, name: str, version: int | None = None) -> JSON:
        return self._send("GET", f"/v1/models/{name}", params=_version(version))

    def health(self) -> JSON:
        return self._send("GET", "/healthz")

    def ready(self) -> JSON:
        return self._send("GET", "/readyz")

    def _post(self, path: str, body: JSON, version: int | None) -> JSON:
        # orjson encodes numpy arrays and datetimes itself; NaN becomes null: a missing value
        content = orjson.dumps(body, default=_encode, option=orjson.OPT_SERIALIZE_NUMPY)
        headers = {"content-type": "application/json"}
        return self._send("POST", path, content=content, headers=headers, params=_version(version))

    def _send(self, method: str, path: str, **options: Any) -> JSON:
        response = self._http.request(method, path, **options)
        if response.is_success:
            return response.json()
        try:
            problem = response.json()
        except ValueError:
            problem = {}
        if not isinstance(problem, dict):
            problem = {}
        problem.setdefault("detail", response.reason_phrase)
        raise RarewatchAPIError(response.status_code, problem)


def _series_body(
    values: Any,
    columns: Sequence[str] | None,
    series: Mapping[str, Any] | None,
    timestamps: Sequence[Any] | None,
) -> JSON:
    if values is not None and hasattr(values, "columns") and hasattr(values, "to_numpy"):
        columns = [str(c) for c in values.columns] if columns is None else columns
        values = values.to_numpy()
    _refuse_infinity(values)
    if series is not None:
        for column in series.values():
            _refuse_infinity(column)
        series = {k: v.tolist() if hasattr(v, "tolist") else v for k, v in series.items()}
    if timestamps is not None and hasattr(timestamps, "tolist"):
        timestamps = timestamps.tolist()
    return _drop_none(
        {
            "values": values,
            "columns": None if columns is None else list(columns),
            "series": series,
            "timestamps": None if timestamps is None else list(timestamps),
        }
    )


def _refuse_infinity(values: Any) -> None:
    """orjson writes infinity as null, which the API reads as a missing value and fills: an
    infinite number is refused here instead, as the API refuses one sent as a number."""
    if getattr(getattr(values, "dtype", None), "kind", None) == "f":
        import numpy as np

        if np.isinf(values).any():
            raise ValueError("values hold infinity; send finite numbers, NaN where missing")


def _encode(value: Any) -> Any:
    """What orjson does not encode itself: non-contiguous arrays, pandas and numpy scalars/times."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot send a {type(value).__name__} as JSON")


def _drop_none(body: JSON) -> JSON:
    return {key: value for key, value in body.items() if value is not None}


def _version(version: int | None) -> dict[str, int]:
    return {} if version is None else {"version": version}
