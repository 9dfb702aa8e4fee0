"""Regenerate app/api/examples.py (the OpenAPI examples) and docs/api.md from real servers.

Every request and answer in both files is captured, never written by hand:

1. The demo model is trained into a temporary model folder exactly as `rarewatch serve --demo`
   trains it (app.api.serve.ensure_demo_model; the training is seeded, so the same code and
   libraries give the same model).
2. A real server, `python -m app.cli --model-dir DIR serve --port P`, is started on a free
   127.0.0.1 port; once /readyz answers 200 it is sent the example requests and the refused
   ones (limits and a reload without an admin key included), and it is always stopped afterwards.
3. A second real server, started with RAREWATCH_API_KEYS, RAREWATCH_ADMIN_KEY and
   RAREWATCH_CORS_ORIGINS in its environment, serves a folder of its own: version 1 of the demo
   model and `pump`, a copy of it with one byte of its weights changed (so readiness and the
   model list show an unavailable model). It is sent a request without a key (401), a reload
   with an API key (403) and a CORS preflight; then version 1 is copied to version 2 and
   reloaded with the admin key (200, and a second reload that changes nothing), and a tampered
   copy written as version 3 is reloaded (409, version 2 still served).
4. The answers a healthy server never gives come from in-process servers: over deliberately
   broken copies of the demo model, a copy with a tampered weights file, the only model of its
   folder (503 model_unavailable, and 503 not_ready since nothing could load), and a copy whose
   reconstruction bias is NaN, loaded by the real loader and registered without the warm-up
   that would refuse it (500 internal_error: it really scores, and really fails); and, over the
   demo model with the default settings, 503 overloaded with Retry-After, sent while as many
   detection requests as the settings admit are held half-sent.
5. Both files are rewritten; app/api/examples.py goes through `ruff format`.

Every answer's status and `code` (and, where the docs name one, its header) is checked as it is
captured; the script stops at the first surprise.

Run it from anywhere (about a minute on two cores, most of it training the demo model):

    .venv/bin/python scripts/api_docs.py [--model-dir DIR]

--model-dir trains the demo model into DIR, or reuses the one DIR already has (it must be a
demo model trained by the current code); DIR is only read, the reload examples get a folder of
their own. RAREWATCH_* variables are ignored, so the examples show the default settings (the
second server's keys and origin are the script's own).

Re-running gives the same files apart from three fields that cannot repeat: the model's
`created` time and training `seconds` (only when the model is trained again), and the random
`id` of the internal error.
"""

# ruff: noqa: E402, E501 (app is imported from this checkout; the page's tables have one row a line)

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import pprint
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from fastapi import FastAPI

REPO = Path(__file__).resolve().parents[1]
# the checkout this script belongs to, not whichever rarewatch is installed: the server it
# starts runs this checkout's code, and the in-process parts must match it
sys.path.insert(0, str(REPO))

from app.api.main import create_app
from app.api.serve import DEMO_MODEL, ensure_demo_model, serving_in_thread
from app.settings import Settings
from models.artifact import WEIGHTS_FILE, ModelStore
from models.demo import DEMO_FEATURES, demo_frame
from models.detector import Detector
from models.loading import load_detector

JSON = dict[str, Any]

EXAMPLES_FILE = REPO / "app" / "examples.py"
DOCS_FILE = REPO / "docs" / "api.md"

# The detection examples: rows 1290-1298 of the demo data, around a vibration fault.
FIRST_ROW, N_ROWS = 1290, 9
START_TIMEOUT_S = 120.0
BROKEN_MODEL = "pump"  # the tampered copy's name
DETECT = f"/v1/models/{DEMO_MODEL}/detect"
RELOAD = f"/v1/models/{DEMO_MODEL}/reload"
# the keys and the browser origin of the second server (made up for the examples)
API_KEYS = ("client-key-1", "client-key-2")
ADMIN_KEY = "admin-key"
CORS_ORIGIN = "https://dash.example"
SECURED_ENVIRONMENT = {
    "RAREWATCH_API_KEYS": ",".join(API_KEYS),
    "RAREWATCH_ADMIN_KEY": ADMIN_KEY,
    "RAREWATCH_CORS_ORIGINS": CORS_ORIGIN,
}


# -- the example series ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """The demo rows every detection example sends."""

    values: list[list[float]]  # rows x features, the model's feature order
    timestamps: list[str]
    fault_index: int  # the request row where the labelled fault starts

    def rows_body(self) -> JSON:
        return {"values": self.values, "columns": DEMO_FEATURES, "timestamps": self.timestamps}

    def series_body(self) -> JSON:
        columns = zip(*self.values, strict=True)
        series = {f: list(column) for f, column in zip(DEMO_FEATURES, columns, strict=True)}
        return {"series": series, "timestamps": self.timestamps}

    def windows_body(self, lookback: int) -> JSON:
        """The first and the last window of the series."""
        return {"windows": [self.values[:lookback], self.values[-lookback:]]}


def demo_sample() -> Sample:
    part = demo_frame().iloc[FIRST_ROW : FIRST_ROW + N_ROWS]
    faulty = np.flatnonzero(part["label"].to_numpy() == 1)
    if len(faulty) == 0:
        raise SystemExit(f"the demo rows {FIRST_ROW}-{FIRST_ROW + N_ROWS - 1} hold no fault")
    return Sample(
        values=part[DEMO_FEATURES].to_numpy().tolist(),
        timestamps=part["timestamp"].tolist(),
        fault_index=int(faulty[0]),
    )


# -- requests and what they are filed as -----------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """A request that must be refused: the answer's status and code are checked when captured."""

    name: str  # the example's name in the OpenAPI document
    status: int
    code: str
    summary: str  # what is wrong with the request
    method: str
    path: str
    body: bytes | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)  # sent besides the content type
    answer_header: str | None = None  # a header the answer must carry (docs/api.md shows it)


@dataclass(frozen=True)
class Refusal:
    """A refused request and the server's answer to it."""

    case: Case
    answer: JSON
    header: str = ""  # "Name: value" of the answer's header that case.answer_header names


def refused_requests(sample: Sample, settings: Settings) -> list[Case]:
    """What the demo server (default settings) is sent to show its errors."""
    values = sample.values
    five_rows = _json({"values": values[:5]})
    misnamed = ["temp" if feature == "temperature" else feature for feature in DEMO_FEATURES]
    too_many_columns = [f"feature_{i}" for i in range(settings.max_features + 1)]
    no_zone = [t.removesuffix("Z") for t in sample.timestamps[:5]]
    backwards = sample.timestamps[:5][::-1]
    model = f"/v1/models/{DEMO_MODEL}"
    return [
        Case(
            "invalid_json", 400, "invalid_json", "Not valid JSON",
            "POST", DETECT, b'{"values": [[1, 2, 3, 4, 5],',
        ),
        Case(
            "forbidden", 403, "forbidden", "A reload while RAREWATCH_ADMIN_KEY is not set",
            "POST", RELOAD,
        ),
        Case(
            "model_not_found", 404, "model_not_found", "No such model",
            "POST", "/v1/models/turbine/detect", five_rows,
        ),
        Case(
            "version_not_found", 404, "model_not_found", "No such version",
            "GET", f"{model}?version=7",
        ),
        Case(
            "body_too_large", 413, "body_too_large", "Body over RAREWATCH_MAX_BODY_BYTES",
            "POST", DETECT, b"[" * (settings.max_body_bytes + 1),
        ),
        Case(
            "limit_exceeded", 413, "limit_exceeded",
            f"{len(too_many_columns):,} columns, over RAREWATCH_MAX_FEATURES",
            "POST", DETECT, _json({"values": values[:5], "columns": too_many_columns}),
        ),
        Case(
            "unsupported_media_type", 415, "unsupported_media_type", "Not sent as JSON",
            "POST", DETECT, five_rows, content_type="text/plain",
        ),
        Case(
            "validation_error", 422, "validation_error",
            "A string where a number belongs, a misspelt field",
            "POST", DETECT, b'{"values": [[50.1, "40.2", 3.0, 35.0, 1.0]], "colums": ["load"]}',
        ),
        Case(
            "version_error", 422, "validation_error", "A version that is not a positive integer",
            "GET", f"{model}?version=latest",
        ),
        Case(
            "feature_mismatch", 422, "feature_mismatch", "Rows of the wrong width",
            "POST", DETECT, _json({"values": [row[:4] for row in values[:5]]}),
        ),
        Case(
            "unknown_column", 422, "feature_mismatch", "A column the model does not know",
            "POST", DETECT, _json({"values": values[:5], "columns": misnamed}),
        ),
        Case(
            "not_enough_rows", 422, "not_enough_rows", "Fewer rows than the lookback",
            "POST", f"{DETECT}/last", _json({"values": values[:3]}),
        ),
        Case(
            "non_finite_values", 422, "non_finite_values", "NaN, Infinity or 1e400",
            "POST", DETECT, b'{"values": [[NaN, 40.2, 3.0, 35.0, 1.0]]}',
        ),
        Case(
            "invalid_timestamps", 422, "invalid_timestamps", "A timestamp without a time zone",
            "POST", DETECT, _json({"values": values[:5], "timestamps": no_zone}),
        ),
        Case(
            "timestamps_out_of_order", 422, "invalid_timestamps", "Timestamps that do not increase",
            "POST", DETECT, _json({"values": values[:5], "timestamps": backwards}),
        ),
    ]  # fmt: skip


