"""No answer repeats what the client sent: hostile strings in every field of every route's body,
query and path come back in no body and no header, as names, keys, positions or otherwise."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from app.settings import Settings
from tests.app.api.test_bad_input import JSON_TYPE, rows, times
from tests.app.conftest import Server, running
from tests.conftest import TinyModel

API_KEY, ADMIN_KEY = "client-key", "admin-key"
KEYS = {"X-API-Key": API_KEY}
# markup, a long run of non-ASCII letters, control characters and bidirectional overrides; none
# holds a '/', which would only change which route is asked
HOSTILE = {
    "markup": "<img src=x onerror=alert(1)>",
    "long unicode": "\u00e9\u0434\u4e2d\U0001d518" * 300,
    "control characters": "\x00\x01\x07\x1b[31m\x7f\u202ebad\u2028\r\n",
    "quotes": "'\"};alert(`x`);--" + "z" * 30,
}
HEAD_TEXT = 300  # characters of each hostile text sent in a URL, thrice in the longest one
FIELDS = ("values", "columns", "series", "timestamps", "threshold")


def probes(text: str) -> list[str]:
    """What an echo would look like: the text's start (an echo may be cut short), raw, as JSON
    writes it, and percent-encoded as it travels in a URL."""
    start = text[:12]
    return [start, json.dumps(start)[1:-1], quote(start, safe=""), quote(start)]


def bodies(hostile: str) -> dict[str, tuple[str, object]]:
    """(route, JSON body) with the hostile string in each place a client may put text."""
    five = rows()
    series = {"a": [1.0] * 5, "b": [1.0] * 5, "c": [1.0] * 5}
    return {
        "a column name": ("detect", {"values": five, "columns": ["a", "b", hostile]}),
        "a column name, 4 columns": (
            "detect",
            {"values": rows(width=4), "columns": ["a", hostile, "b", "c"], "strict": True},
        ),
        "a series name": ("detect", {"series": {**series, hostile: [1.0] * 5}, "strict": True}),
        "a series name with a bad list": ("detect", {"series": {**series, hostile: [hostile]}}),
        "a series value": ("detect", {"series": {**series, "c": [hostile] * 5}}),
        "an unexpected key": ("detect", {"values": five, hostile: 1}),
        "an unexpected nested key": ("detect", {"values": five, "threshold": {hostile: 1}}),
        "a cell": ("detect/last", {"values": [*five[:4], [1.0, 2.0, hostile]]}),
        "a timestamp": ("detect", {"values": five, "timestamps": [*times(4), hostile]}),
        "every timestamp": ("detect/last", {"values": five, "timestamps": [hostile] * 5}),
        "the threshold": ("detect", {"values": five, "threshold": hostile}),
        "columns as text": ("detect", {"values": five, "columns": hostile}),
        "a window column": (
            "windows",
            {"windows": [rows(n=4)], "columns": [hostile, "b", "c"]},
        ),
        "a window cell": ("windows", {"windows": [[[hostile, 1.0, 1.0]] * 4]}),
        "the body itself": ("detect", hostile),
        "every field": ("detect", dict.fromkeys(FIELDS, hostile)),
    }


@pytest.fixture(scope="module")
def guarded(tiny_model: TinyModel) -> Iterator[Server]:
    settings = Settings(model_dir=tiny_model.store.root, api_keys=[API_KEY], admin_key=ADMIN_KEY)
    with running(settings) as server:
        yield server


@pytest.fixture(scope="module")
def client(guarded: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=guarded.url, timeout=30.0) as http:
        yield http


def assert_no_echo(response: httpx.Response, hostile: str) -> None:
    assert response.status_code < 500, response.text
    answer = response.content.decode("utf-8", errors="replace")
    headers = [f"{name}: {value}" for name, value in response.headers.multi_items()]
    for probe in probes(hostile):
        assert probe not in answer, answer
        for header in headers:
            assert probe not in header, header


@pytest.mark.parametrize("hostile", HOSTILE.values(), ids=HOSTILE.keys())
def test_no_body_field_is_repeated_in_any_answer(client: httpx.Client, hostile: str) -> None:
    for where, (route, content) in bodies(hostile).items():
        response = client.post(
            f"/v1/models/tiny/{route}",
            content=json.dumps(content).encode(),
            headers={"content-type": JSON_TYPE, **KEYS},
        )
        assert response.status_code in {413, 422}, (where, response.text)
        assert_no_echo(response, hostile)


@pytest.mark.parametrize("hostile", HOSTILE.values(), ids=HOSTILE.keys())
def test_no_path_or_query_value_is_repeated_in_any_answer(
    client: httpx.Client, hostile: str
) -> None:
    # the request head is bounded (h11 reads at most 16 KiB of it): a shorter cut of the text
    hostile = hostile[:HEAD_TEXT]
    name = quote(hostile, safe="")
    body = json.dumps({"values": rows()}).encode()
    detect = {"content": body, "headers": {"content-type": JSON_TYPE, **KEYS}}
    requests: list[tuple[str, str, dict[str, object]]] = [
        ("POST", f"/v1/models/{name}/detect", detect),
        ("POST", f"/v1/models/{name}/detect/last", detect),
        ("POST", f"/v1/models/{name}/windows", detect),
        ("GET", f"/v1/models/{name}", {"headers": KEYS}),
        ("POST", f"/v1/models/{name}/reload", {"headers": {"X-API-Key": ADMIN_KEY}}),
        ("POST", f"/v1/models/tiny/detect?version={name}", detect),
        ("GET", f"/v1/models/tiny?version={name}", {"headers": KEYS}),
        ("GET", f"/v1/models/tiny?{name}={name}&version={name}", {"headers": KEYS}),
        ("GET", f"/v1/{name}", {"headers": KEYS}),
        ("GET", f"/static/{name}", {}),
        ("GET", f"/docs/static/{name}", {}),
        ("GET", f"/{name}", {}),
        ("GET", f"/healthz?{name}={name}", {}),
    ]
    for method, path, options in requests:
        response = client.request(method, path, **options)  # type: ignore[arg-type]
        assert response.status_code in {200, 404, 422}, (path, response.text)
        assert_no_echo(response, hostile)


def test_an_unusual_method_is_not_named_back(client: httpx.Client) -> None:
    # the HTTP parser refuses a method it does not know (400); one it knows reaches the router
    response = client.request("PROPFIND", "/v1/models/tiny/detect", headers=KEYS)
    assert response.status_code == 405
    assert "PROPFIND" not in response.text
    assert "this method is not allowed here" in response.json()["detail"]


@pytest.mark.parametrize("hostile", HOSTILE.values(), ids=HOSTILE.keys())
def test_an_ignored_column_is_listed_by_its_position_never_by_its_name(
    client: httpx.Client, hostile: str
) -> None:
    series = {"a": [1.0] * 5, "b": [1.0] * 5, "c": [1.0] * 5}
    lenient = {
        "columns": ("detect", {"values": rows(width=4), "columns": ["a", hostile, "b", "c"]}),
        "series": ("detect/last", {"series": {**series, hostile: [1.0] * 5}}),
    }
    for route, content in lenient.values():
        response = client.post(
            f"/v1/models/tiny/{route}",
            content=json.dumps(content).encode(),
            headers={"content-type": JSON_TYPE, **KEYS},
        )
        assert response.status_code == 200, response.text
        assert response.json()["ignored_columns"] in (["columns[1]"], ["key 3 of series"])
        assert_no_echo(response, hostile)


def test_an_unknown_column_is_named_by_its_position(client: httpx.Client) -> None:
    content = {"values": rows(width=4), "columns": ["a", "x1", "b", "x2"], "strict": True}
    response = client.post(
        "/v1/models/tiny/detect",
        content=json.dumps(content).encode(),
        headers={"content-type": JSON_TYPE, **KEYS},
    )
    detail = response.json()["detail"]
    assert "columns[1], columns[3] are not model features" in detail
    assert "missing: 'c'" in detail  # the model's own names are named


def test_a_bad_series_list_is_located_by_its_key_position(client: httpx.Client) -> None:
    content = {"series": {"a": [1.0] * 5, "b": [1.0] * 5, "zz": ["x"] * 5}}
    response = client.post(
        "/v1/models/tiny/detect",
        content=json.dumps(content).encode(),
        headers={"content-type": JSON_TYPE, **KEYS},
    )
    assert response.json()["errors"][0]["loc"] == ["body", "series", "(key 2)", 0]