def secured_requests(sample: Sample) -> tuple[Case, Case, Case]:
    """What the server with keys is sent: no key, an API key where the admin key belongs, and
    (once a tampered version 3 is stored) a reload that must fail."""
    return (
        Case(
            "unauthorized", 401, "unauthorized", "No API key while RAREWATCH_API_KEYS is set",
            "POST", DETECT, _json({"values": sample.values[:5]}),
            answer_header="WWW-Authenticate",
        ),
        Case(
            "not_admin", 403, "forbidden", "An API key, not the admin key, on the admin route",
            "POST", RELOAD, headers={"X-API-Key": API_KEYS[0]},
        ),
        Case(
            "reload_failed", 409, "reload_failed",
            "The newest stored version fails to load (a tampered copy)",
            "POST", RELOAD, headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        ),
    )  # fmt: skip


def fault_requests(sample: Sample) -> tuple[Case, Case, Case]:
    """not_ready and model_unavailable from a folder holding only the tampered copy;
    internal_error once the NaN copy is registered as the demo model."""
    body = _json(sample.rows_body())
    return (
        Case(
            "not_ready", 503, "not_ready", "No model loaded and warmed up",
            "GET", "/readyz",
        ),
        Case(
            "model_unavailable", 503, "model_unavailable", "A stored model that failed to load",
            "POST", f"/v1/models/{BROKEN_MODEL}/detect", body,
        ),
        Case(
            "internal_error", 500, "internal_error",
            "The model produced a non-finite score (a bug)",
            "POST", DETECT, body,
        ),
    )  # fmt: skip


def overload_request(sample: Sample) -> Case:
    return Case(
        "overloaded", 503, "overloaded",
        "Every inference slot and every place in the queue taken",
        "POST", f"{DETECT}/last", _json(sample.rows_body()), answer_header="Retry-After",
    )  # fmt: skip


def _json(body: JSON) -> bytes:
    return json.dumps(body).encode()


# -- capturing -------------------------------------------------------------------------------------


@dataclass
class Served:
    """What the demo server (default settings) answered."""

    health: JSON
    model: JSON
    detect: JSON
    detect_last: JSON
    windows_request: JSON
    windows: JSON
    refusals: list[Refusal]


@dataclass
class Secured:
    """What the server with keys answered, over a folder with a broken model beside the demo."""

    ready: JSON
    models: JSON
    reload: JSON  # version 2 swapped in
    reload_again: JSON  # nothing newer: nothing changed
    cors_request: list[str]  # the preflight's headers, "Name: value"
    cors_answer: list[str]  # the answer's status line and access-control headers
    refusals: list[Refusal]


@dataclass
class Captures:
    """Everything the two files show, as the servers answered it."""

    sample: Sample
    served: Served
    secured: Secured
    problems: dict[str, Refusal]  # name -> every refused request, by status, in capture order

    @classmethod
    def of(cls, sample: Sample, served: Served, secured: Secured, more: list[Refusal]) -> Captures:
        refusals = sorted([*served.refusals, *secured.refusals, *more], key=lambda r: r.case.status)
        problems = {refusal.case.name: refusal for refusal in refusals}
        if len(problems) != len(refusals):
            raise SystemExit("two refused requests have the same name")
        return cls(sample, served, secured, problems)

    def answer(self, name: str) -> JSON:
        return self.problems[name].answer


def send(client: httpx.Client, case: Case) -> Refusal:
    headers = {"content-type": case.content_type} if case.body is not None else {}
    response = client.request(
        case.method, case.path, content=case.body, headers=headers | case.headers
    )
    answer: JSON = response.json()
    if (response.status_code, answer.get("code")) != (case.status, case.code):
        raise SystemExit(
            f"{case.name}: expected {case.status} {case.code}, got {response.status_code}: {answer}"
        )
    if case.answer_header is None:
        return Refusal(case, answer)
    value = response.headers.get(case.answer_header)
    if value is None:
        raise SystemExit(f"{case.name}: the answer has no {case.answer_header} header")
    return Refusal(case, answer, f"{case.answer_header}: {value}")


def get_ok(client: httpx.Client, path: str, headers: dict[str, str] | None = None) -> JSON:
    return _ok(client.get(path, headers=headers))


def post_ok(
    client: httpx.Client, path: str, body: JSON | None, headers: dict[str, str] | None = None
) -> JSON:
    return _ok(client.post(path, json=body, headers=headers))


def _ok(response: httpx.Response) -> JSON:
    if response.status_code != 200:
        request = response.request
        raise SystemExit(f"{request.method} {request.url}: {response.status_code} {response.text}")
    answer: JSON = response.json()
    return answer


def capture_from_server(client: httpx.Client, sample: Sample) -> Served:
    model = get_ok(client, f"/v1/models/{DEMO_MODEL}")
    if model["features"] != DEMO_FEATURES:
        raise SystemExit(f"the demo model's features changed: {model['features']}")
    detect = post_ok(client, DETECT, sample.rows_body())
    if post_ok(client, DETECT, sample.series_body()) != detect:
        raise SystemExit("rows and series of the same data got different answers")
    windows_request = sample.windows_body(model["lookback"])
    return Served(
        health=get_ok(client, "/healthz"),
        model=model,
        detect=detect,
        detect_last=post_ok(client, f"{DETECT}/last", sample.rows_body()),
        windows_request=windows_request,
        windows=post_ok(client, f"/v1/models/{DEMO_MODEL}/windows", windows_request),
        refusals=[send(client, case) for case in refused_requests(sample, Settings())],
    )


def capture_secured(demo_store: ModelStore, work: Path, sample: Sample) -> Secured:
    """The keys, CORS and the reloads, from a real server over a folder of its own."""
    store = ModelStore(work / "secured")
    _, source = demo_store.resolve(DEMO_MODEL)
    shutil.copytree(source, store.root / DEMO_MODEL / "1")
    tampered_copy(demo_store, store.root / BROKEN_MODEL / "1")
    unauthorized, not_admin, reload_failed = secured_requests(sample)
    key = {"X-API-Key": API_KEYS[1]}
    admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    with (
        demo_server(store.root, work / "secured.log", SECURED_ENVIRONMENT) as url,
        httpx.Client(base_url=url, timeout=60.0) as client,
    ):
        ready = get_ok(client, "/readyz")  # open to all, keys or not
        models = get_ok(client, "/v1/models", key)
        if [m["name"] for m in ready["unavailable"]] != [BROKEN_MODEL]:
            raise SystemExit(f"the tampered {BROKEN_MODEL} is not listed as unavailable: {ready}")
        refusals = [send(client, unauthorized), send(client, not_admin)]
        cors_request, cors_answer = preflight(client)

        shutil.copytree(store.root / DEMO_MODEL / "1", store.root / DEMO_MODEL / "2")
        reload = post_ok(client, RELOAD, None, admin)
        expected = {"name": DEMO_MODEL, "version": 2, "previous_version": 1, "reloaded": True}
        if reload != expected:
            raise SystemExit(f"reloading version 2 answered {reload}")
        reload_again = post_ok(client, RELOAD, None, admin)
        if reload_again["reloaded"] or reload_again["version"] != 2:
            raise SystemExit(f"a reload without a newer version answered {reload_again}")

        tampered_copy(store, store.root / DEMO_MODEL / "3")
        refusals.append(send(client, reload_failed))
        served = post_ok(client, DETECT, sample.rows_body(), key)["model"]["version"]
        if served != 2:
            raise SystemExit(f"after the failed reload version {served} answers, not version 2")
    return Secured(ready, models, reload, reload_again, cors_request, cors_answer, refusals)


def preflight(client: httpx.Client) -> tuple[list[str], list[str]]:
    """A browser's CORS preflight from the allowed origin: answered without a key."""
    request = {
        "Origin": CORS_ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type, x-api-key",
    }
    response = client.options(DETECT, headers=request)
    allowed = response.headers.get("access-control-allow-origin")
    if response.status_code != 200 or allowed != CORS_ORIGIN:
        raise SystemExit(f"the CORS preflight got {response.status_code}, origin {allowed}")
    if "access-control-allow-credentials" in response.headers:
        raise SystemExit("the CORS preflight allows credentials")
    answer = [f"{response.http_version} {response.status_code} {response.reason_phrase}"] + [
        f"{name}: {value}"
        for name, value in response.headers.items()
        if name.startswith("access-control-")
    ]
    return [f"{name}: {value}" for name, value in request.items()], answer


def capture_faults(demo_store: ModelStore, work: Path, sample: Sample) -> list[Refusal]:
    not_ready, unavailable, internal = fault_requests(sample)
    broken_folder = work / "broken"
    tampered_copy(demo_store, broken_folder / BROKEN_MODEL / "1")
    nan_model = nan_copy(demo_store, ModelStore(work / "nan"))
    with quiet_rarewatch_log(), in_process_server(Settings(model_dir=broken_folder)) as server:
        app, url = server
        with httpx.Client(base_url=url, timeout=30.0) as client:
            refusals = [send(client, case) for case in (not_ready, unavailable)]
            app.state.registry.add(nan_model)
            refusals.append(send(client, internal))
    return refusals


def capture_overload(model_dir: Path, sample: Sample) -> Refusal:
    """503 overloaded from the demo model with the default settings: as many detection requests
    as they admit (running and queued) are sent all but their last bytes, which keeps them
    admitted; the next one is refused. The held ones are then completed and must be served."""
    settings = Settings(model_dir=model_dir)
    bound = settings.max_concurrent_inferences + settings.max_queued_requests
    case = overload_request(sample)
    assert case.body is not None
    with quiet_rarewatch_log(), in_process_server(settings) as server:
        app, url = server
        port = httpx.URL(url).port
        assert port is not None
        held = [hold(port, case.path, case.body) for _ in range(bound)]
        try:
            deadline = time.monotonic() + 30.0
            while app.state.admission.admitted < bound:
                if time.monotonic() > deadline:
                    raise SystemExit("the held requests were not admitted")
                time.sleep(0.02)
            with httpx.Client(base_url=url, timeout=30.0) as client:
                refusal = send(client, case)
        finally:
            statuses = [complete(sock, case.body[-1:]) for sock in held]
    if statuses != [200] * bound:
        raise SystemExit(f"the held requests were answered {statuses}, not all 200")
    if refusal.header != f"Retry-After: {settings.retry_after_s}":
        raise SystemExit(f"the overload answer has {refusal.header!r}")
    return refusal


def hold(port: int, path: str, body: bytes) -> socket.socket:
    """A detection request sent but for the last byte of its body: admitted, never finished."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30.0)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    sock.sendall(head.encode() + body[:-1])
    return sock


def complete(sock: socket.socket, rest: bytes) -> int:
    """Send the rest of a held request; its answer's status."""
    with sock:
        sock.sendall(rest)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0


def check_claims(served: Served) -> None:
    """What docs/api.md says about the answers, checked on them: /detect/last's result is
    /detect's last one, and /windows scores its two windows as /detect does."""
    results = served.detect["results"]
    if served.detect_last["results"] != results[-1:]:
        raise SystemExit("/detect/last did not answer /detect's last result")
    for got, expected in zip(served.windows["results"], (results[0], results[-1]), strict=True):
        if not math.isclose(got["score"], expected["score"], rel_tol=1e-6):
            raise SystemExit(f"/windows scored {got['score']}, /detect {expected['score']}")


# -- broken copies of the demo model ---------------------------------------------------------------


def tampered_copy(demo_store: ModelStore, target: Path) -> None:
    """The demo model's newest version with one byte of its weights changed: its SHA-256
    manifest no longer matches, so the server refuses to load it."""
    _, source = demo_store.resolve(DEMO_MODEL)
    shutil.copytree(source, target)
    weights = target / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))


def nan_copy(demo_store: ModelStore, store: ModelStore) -> Detector:
    """The demo model with a NaN reconstruction bias, stored with a valid manifest but without
    its ONNX graph, and loaded as the server loads models (here by the TensorFlow engine).

    Every window it reconstructs is NaN. The server's warm-up would refuse to serve it; this
    detector skips that warm-up, so a request reaches the non-finite score check and gets 500.
    """
    stored = demo_store.open(DEMO_MODEL)
    weights = stored.weights()
    weights[-1] = np.full_like(weights[-1], np.nan)  # the last layer's bias
    store.write(DEMO_MODEL, stored.spec, weights)
    return load_detector(store, DEMO_MODEL)


# -- servers ---------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def demo_server(
    model_dir: Path, log_path: Path, environment: dict[str, str] | None = None
) -> Iterator[str]:
    """`rarewatch serve` as a real process on a free port, with these RAREWATCH_* variables set;
    yields its URL once /readyz is 200."""
    port = free_port()
    command = [sys.executable, "-m", "app.cli", "--model-dir", str(model_dir)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "serve", "--port", str(port)],
            cwd=REPO,
            stdout=log,
            stderr=log,
            env=os.environ | (environment or {}),
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_ready(url, process, log_path)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_ready(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if httpx.get(f"{url}/readyz", timeout=5.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    lines = log_path.read_text(errors="replace").splitlines()
    log = "\n".join(line for line in lines if "/readyz" not in line)[-3000:]
    raise SystemExit(f"the demo server did not become ready; its log ends with:\n{log}")


@contextmanager
def in_process_server(settings: Settings) -> Iterator[tuple[FastAPI, str]]:
    """create_app(settings) served by uvicorn in a thread; yields (app, URL)."""
    app = create_app(settings)
    with serving_in_thread(app, START_TIMEOUT_S) as url:
        yield app, url


@contextmanager
def quiet_rarewatch_log() -> Iterator[None]:
    """The broken copies make the app log errors and a traceback on purpose: not shown."""
    logger = logging.getLogger("rarewatch")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)  # the module loggers below it inherit the level
    try:
        yield
    finally:
        logger.setLevel(level)


# -- severity, worked out from the captured numbers ------------------------------------------------


@dataclass(frozen=True)
class SeverityExample:
    threshold: float
    median: float  # validation_error_quantiles["0.5"]
    step: float
    result: JSON  # the first anomalous result of the /detect example

    @property
    def ratio(self) -> float:
        return float(self.result["score"]) / self.threshold

    @property
    def steps(self) -> float:
        return math.log(self.ratio) / math.log(self.step)


def severity_step(threshold: float, median: float) -> float:
    return threshold / median if 0 < median < threshold else 2.0


def severity_of(score: float, threshold: float, median: float) -> float:
    """The formula docs/api.md states, computed independently of models.scoring."""
    if score <= threshold:
        return 0.0
    steps = math.log(score / threshold) / math.log(severity_step(threshold, median))
    return 1.0 - math.exp(-steps)


def severity_example(captures: Captures) -> SeverityExample:
    """The demo model's numbers; fails if any captured severity disagrees with the formula."""
    threshold = float(captures.served.model["threshold"]["value"])
    median = float(captures.served.model["validation_error_quantiles"]["0.5"])
    for answer in (captures.served.detect, captures.served.detect_last, captures.served.windows):
        for result in answer["results"]:
            expected = severity_of(result["score"], threshold, median)
            if not math.isclose(result["severity"], expected, rel_tol=1e-9, abs_tol=1e-12):
                raise SystemExit(
                    f"severity {result['severity']} of score {result['score']} is not what the "
                    f"documented formula gives ({expected}): update the formula in this script"
                )
    flagged = [r for r in captures.served.detect["results"] if r["is_anomaly"]]
    if not flagged:
        raise SystemExit("the /detect example flags no window: choose other demo rows")
    return SeverityExample(threshold, median, severity_step(threshold, median), flagged[0])


# -- app/api/examples.py -------------------------------------------------------------------------------


def render_examples(captures: Captures) -> str:
    problems: dict[int, dict[str, tuple[str, JSON]]] = {}
    for name, refusal in captures.problems.items():  # already by status
        case = refusal.case
        problems.setdefault(case.status, {})[name] = (case.summary, refusal.answer)
    sample = captures.sample
    source = f'''"""Examples for the OpenAPI document: requests and answers captured from `rarewatch serve --demo`.

The detection examples are rows {FIRST_ROW}-{FIRST_ROW + N_ROWS - 1} of the demo data, around the vibration fault that starts
at row {FIRST_ROW + sample.fault_index} (`index` counts the rows of the request).

READY and MODEL_LIST come from a server whose folder also holds `{BROKEN_MODEL}`, a copy of the demo
model with a tampered weights file. RELOAD_RESPONSE is the same server's reload of a version 2,
stored while it served version 1.

Generated by scripts/api_docs.py, with docs/api.md: run it again rather than editing this file.
"""

from __future__ import annotations

from typing import Any

from app.api.schemas import Problem

HEALTH: dict[str, Any] = {_literal(captures.served.health)}

READY: dict[str, Any] = {_literal(captures.secured.ready)}

MODEL_LIST: dict[str, Any] = {_literal(captures.secured.models)}

MODEL_INFO: dict[str, Any] = {_literal(captures.served.model)}

DETECT_ROWS: dict[str, Any] = {_literal(sample.rows_body())}

DETECT_SERIES: dict[str, Any] = {_literal(sample.series_body())}

DETECT_REQUESTS: dict[str, Any] = {{
    "rows": {{
        "summary": "Rows, with column names and timestamps",
        "value": DETECT_ROWS,
    }},
    "series": {{
        "summary": "Columnar, as dashboard queries produce it",
        "value": DETECT_SERIES,
    }},
}}

DETECT_RESPONSE: dict[str, Any] = {_literal(captures.served.detect)}

DETECT_LAST_RESPONSE: dict[str, Any] = {_literal(captures.served.detect_last)}

WINDOWS_REQUESTS: dict[str, Any] = {{
    "windows": {{
        "summary": "Two windows of {captures.served.model["lookback"]} rows (the demo model's lookback)",
        "value": {_literal(captures.served.windows_request)},
    }},
}}

WINDOWS_RESPONSE: dict[str, Any] = {_literal(captures.served.windows)}

RELOAD_RESPONSE: dict[str, Any] = {_literal(captures.secured.reload)}

# status -> name -> (summary, answer); app.api.openapi.with_problems shows the one named after an
# error's code
PROBLEMS: dict[int, dict[str, tuple[str, dict[str, Any]]]] = {_literal(problems)}


def ok(example: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {{200: {{"content": {{"application/json": {{"example": example}}}}}}}}


def problems(*statuses: int, only: set[str] | None = None) -> dict[int | str, dict[str, Any]]:
    """Problem answers (the examples named in `only`, or all of a status'); app.api.openapi files
    them under application/problem+json."""
    responses: dict[int | str, dict[str, Any]] = {{}}
    for status in statuses:
        named = {{
            name: example
            for name, example in PROBLEMS[status].items()
            if only is None or name in only
        }}
        responses[status] = {{
            "model": Problem,
            "description": " or ".join(sorted({{answer["title"] for _, answer in named.values()}})),
            "content": {{
                "application/json": {{
                    "examples": {{
                        name: {{"summary": summary, "value": answer}}
                        for name, (summary, answer) in named.items()
                    }}
                }}
            }},
        }}
    return responses
'''
    return ruff_format(source, EXAMPLES_FILE)


def _literal(value: Any) -> str:
    return pprint.pformat(value, width=100, sort_dicts=False)


def ruff_format(source: str, path: Path) -> str:
    formatted = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--stdin-filename", str(path), "-"],
        input=source,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    if formatted.returncode != 0:
        raise SystemExit(f"ruff format failed on the generated {path.name}:\n{formatted.stderr}")
    return formatted.stdout


# -- docs/api.md -----------------------------------------------------------------------------------


def _block(value: Any) -> str:
    return f"```json\n{_json_text(value)}\n```"


def _json_text(value: Any, indent: str = "") -> str:
    """JSON laid out for reading: one member or item a line, except that a list of numbers (a
    row of values), and a short list or object of plain values, stay on one line."""
    if _on_one_line(value):
        return json.dumps(value)
    inner = indent + "  "
    if isinstance(value, dict):
        members = (f"{inner}{json.dumps(key)}: {_json_text(v, inner)}" for key, v in value.items())
        return "{\n" + ",\n".join(members) + f"\n{indent}}}"
    items = (inner + _json_text(item, inner) for item in value)
    return "[\n" + ",\n".join(items) + f"\n{indent}]"


def _on_one_line(value: Any) -> bool:
    if not isinstance(value, dict | list) or not value:
        return True
    items = value.values() if isinstance(value, dict) else value
    if any(isinstance(item, dict | list) for item in items):
        return False
    numbers = isinstance(value, list) and all(isinstance(item, int | float) for item in value)
    return numbers or len(json.dumps(value)) <= 72


def render_docs(captures: Captures) -> str:
    sections = [
        doc_intro(),
        doc_running(),
        doc_conventions(),
        doc_health(captures),
        doc_models(captures),
        doc_detect(captures),
        doc_results(captures, severity_example(captures)),
        doc_reload(captures),
        doc_keys(captures),
        doc_limits(captures),
        doc_shutdown(),
        doc_errors(captures),
        doc_client(captures),
    ]
    return "\n".join(sections)


def doc_intro() -> str:
    return f"""\
# rarewatch HTTP API

rarewatch serves its trained models over HTTP: send a multivariate series, get back a score per
window, which windows are anomalous, how severe they are, which features caused them, and the
events they form. Every example below was captured from a running server: most from
`rarewatch serve --demo` (the demo model trained on rarewatch's demo data) with the default
settings; the keys, CORS and reload examples from the same command started with
`RAREWATCH_API_KEYS`, `RAREWATCH_ADMIN_KEY` and `RAREWATCH_CORS_ORIGINS` set, over a folder that
also holds `{BROKEN_MODEL}`, a copy of the demo model with one byte of its weights changed; the 500
and 503 errors from the same app serving deliberately broken copies of the model, or held at its
bound of concurrent requests. The same examples are in the OpenAPI document, so the interactive
page at `/docs` can send them; `scripts/api_docs.py` captures them all again and rewrites both.

- [Running the server](#running-the-server)
- [Conventions](#conventions)
- [Health: `GET /healthz`, `GET /readyz`](#health)
- [Models: `GET /v1/models`, `GET /v1/models/{{name}}`](#models)
- [Detection: `POST /v1/models/{{name}}/detect`](#detect)
- [The newest window: `POST /v1/models/{{name}}/detect/last`](#detect-last)
- [Pre-made windows: `POST /v1/models/{{name}}/windows`](#windows)
- [What a result means: score, severity, contributions, events](#results)
- [Reloading a model: `POST /v1/models/{{name}}/reload`, SIGHUP](#reload)
- [API keys, the admin key and CORS](#keys)
- [Limits and overload](#limits)
- [Shutting down: SIGTERM](#shutdown)
- [Errors](#errors)
- [The Python client](#client)
"""


def _default(setting: str) -> Any:
    """A setting's default, from app.settings (never from the environment)."""
    default = Settings.model_fields[setting].default
    return getattr(default, "value", default)  # an enum's value


def settings_table() -> str:
    d = _default
    return f"""\
| variable | default | meaning |
|---|---|---|
| `RAREWATCH_MODEL_DIR` | `{d("model_dir")}` | the model folder (`NAME/VERSION/...`); `--model-dir` wins |
| `RAREWATCH_HOST`, `RAREWATCH_PORT` | `{d("host")}`, `{d("port")}` | where `rarewatch serve` listens (`--host`, `--port` win) |
| `RAREWATCH_MAX_BODY_BYTES` | `{d("max_body_bytes")}` ({d("max_body_bytes") / 2**20:g} MiB) | larger request bodies get 413 `body_too_large` before they are parsed |
| `RAREWATCH_MAX_ROWS` | `{d("max_rows")}` | rows per request: of `values`, `timestamps`, a feature of `series`, a window ([limits](#limits)) |
| `RAREWATCH_MAX_FEATURES` | `{d("max_features")}` | values per row, names in `columns`, features of `series` |
| `RAREWATCH_MAX_WINDOWS` | `{d("max_windows")}` | windows per `/windows` request |
| `RAREWATCH_MAX_CONCURRENT_INFERENCES` | `{d("max_concurrent_inferences")}` | detection requests parsed and scored at once; the others wait ([overload](#overload)) |
| `RAREWATCH_MAX_QUEUED_REQUESTS` | `{d("max_queued_requests")}` | detection requests that may wait for one of those (or still be arriving); past it, 503 `overloaded` at once |
| `RAREWATCH_RETRY_AFTER_S` | `{d("retry_after_s")}` | the `Retry-After` of a 503 `overloaded`, in seconds |
| `RAREWATCH_REQUEST_TIMEOUT_S` | `{d("request_timeout_s")}` | a body still arriving after this many seconds gets 408 `request_timeout`; a request still waiting for an inference slot, 503 `overloaded` |
| `RAREWATCH_SHUTDOWN_GRACE_S` | `{d("shutdown_grace_s")}` | after SIGTERM, how long requests in flight may take to complete ([shutdown](#shutdown)) |
| `RAREWATCH_API_KEYS` | none | comma-separated keys; when set, every `/v1` route needs one of them ([keys](#keys)) |
| `RAREWATCH_ADMIN_KEY` | none | the key for `POST /v1/models/{{name}}/reload`; without one the route answers 403 |
| `RAREWATCH_CORS_ORIGINS` | none | comma-separated browser origins allowed to call the API (CORS) |
| `RAREWATCH_TOP_FEATURES` | `{d("top_features")}` | how many features each result lists in `top_features` |
| `RAREWATCH_MAX_OLDER_VERSIONS` | `{d("max_older_versions")}` | older versions (asked for with `?version=`) kept loaded at once |
| `RAREWATCH_ENGINE` | `{d("engine")}` | `auto`: ONNX Runtime for models stored with an ONNX graph (when onnxruntime is installed), else TensorFlow; `onnx` or `tensorflow` force one |
| `RAREWATCH_ACCESS_LOG` | `{str(d("access_log")).lower()}` | `true`: a line per request on stdout (`/metrics` counts requests either way) |
| `RAREWATCH_KEEP_FREED_MEMORY_MB` | `{d("keep_freed_memory_mb")}` | freed memory `serve` keeps for the next request rather than returning it to the OS (glibc's malloc); large `/detect` bodies then reuse it instead of faulting in fresh pages. `0`: glibc's defaults, less resident memory after a large request |
"""


def settings_table_drift() -> list[str]:
    """Settings the table does not name, and names in it that are no setting (reported, so that
    it is kept up to date)."""
    documented = {name.lower() for name in re.findall(r"RAREWATCH_(\w+)", settings_table())}
    settings = set(Settings.model_fields)
    return [
        *(f"RAREWATCH_{n.upper()} is not in the settings table" for n in sorted(settings - documented)),
        *(f"RAREWATCH_{n.upper()} is in the settings table but no setting" for n in sorted(documented - settings)),
    ]  # fmt: skip


def doc_running() -> str:
    return f"""\
## Running the server

```
rarewatch [--model-dir DIR] serve [--host 127.0.0.1] [--port 8000] [--demo]
```

One uvicorn worker (scale with replicas, not workers). Every model in the model folder is
loaded at start-up (its newest version), checked against its SHA-256 manifest, and warmed up by
scoring one series; the server starts listening only once that is done. A model whose artifact
is broken is logged and skipped; the others are served. `--demo` first trains the demo model
(`demo`, under a minute on two cores) if the folder has none, and writes its data to
`demo.csv` in the model folder. A new version written while it runs is served after a
[reload](#reload) (`POST /v1/models/{{name}}/reload` or SIGHUP); SIGTERM [stops it](#shutdown)
gracefully.

Settings come from the environment:

{settings_table()}
`GET /docs` is FastAPI's Swagger UI (it loads its script from the Swagger CDN, so it needs a
browser that can reach it); `GET /openapi.json` is the OpenAPI document, with examples for every
route and every error. `GET /metrics` is for Prometheus, in its text format: requests by route,
method and status (overload refusals are the 503s), latency by route, windows scored and
anomalies flagged by model, the last score and severity, the threshold and the version served by
model, and model loads (at start and by reloads) by outcome.
"""


def doc_conventions() -> str:
    return """\
## Conventions

- Bodies are JSON, sent with `Content-Type: application/json` (anything else: 415). Answers are
  `application/json`, errors `application/problem+json`.
- Types are strict: numbers must be JSON numbers (`"1.0"`, `true` and `null` are refused, not
  converted) and finite (`NaN`, `Infinity`, `1e400` are refused). Unknown fields are refused.
- Rows are oldest first. A **window** is `lookback` consecutive rows and its result belongs to
  its last row: a series of `n` rows has `n - lookback + 1` windows, the first ending at row
  `lookback - 1`. `index` in results and events is that row's position in the request (0-based).
- `?version=V` on every `/v1/models/{name}...` route picks a version; without it the newest
  loaded version answers. An older version is loaded on first use; at most
  `RAREWATCH_MAX_OLDER_VERSIONS` of them stay in memory.
- Timestamps are optional, ISO 8601 with a time zone (`Z` or an offset), one per row, strictly
  increasing; results and events then carry the timestamp of their row, as sent.
- With `RAREWATCH_API_KEYS` set, every `/v1` request needs a key ([keys](#keys)); the examples
  below leave it out.
"""


def doc_health(captures: Captures) -> str:
    return f"""\
<a id="health"></a>
## Health

`GET /healthz` never touches a model: 200 as long as the process answers.

{_block(captures.served.health)}

`GET /readyz`: 200 once the models are loaded and warmed up, with the models served and, under
`unavailable`, the stored models that could not be loaded, with why (the model folder's path
replaced by `$RAREWATCH_MODEL_DIR`; the server log has the details). Ready as long as at least
one model is served. From the server whose folder also holds the broken `{BROKEN_MODEL}`:

{_block(captures.secured.ready)}

503 `not_ready` when no model could be loaded (every stored model is broken, or there is none),
and from the moment the server is asked to stop ([SIGTERM](#shutdown)); `unavailable` is there
when stored models failed. The server only starts listening once loading is done, so while it
loads, connections are refused rather than answered 503. From a folder holding only `{BROKEN_MODEL}`:

{_block(captures.answer("not_ready"))}
"""


def doc_models(captures: Captures) -> str:
    return f"""\
<a id="models"></a>
## Models

`GET /v1/models` lists every model served, at its default (newest) version, and under
`unavailable` the stored models that failed to load, with why, as `/readyz` does. From the
server whose folder also holds the broken `{BROKEN_MODEL}`:

{_block(captures.secured.models)}

`GET /v1/models/{{name}}[?version=V]` describes one version: its features and lookback, what a
score averages over (`score_on`), the threshold and how it was chosen, the quantiles of the
reconstruction error on held-out normal windows (severity is computed from the median, `"0.5"`),
the network, the layer table (layer, output shape, parameters), the training summary and the
library versions it was trained with. Describing an older version reads its files; it does not
load it.

```
curl -s http://127.0.0.1:8000/v1/models/{DEMO_MODEL}
```

{_block(captures.served.model)}
"""


def doc_detect(captures: Captures) -> str:
    sample = captures.sample
    lookback = captures.served.model["lookback"]
    last_row = N_ROWS - 1
    return f"""\
<a id="detect"></a>
## `POST /v1/models/{{name}}/detect`

Scores every window of a series. The body:

| field | type | |
|---|---|---|
| `values` | rows x features, numbers | the series, oldest row first |
| `columns` | feature names | optional: the order of the columns of `values`; they are put in the model's order. Each model feature exactly once, nothing else (unknown, duplicated or missing names: 422 naming the model's features). Without it, columns are in the model's order. |
| `series` | `{{feature: [numbers]}}` | instead of `values` + `columns`: the columnar shape dashboard queries produce; every model feature once, all lists the same length |
| `timestamps` | strings | optional: one ISO 8601 time with a time zone per row, strictly increasing |
| `threshold` | number > 0 | optional: overrides the model's threshold for this request only |

The demo data's rows {FIRST_ROW}-{FIRST_ROW + last_row}, around a vibration fault that starts at row \
{FIRST_ROW + sample.fault_index}
(`index` {sample.fault_index} in this request):

```
curl -s http://127.0.0.1:8000/v1/models/{DEMO_MODEL}/detect \\
  -H 'Content-Type: application/json' -d @body.json
```

{_block(sample.rows_body())}

The same series in columns:

{_block(sample.series_body())}

The answer (the same for both): the model (name, version, lookback, its stored threshold,
features), the threshold applied, one result per window ({N_ROWS} rows and a lookback of \
{lookback} make
{N_ROWS - lookback + 1} windows, `index` {lookback - 1} to {last_row}), and the events.

{_block(captures.served.detect)}

<a id="detect-last"></a>
## `POST /v1/models/{{name}}/detect/last`

The same body as `/detect`, but only the newest window (the one ending at the last row) is
scored: the call a dashboard makes on every refresh. Send at least `lookback` rows; only the
last `lookback` are scaled and scored, so the model's cost does not grow with the series.
Scoring one window takes about 0.2 ms with ONNX Runtime, so this route runs on the event loop
rather than in a thread pool (measured faster that way). With the body above, its result is
the `/detect` result at `index` {last_row}, with an event only if that window is anomalous:

{_block(captures.served.detect_last)}

<a id="windows"></a>
## `POST /v1/models/{{name}}/windows`

Already-temporalized input, windows x lookback x features, as the network is fed; `columns`
and `threshold` as for `/detect`. One result per window; `index` is the window's position in
the request and there are no timestamps. The first and the last window of the series above
(they score as `/detect`'s results at `index` {lookback - 1} and {last_row}):

{_block(captures.served.windows_request)}

{_block(captures.served.windows)}
"""


def doc_results(captures: Captures, severity: SeverityExample) -> str:
    threshold = captures.served.model["threshold"]
    if threshold["method"] == "quantile":
        chosen = (
            f"The demo model's is the {threshold['quantile']:g} quantile of the scores of\n"
            f"  held-out normal windows, so about {100 * (1 - threshold['quantile']):.2g} % of "
            "normal windows score above it."
        )
    else:
        chosen = f"The demo model's was chosen by `{threshold['method']}`."
    example = severity.result
    flagged = [r for r in captures.served.detect["results"] if r["is_anomaly"]]
    flagged_text = ", ".join(f"{r['severity']:.2f}" for r in flagged)
    t, step = severity.threshold, severity.step
    return f"""\
<a id="results"></a>
## What a result means

- **score**: the window's reconstruction error, the mean squared difference between the window
  and the model's reconstruction of it, in scaled units (each feature standardized with the
  mean and spread of the normal training rows). With `score_on: "last_step"` the mean covers
  only the window's last row.
- **is_anomaly**: `score > threshold`. The threshold is stored with the model; `threshold` in
  the body overrides it for one request. {chosen}
- **severity**, in [0, 1]: how far past the threshold the score is. Reconstruction errors are
  heavy-tailed, so the distance is counted in ratios: in *steps*, where one step is the factor
  by which the threshold already exceeds the median error of normal windows.

  ```
  severity = 0                                          if score <= threshold
  severity = 1 - exp(-ln(score / threshold) / ln(step))  otherwise
  step     = threshold / q50    (q50: the median normal validation error,
                                 validation_error_quantiles["0.5"])
           = 2                  when q50 is not below the threshold
  ```

  A score of threshold x step has severity 0.63, threshold x step^2 0.86, threshold x step^3
  0.95; severity approaches 1 as the score grows. A `threshold` sent in the body replaces the
  threshold in the formula, q50 stays the model's.

  For the demo model, threshold {t:.4g} and q50 {severity.median:.4g}, so step =
  {t:.4g} / {severity.median:.4g} = {step:.3g}: scores of {t * step:#.3g}, {t * step**2:#.3g} \
and {t * step**3:#.3g} have severity 0.63, 0.86
  and 0.95. The first window of the fault above (`index` {example["index"]}) scored \
{example["score"]:.4g},
  {severity.ratio:.3g} times the threshold, which is ln({severity.ratio:.3g}) / ln({step:.3g}) \
= {severity.steps:.3g} steps: severity
  1 - exp(-{severity.steps:.3g}) = {example["severity"]:.3f}. The fault's {len(flagged)} \
windows have severity {flagged_text}.
- **top_features**: each feature's share of the window's squared error (the shares of all
  features sum to 1), the `RAREWATCH_TOP_FEATURES` largest first. The feature a fault broke
  usually carries most of the error: `{captures.served.detect["events"][0]["top_feature"]}` above.
- **events**: runs of consecutive anomalous windows. `start_index` / `end_index` (and
  timestamps) are the rows of the first and last anomalous windows' results, `n_windows` their
  number, `peak_index` / `peak_score` the highest-scoring window, and `top_feature` the feature
  with the largest summed share over the run.
"""


def doc_reload(captures: Captures) -> str:
    secured = captures.secured
    return f"""\
<a id="reload"></a>
## Reloading a model: `POST /v1/models/{{name}}/reload`

Serves a model's newest stored version without a restart: a version `rarewatch train` has just
written, say, or a model new to the folder. The version is loaded, checked against its SHA-256
manifest and warmed up, and only then swapped in (one assignment): requests never wait for it,
those in flight finish on the version they started with, and none fails. Reloads run one after
the other. The route needs the admin key ([`RAREWATCH_ADMIN_KEY`](#keys)), as `X-API-Key` or
`Authorization: Bearer`; it has no body.

Captured from the server started with keys, serving version 1 of the demo model, after version 1
was copied to version 2 in its folder:

```
curl -s -X POST http://127.0.0.1:8000/v1/models/{DEMO_MODEL}/reload -H 'Authorization: Bearer {ADMIN_KEY}'
```

{_block(secured.reload)}

When the newest stored version is the one served, nothing changes:

{_block(secured.reload_again)}

409 `reload_failed` when the newest version cannot be served, here version 3, a copy of version
2 with one byte of its weights changed. The version served so far stays (`/detect` went on
answering with version 2), and the next reload tries again:

{_block(captures.answer("reload_failed"))}

Without `RAREWATCH_ADMIN_KEY` (the default) the route is off: 403 to every request:

{_block(captures.answer("forbidden"))}

`kill -HUP <pid>` (or `docker kill --signal HUP <container>`) reloads every model the same way,
admin key or not: every model in the folder and every one served, one after the other. A failure
is logged and leaves that model as it was (a model that failed at start-up and now loads is
served from then on); the others are still reloaded.
"""


def doc_keys(captures: Captures) -> str:
    secured = captures.secured
    unauthorized = captures.problems["unauthorized"]
    cors_request = "\n".join(secured.cors_request)
    cors_answer = "\n".join(secured.cors_answer)
    return f"""\
<a id="keys"></a>
## API keys, the admin key and CORS

By default the API is open to whoever can reach it. With `RAREWATCH_API_KEYS` set
(comma-separated: `RAREWATCH_API_KEYS={",".join(API_KEYS)}`, say), every `/v1` route
needs one of the keys, sent as `X-API-Key: {API_KEYS[0]}` or
`Authorization: Bearer {API_KEYS[0]}`:

```
curl -s http://127.0.0.1:8000/v1/models -H 'X-API-Key: {API_KEYS[0]}'
```

`/healthz`, `/readyz`, `/metrics`, `/docs`, `/openapi.json` and the web page at `/` stay open
(the page has a field for the key, sent to this server only). The key is checked before the
body is read; keys are compared in constant time. The OpenAPI document then declares both ways
of sending one, so `/docs` has an Authorize button. Keys travel in clear text over plain HTTP:
put the server behind TLS (a reverse proxy) when they cross a network.

401 `unauthorized` without a valid key, with `{unauthorized.header}`:

{_block(unauthorized.answer)}

`RAREWATCH_ADMIN_KEY` is the key for model administration, [reloads](#reload); it is also
accepted wherever an API key is. An API key on the admin route gets 403, no key or a wrong one
401:

{_block(captures.answer("not_admin"))}

`RAREWATCH_CORS_ORIGINS` (comma-separated, e.g. `{CORS_ORIGIN}`) lets web pages from those
origins call the API from a browser: `GET` and `POST`, with the headers `Authorization`,
`Content-Type` and `X-API-Key`, and `Retry-After` readable by the page; credentials (cookies)
are never allowed. None by default, so browsers refuse cross-origin calls. A browser's preflight
is answered before any key is checked; captured with
`RAREWATCH_CORS_ORIGINS={CORS_ORIGIN}`:

```
OPTIONS /v1/models/{DEMO_MODEL}/detect
{cors_request}
```

```
{cors_answer}
```
"""


def doc_limits(captures: Captures) -> str:
    overloaded = captures.problems["overloaded"]
    running, queued = _default("max_concurrent_inferences"), _default("max_queued_requests")
    return f"""\
<a id="limits"></a>
## Limits and overload

One request cannot take the server down:

- A body over `RAREWATCH_MAX_BODY_BYTES` gets 413 `body_too_large`, refused from its
  `Content-Length` before a byte of it is read, or while a chunked body is read.
- The arrays of a parsed body are counted before the schema validates it, so an oversized
  request costs a few length checks: rows (`RAREWATCH_MAX_ROWS`: of `values`, `timestamps`, a
  feature of `series`, a window), features (`RAREWATCH_MAX_FEATURES`: values per row, names in
  `columns`, features of `series`) and windows (`RAREWATCH_MAX_WINDOWS`). Past one, 413
  `limit_exceeded` naming it; here {_default("max_features") + 1:,} names in `columns`:

{_block(captures.answer("limit_exceeded"))}

<a id="overload"></a>
Nor can many: a detection request (`/detect`, `/detect/last`, `/windows`) is admitted when it
arrives, before its body is read, and is parsed, validated and scored in one of
`RAREWATCH_MAX_CONCURRENT_INFERENCES` slots; up to `RAREWATCH_MAX_QUEUED_REQUESTS` more wait
for one (a request still arriving counts as waiting). Past both, the next one is answered at
once with 503 `overloaded` and a `Retry-After` of `RAREWATCH_RETRY_AFTER_S` seconds: the queue,
and so the latency of the requests in it, stays bounded. Retry after that long (with some
jitter, so that refused clients do not all come back at once). `/healthz`, `/readyz`,
`/metrics`, the model list and descriptions and reloads bypass the bound, so readiness still
answers while the detection routes are full. Refusals are counted in `/metrics` (status 503),
not logged one by one.

Captured with the default settings ({running} slots, {queued} places in the queue) while
{running + queued} detection requests were held half-sent; the answer carries `{overloaded.header}`:

{_block(overloaded.answer)}
"""


def doc_shutdown() -> str:
    grace = _default("shutdown_grace_s")
    return f"""\
<a id="shutdown"></a>
## Shutting down: SIGTERM

On SIGTERM (what `docker stop` and Kubernetes send; SIGINT, Ctrl-C, does the same) `/readyz`
answers 503 `not_ready` ("not ready: shutting down") at once, so that load balancers stop
sending requests; the server stops accepting connections, lets the requests in flight complete
within `RAREWATCH_SHUTDOWN_GRACE_S` seconds ({grace} by default), and exits. Give the process
longer than that before it is killed: `docker stop` waits 10 s unless told otherwise (`-t`),
Kubernetes `terminationGracePeriodSeconds` (30 s by default). SIGHUP [reloads](#reload) every
model.
"""


ERROR_TABLE = """\
| code | status | when |
|---|---|---|
| `invalid_json` | 400 | empty body, malformed JSON, invalid UTF-8, nesting deeper than 1024 levels |
| `unauthorized` | 401 | `RAREWATCH_API_KEYS` is set and a `/v1` request has no valid key; a reload without the admin key; carries `WWW-Authenticate` |
| `forbidden` | 403 | a reload with an API key rather than the admin key, or while `RAREWATCH_ADMIN_KEY` is not set |
| `model_not_found` | 404 | no model with that name, or no such version |
| `not_found` | 404 | no such route |
| `method_not_allowed` | 405 | e.g. `GET` on a detection route |
| `request_timeout` | 408 | the body was still arriving after `RAREWATCH_REQUEST_TIMEOUT_S` seconds (a slow sender cannot hold a place in the queue) |
| `reload_failed` | 409 | the newest stored version could not be loaded, verified or warmed up; the version served so far stays |
| `body_too_large` | 413 | body over `RAREWATCH_MAX_BODY_BYTES`; refused from its `Content-Length` before it is read, or while reading a chunked body |
| `limit_exceeded` | 413 | more rows, features or windows than `RAREWATCH_MAX_ROWS`, `RAREWATCH_MAX_FEATURES` or `RAREWATCH_MAX_WINDOWS` allow; the detail names which |
| `unsupported_media_type` | 415 | `Content-Type` missing or not `application/json` (or `application/*+json`) |
| `validation_error` | 422 | the body or query does not fit the schema: `null`, strings or booleans where numbers belong, unknown or missing fields, `threshold <= 0`, `version` not a positive integer; see `errors` |
| `non_finite_values` | 422 | `NaN`, `Infinity`, `-Infinity`, numbers beyond a double (`1e400`), or values that overflow float32 once scaled (`1e300`) |
| `feature_mismatch` | 422 | a row or window row with the wrong number of values; `columns` or `series` names that are unknown, duplicated or missing; the detail names the model's features |
| `not_enough_rows` | 422 | fewer rows than the lookback (the detail says how many are needed), or no windows |
| `invalid_timestamps` | 422 | not one per row, not ISO 8601, without a time zone, or not strictly increasing (duplicates included) |
| `invalid_input` | 422 | both or neither of `values` and `series`; `columns` with `series`; series of different lengths; windows without `lookback` rows |
| `internal_error` | 500 | a bug, including a non-finite score (never returned as a score); quote the `id` |
| `not_ready` | 503 | `/readyz` when no model could be loaded, or once shutdown has begun |
| `model_unavailable` | 503 | a stored model or version whose artifact failed to load or verify (details in the log only) |
| `overloaded` | 503 | every inference slot and every place in the queue is taken, or no slot came free within `RAREWATCH_REQUEST_TIMEOUT_S`; retry after `Retry-After` seconds |
"""

# shown earlier on the page; the rest are listed at the end of the errors section
SHOWN_ABOVE = {
    "feature_mismatch",
    "validation_error",
    "internal_error",
    "not_ready",
    "reload_failed",
    "forbidden",
    "unauthorized",
    "not_admin",
    "limit_exceeded",
    "overloaded",
}


def doc_errors(captures: Captures) -> str:
    listed = "\n".join(
        f"{refusal.case.status} `{refusal.case.code}`, {_lowercase_first(refusal.case.summary)} "
        f"({_request_text(refusal.case)}):\n\n{_block(refusal.answer)}\n"
        for name, refusal in captures.problems.items()
        if name not in SHOWN_ABOVE
    )
    return f"""\
<a id="errors"></a>
## Errors

Every error is `application/problem+json` (RFC 9457) with a stable `code`:

{_block(captures.answer("feature_mismatch"))}

`type` is `urn:rarewatch:problem:<code>`; `title` is the same for every error of a code,
`detail` says what is wrong and how to fix it. Validation errors add `errors`, where and why
(`loc`, `type`, `msg`), at most the first 20:

{_block(captures.answer("validation_error"))}

No error ever contains the request body or a value from it (unlike FastAPI's default 422
answer, which echoes every refused input). An internal error carries an `id`, also written to
the server log with the traceback:

{_block(captures.answer("internal_error"))}

{ERROR_TABLE}
Examples of the other codes, as captured:

{listed}"""


def _request_text(case: Case) -> str:
    sent = "".join(f", `{name}: {value}`" for name, value in case.headers.items())
    return f"`{case.method} {case.path}`{sent}"


def _lowercase_first(text: str) -> str:
    """'No such model' -> 'no such model', but 'NaN, Infinity' stays."""
    first_word = text.split(" ", 1)[0]
    return text if any(c.isupper() for c in first_word[1:]) else text[0].lower() + text[1:]


def doc_client(captures: Captures) -> str:
    lookback = captures.served.model["lookback"]
    return f"""\
<a id="client"></a>
## The Python client

`app.client.Client` wraps the routes with httpx; answers are the JSON documents above, as
dicts, and an error answer raises `RarewatchAPIError` with `status`, `code`, `title`, `detail`,
`errors` and `id`. `values` may be lists, a numpy array or a pandas DataFrame (whose column
names are sent as `columns`); timestamps may be strings or timezone-aware datetimes. It sends
no API key and has no reload call (yet): with `RAREWATCH_API_KEYS` set, call the routes with an
HTTP client that sends the `X-API-Key` header.

```python
import pandas as pd

from app.client import Client, RarewatchAPIError

frame = pd.read_csv("artifacts/demo.csv")  # written by `rarewatch serve --demo`
features = ["load", "temperature", "pressure", "flow", "vibration"]

with Client("http://127.0.0.1:8000") as rarewatch:
    rarewatch.ready()                     # {{"status": "ready", "models": [...], "unavailable": []}}
    recent = frame.tail(60)
    answer = rarewatch.detect_last("demo", values=recent[features], timestamps=recent["timestamp"])
    newest = answer["results"][0]
    if newest["is_anomaly"]:
        print(newest["timestamp"], newest["severity"], newest["top_features"][0]["feature"])

    rarewatch.detect("demo", series={{f: recent[f] for f in features}})
    windows = recent[features].to_numpy()[-{2 * lookback}:].reshape(2, {lookback}, len(features))
    rarewatch.detect_windows("demo", windows)            # windows x lookback x features
    rarewatch.models()
    rarewatch.model("demo", version=1)
    rarewatch.health()

    try:
        rarewatch.detect("demo", values=[[1.0, 2.0]])
    except RarewatchAPIError as error:
        print(error.status, error.code, error.detail)    # 422 feature_mismatch row 0 has 2 ...
```
"""


# -- main ------------------------------------------------------------------------------------------


def ignore_rarewatch_environment() -> None:
    """The examples show the default settings, whatever RAREWATCH_* says here."""
    for key in [key for key in os.environ if key.startswith("RAREWATCH_")]:
        del os.environ[key]


def regenerate(model_dir: Path, work: Path) -> None:
    started = time.monotonic()
    ensure_demo_model(Settings(model_dir=model_dir))
    trained = time.monotonic()
    sample = demo_sample()
    demo_store = ModelStore(model_dir)
    with (
        demo_server(model_dir, work / "server.log") as url,
        httpx.Client(base_url=url, timeout=30.0) as client,
    ):
        served = capture_from_server(client, sample)
    check_claims(served)
    secured = capture_secured(demo_store, work, sample)
    more = [*capture_faults(demo_store, work, sample), capture_overload(model_dir, sample)]
    captures = Captures.of(sample, served, secured, more)
    examples, docs = render_examples(captures), render_docs(captures)
    EXAMPLES_FILE.write_text(examples)
    DOCS_FILE.write_text(docs)
    for drift in settings_table_drift():
        print(f"api_docs: {drift} (settings_table)", file=sys.stderr)
    done = time.monotonic()
    print(
        f"api_docs: wrote {EXAMPLES_FILE.relative_to(REPO)} and {DOCS_FILE.relative_to(REPO)} "
        f"in {done - started:.0f}s ({trained - started:.0f}s of it for the demo model)",
        file=sys.stderr,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model-dir",
        type=Path,
        help="train the demo model here, or reuse the one it has (default: a temporary folder)",
    )
    args = parser.parse_args()
    ignore_rarewatch_environment()
    with tempfile.TemporaryDirectory(prefix="rarewatch-api-docs-") as temporary:
        work = Path(temporary)
        model_dir = args.model_dir.resolve() if args.model_dir else work / "models"
        regenerate(model_dir, work)


if __name__ == "__main__":
    main()
