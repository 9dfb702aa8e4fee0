"""Regenerate app/examples.py (the OpenAPI examples) and docs/api.md from a real server.

Every request and answer in both files is captured, never written by hand:

1. The demo model is trained into a temporary model folder exactly as `rarewatch serve --demo`
   trains it (app.serve.ensure_demo_model; the training is seeded, so the same code and
   libraries give the same model).
2. A real server, `python -m app.cli --model-dir DIR serve --port P`, is started on a free
   127.0.0.1 port; once /readyz answers 200 it is sent the example requests and the refused
   ones, and it is always stopped afterwards.
3. The three answers a healthy server never gives are captured from an in-process server over
   deliberately broken copies of the demo model: a copy with a tampered weights file, the only
   model of its folder (503 model_unavailable, and 503 not_ready since nothing could load), and
   a copy whose reconstruction bias is NaN, loaded by the real loader and registered without
   the warm-up that would refuse it (500 internal_error: it really scores, and really fails).
4. Both files are rewritten; app/examples.py goes through `ruff format`.

Run it from anywhere (under a minute on two cores, nearly all of it training the demo model):

    .venv/bin/python scripts/api_docs.py [--model-dir DIR]

--model-dir trains the demo model into DIR, or reuses the one DIR already has (about 5 seconds
then; it must be a demo model trained by the current code). RAREWATCH_* variables are
ignored, so the examples always show the default settings.

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
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvicorn
from fastapi import FastAPI

REPO = Path(__file__).resolve().parents[1]
# the checkout this script belongs to, not whichever rarewatch is installed: the server it
# starts runs this checkout's code, and the in-process parts must match it
sys.path.insert(0, str(REPO))

from app.main import create_app
from app.serve import DEMO_MODEL, ensure_demo_model
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


def refused_requests(sample: Sample, max_body_bytes: int) -> list[Case]:
    """What the real server is sent to show its errors, in the order docs/api.md lists them."""
    values = sample.values
    five_rows = _json({"values": values[:5]})
    misnamed = ["temp" if feature == "temperature" else feature for feature in DEMO_FEATURES]
    no_zone = [t.removesuffix("Z") for t in sample.timestamps[:5]]
    backwards = sample.timestamps[:5][::-1]
    model = f"/v1/models/{DEMO_MODEL}"
    return [
        Case(
            "invalid_json", 400, "invalid_json", "Not valid JSON",
            "POST", DETECT, b'{"values": [[1, 2, 3, 4, 5],',
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
            "POST", DETECT, b"[" * (max_body_bytes + 1),
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


def _json(body: JSON) -> bytes:
    return json.dumps(body).encode()


# -- capturing -------------------------------------------------------------------------------------


@dataclass
class Captures:
    """Everything the two files show, as the server answered it."""

    sample: Sample
    health: JSON
    ready: JSON
    models: JSON
    model: JSON
    detect: JSON
    detect_last: JSON
    windows_request: JSON
    windows: JSON
    problems: dict[str, tuple[Case, JSON]]  # name -> (request, answer), in listing order


def send(client: httpx.Client, case: Case) -> JSON:
    headers = {"content-type": case.content_type} if case.body is not None else {}
    response = client.request(case.method, case.path, content=case.body, headers=headers)
    answer: JSON = response.json()
    if (response.status_code, answer.get("code")) != (case.status, case.code):
        raise SystemExit(
            f"{case.name}: expected {case.status} {case.code}, got {response.status_code}: {answer}"
        )
    return answer


def get_ok(client: httpx.Client, path: str) -> JSON:
    return _ok(client.get(path))


def post_ok(client: httpx.Client, path: str, body: JSON) -> JSON:
    return _ok(client.post(path, json=body))


def _ok(response: httpx.Response) -> JSON:
    if response.status_code != 200:
        request = response.request
        raise SystemExit(f"{request.method} {request.url}: {response.status_code} {response.text}")
    answer: JSON = response.json()
    return answer


def capture_from_server(client: httpx.Client, sample: Sample) -> Captures:
    model = get_ok(client, f"/v1/models/{DEMO_MODEL}")
    if model["features"] != DEMO_FEATURES:
        raise SystemExit(f"the demo model's features changed: {model['features']}")
    detect = post_ok(client, DETECT, sample.rows_body())
    if post_ok(client, DETECT, sample.series_body()) != detect:
        raise SystemExit("rows and series of the same data got different answers")
    windows_request = sample.windows_body(model["lookback"])
    max_body_bytes = Settings().max_body_bytes
    return Captures(
        sample=sample,
        health=get_ok(client, "/healthz"),
        ready=get_ok(client, "/readyz"),
        models=get_ok(client, "/v1/models"),
        model=model,
        detect=detect,
        detect_last=post_ok(client, f"{DETECT}/last", sample.rows_body()),
        windows_request=windows_request,
        windows=post_ok(client, f"/v1/models/{DEMO_MODEL}/windows", windows_request),
        problems={
            case.name: (case, send(client, case))
            for case in refused_requests(sample, max_body_bytes)
        },
    )


def capture_faults(demo_store: ModelStore, work: Path, sample: Sample) -> dict[str, JSON]:
    not_ready, unavailable, internal = fault_requests(sample)
    broken_folder = work / "broken"
    tampered_copy(demo_store, broken_folder / BROKEN_MODEL / "1")
    nan_model = nan_copy(demo_store, ModelStore(work / "nan"))
    with quiet_rarewatch_log(), in_process_server(Settings(model_dir=broken_folder)) as server:
        app, url = server
        with httpx.Client(base_url=url, timeout=30.0) as client:
            answers = {case.name: send(client, case) for case in (not_ready, unavailable)}
            app.state.registry.add(nan_model)
            answers[internal.name] = send(client, internal)
    return answers


def check_claims(captures: Captures) -> None:
    """What docs/api.md says about the answers, checked on them: /detect/last's result is
    /detect's last one, and /windows scores its two windows as /detect does."""
    results = captures.detect["results"]
    if captures.detect_last["results"] != results[-1:]:
        raise SystemExit("/detect/last did not answer /detect's last result")
    for got, expected in zip(captures.windows["results"], (results[0], results[-1]), strict=True):
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
def demo_server(model_dir: Path, log_path: Path) -> Iterator[str]:
    """`rarewatch serve` as a real process on a free port; yields its URL once /readyz is 200."""
    port = free_port()
    command = [sys.executable, "-m", "app.cli", "--model-dir", str(model_dir)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "serve", "--port", str(port)], cwd=REPO, stdout=log, stderr=log
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
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise SystemExit("the in-process server did not start")
            time.sleep(0.02)
        yield app, f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


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
    threshold = float(captures.model["threshold"]["value"])
    median = float(captures.model["validation_error_quantiles"]["0.5"])
    for answer in (captures.detect, captures.detect_last, captures.windows):
        for result in answer["results"]:
            expected = severity_of(result["score"], threshold, median)
            if not math.isclose(result["severity"], expected, rel_tol=1e-9, abs_tol=1e-12):
                raise SystemExit(
                    f"severity {result['severity']} of score {result['score']} is not what the "
                    f"documented formula gives ({expected}): update the formula in this script"
                )
    flagged = [r for r in captures.detect["results"] if r["is_anomaly"]]
    if not flagged:
        raise SystemExit("the /detect example flags no window: choose other demo rows")
    return SeverityExample(threshold, median, severity_step(threshold, median), flagged[0])


# -- app/examples.py -------------------------------------------------------------------------------


def render_examples(captures: Captures, faults: dict[str, JSON]) -> str:
    by_status: dict[int, dict[str, tuple[str, JSON]]] = {}
    for case, answer in all_problems(captures, faults):
        by_status.setdefault(case.status, {})[case.name] = (case.summary, answer)
    problems = {status: by_status[status] for status in sorted(by_status)}
    sample = captures.sample
    source = f'''"""Examples for the OpenAPI document: requests and answers captured from `rarewatch serve --demo`.

The detection examples are rows {FIRST_ROW}-{FIRST_ROW + N_ROWS - 1} of the demo data, around the vibration fault that starts
at row {FIRST_ROW + sample.fault_index} (`index` counts the rows of the request).

Generated by scripts/api_docs.py, with docs/api.md: run it again rather than editing this file.
"""

from __future__ import annotations

from typing import Any

from app.schemas import Problem

HEALTH: dict[str, Any] = {_literal(captures.health)}

READY: dict[str, Any] = {_literal(captures.ready)}

MODEL_LIST: dict[str, Any] = {_literal(captures.models)}

MODEL_INFO: dict[str, Any] = {_literal(captures.model)}

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

DETECT_RESPONSE: dict[str, Any] = {_literal(captures.detect)}

DETECT_LAST_RESPONSE: dict[str, Any] = {_literal(captures.detect_last)}

WINDOWS_REQUESTS: dict[str, Any] = {{
    "windows": {{
        "summary": "Two windows of {captures.model["lookback"]} rows (the demo model's lookback)",
        "value": {_literal(captures.windows_request)},
    }},
}}

WINDOWS_RESPONSE: dict[str, Any] = {_literal(captures.windows)}

# status -> name -> (summary, answer)
PROBLEMS: dict[int, dict[str, tuple[str, dict[str, Any]]]] = {_literal(problems)}


def ok(example: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {{200: {{"content": {{"application/json": {{"example": example}}}}}}}}


def problems(*statuses: int, only: set[str] | None = None) -> dict[int | str, dict[str, Any]]:
    """Problem answers (the examples named in `only`, or all of a status'); app.openapi files
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


def all_problems(captures: Captures, faults: dict[str, JSON]) -> list[tuple[Case, JSON]]:
    fault_cases = fault_requests(captures.sample)
    return [*captures.problems.values(), *((case, faults[case.name]) for case in fault_cases)]


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


def render_docs(captures: Captures, faults: dict[str, JSON]) -> str:
    sections = [
        doc_intro(),
        doc_running(),
        doc_conventions(),
        doc_health(captures, faults),
        doc_models(captures),
        doc_detect(captures),
        doc_results(captures, severity_example(captures)),
        doc_errors(captures, faults),
        doc_client(captures),
    ]
    return "\n".join(sections)


def doc_intro() -> str:
    return """\
# rarewatch HTTP API

rarewatch serves its trained models over HTTP: send a multivariate series, get back a score per
window, which windows are anomalous, how severe they are, which features caused them, and the
events they form. Every example below was captured from a running server
(`rarewatch serve --demo`, the demo model trained on rarewatch's demo data), except the 500
and 503 errors, which come from the same app serving deliberately broken copies of that model.
The same examples are in the OpenAPI document, so the interactive page at `/docs` can send
them; `scripts/api_docs.py` captures them all again and rewrites both.

- [Running the server](#running-the-server)
- [Conventions](#conventions)
- [Health: `GET /healthz`, `GET /readyz`](#health)
- [Models: `GET /v1/models`, `GET /v1/models/{name}`](#models)
- [Detection: `POST /v1/models/{name}/detect`](#detect)
- [The newest window: `POST /v1/models/{name}/detect/last`](#detect-last)
- [Pre-made windows: `POST /v1/models/{name}/windows`](#windows)
- [What a result means: score, severity, contributions, events](#results)
- [Errors](#errors)
- [The Python client](#client)
"""


SETTINGS_TABLE = """\
| variable | default | meaning |
|---|---|---|
| `RAREWATCH_MODEL_DIR` | `artifacts` | the model folder (`NAME/VERSION/...`); `--model-dir` wins |
| `RAREWATCH_HOST`, `RAREWATCH_PORT` | `127.0.0.1`, `8000` | where `rarewatch serve` listens (`--host`, `--port` win) |
| `RAREWATCH_MAX_BODY_BYTES` | `16777216` (16 MiB) | larger request bodies get 413 before they are parsed |
| `RAREWATCH_TOP_FEATURES` | `3` | how many features each result lists in `top_features` |
| `RAREWATCH_MAX_OLDER_VERSIONS` | `2` | older versions (asked for with `?version=`) kept loaded at once |
| `RAREWATCH_ENGINE` | `auto` | `auto`: ONNX Runtime for models stored with an ONNX graph (when onnxruntime is installed), else TensorFlow; `onnx` or `tensorflow` force one |
"""


def undocumented_settings() -> list[str]:
    """Settings the table above does not name yet (reported, so that it is kept up to date)."""
    documented = set(re.findall(r"RAREWATCH_(\w+)", SETTINGS_TABLE))
    return [
        f"RAREWATCH_{name.upper()}"
        for name in Settings.model_fields
        if name.upper() not in documented
    ]


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
`demo.csv` in the model folder.

Settings come from the environment:

{SETTINGS_TABLE}
`GET /docs` is FastAPI's Swagger UI (it loads its script from the Swagger CDN, so it needs a
browser that can reach it); `GET /openapi.json` is the OpenAPI document, with examples for every
route and every error. `GET /metrics` is for Prometheus, in its text format: requests and
latency by route, windows scored and anomalies flagged by model, the last score and the
threshold by model, model loads by outcome.
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
"""


def doc_health(captures: Captures, faults: dict[str, JSON]) -> str:
    return f"""\
<a id="health"></a>
## Health

`GET /healthz` never touches a model: 200 as long as the process answers.

{_block(captures.health)}

`GET /readyz`: 200 with the models served, once they are loaded and warmed up.

{_block(captures.ready)}

503 `not_ready` when no model could be loaded (every stored model is broken, or there is none).
The server only starts listening once loading is done, so while it loads, connections are
refused rather than answered 503.

{_block(faults["not_ready"])}
"""


def doc_models(captures: Captures) -> str:
    return f"""\
<a id="models"></a>
## Models

`GET /v1/models` lists every model served, at its default (newest) version; `unavailable` names
stored models that failed to load (the reason is in the server log).

{_block(captures.models)}

`GET /v1/models/{{name}}[?version=V]` describes one version: its features and lookback, what a
score averages over (`score_on`), the threshold and how it was chosen, the quantiles of the
reconstruction error on held-out normal windows (severity is computed from the median, `"0.5"`),
the network, the layer table (layer, output shape, parameters), the training summary and the
library versions it was trained with. Describing an older version reads its files; it does not
load it.

```
curl -s http://127.0.0.1:8000/v1/models/{DEMO_MODEL}
```

{_block(captures.model)}
"""


def doc_detect(captures: Captures) -> str:
    sample = captures.sample
    lookback = captures.model["lookback"]
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

{_block(captures.detect)}

<a id="detect-last"></a>
## `POST /v1/models/{{name}}/detect/last`

The same body as `/detect`, but only the newest window (the one ending at the last row) is
scored: the call a dashboard makes on every refresh. Send at least `lookback` rows; only the
last `lookback` are scaled and scored, so the model's cost does not grow with the series.
Scoring one window takes about 0.2 ms with ONNX Runtime, so this route runs on the event loop
rather than in a thread pool (measured faster that way). With the body above, its result is
the `/detect` result at `index` {last_row}, with an event only if that window is anomalous:

{_block(captures.detect_last)}

<a id="windows"></a>
## `POST /v1/models/{{name}}/windows`

Already-temporalized input, windows x lookback x features, as the network is fed; `columns`
and `threshold` as for `/detect`. One result per window; `index` is the window's position in
the request and there are no timestamps. The first and the last window of the series above
(they score as `/detect`'s results at `index` {lookback - 1} and {last_row}):

{_block(captures.windows_request)}

{_block(captures.windows)}
"""


def doc_results(captures: Captures, severity: SeverityExample) -> str:
    threshold = captures.model["threshold"]
    if threshold["method"] == "quantile":
        chosen = (
            f"The demo model's is the {threshold['quantile']:g} quantile of the scores of\n"
            f"  held-out normal windows, so about {100 * (1 - threshold['quantile']):.2g} % of "
            "normal windows score above it."
        )
    else:
        chosen = f"The demo model's was chosen by `{threshold['method']}`."
    example = severity.result
    flagged = [r for r in captures.detect["results"] if r["is_anomaly"]]
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
  usually carries most of the error: `{captures.detect["events"][0]["top_feature"]}` above.
- **events**: runs of consecutive anomalous windows. `start_index` / `end_index` (and
  timestamps) are the rows of the first and last anomalous windows' results, `n_windows` their
  number, `peak_index` / `peak_score` the highest-scoring window, and `top_feature` the feature
  with the largest summed share over the run.
"""


ERROR_TABLE = """\
| code | status | when |
|---|---|---|
| `invalid_json` | 400 | empty body, malformed JSON, invalid UTF-8, nesting deeper than 1024 levels |
| `model_not_found` | 404 | no model with that name, or no such version |
| `not_found` | 404 | no such route |
| `method_not_allowed` | 405 | e.g. `GET` on a detection route |
| `body_too_large` | 413 | body over `RAREWATCH_MAX_BODY_BYTES`; refused from its `Content-Length` before it is read, or while reading a chunked body |
| `unsupported_media_type` | 415 | `Content-Type` missing or not `application/json` (or `application/*+json`) |
| `validation_error` | 422 | the body or query does not fit the schema: `null`, strings or booleans where numbers belong, unknown or missing fields, `threshold <= 0`, `version` not a positive integer; see `errors` |
| `non_finite_values` | 422 | `NaN`, `Infinity`, `-Infinity`, numbers beyond a double (`1e400`), or values that overflow float32 once scaled (`1e300`) |
| `feature_mismatch` | 422 | a row or window row with the wrong number of values; `columns` or `series` names that are unknown, duplicated or missing; the detail names the model's features |
| `not_enough_rows` | 422 | fewer rows than the lookback (the detail says how many are needed), or no windows |
| `invalid_timestamps` | 422 | not one per row, not ISO 8601, without a time zone, or not strictly increasing (duplicates included) |
| `invalid_input` | 422 | both or neither of `values` and `series`; `columns` with `series`; series of different lengths; windows without `lookback` rows |
| `internal_error` | 500 | a bug, including a non-finite score (never returned as a score); quote the `id` |
| `not_ready` | 503 | `/readyz` when no model could be loaded |
| `model_unavailable` | 503 | a stored model or version whose artifact failed to load or verify (details in the log only) |
"""

# shown earlier on the page; the rest are listed at the end of the errors section
SHOWN_ABOVE = {"feature_mismatch", "validation_error", "internal_error", "not_ready"}


def doc_errors(captures: Captures, faults: dict[str, JSON]) -> str:
    problems = {case.name: answer for case, answer in all_problems(captures, faults)}
    listed = "\n".join(
        f"{case.status} `{case.code}`, {_lowercase_first(case.summary)} "
        f"(`{case.method} {case.path}`):\n\n{_block(answer)}\n"
        for case, answer in all_problems(captures, faults)
        if case.name not in SHOWN_ABOVE
    )
    return f"""\
<a id="errors"></a>
## Errors

Every error is `application/problem+json` (RFC 9457) with a stable `code`:

{_block(problems["feature_mismatch"])}

`type` is `urn:rarewatch:problem:<code>`; `title` is the same for every error of a code,
`detail` says what is wrong and how to fix it. Validation errors add `errors`, where and why
(`loc`, `type`, `msg`), at most the first 20:

{_block(problems["validation_error"])}

No error ever contains the request body or a value from it (unlike FastAPI's default 422
answer, which echoes every refused input). An internal error carries an `id`, also written to
the server log with the traceback:

{_block(problems["internal_error"])}

{ERROR_TABLE}
Examples of the other codes, as captured:

{listed}"""


def _lowercase_first(text: str) -> str:
    """'No such model' -> 'no such model', but 'NaN, Infinity' stays."""
    first_word = text.split(" ", 1)[0]
    return text if any(c.isupper() for c in first_word[1:]) else text[0].lower() + text[1:]


def doc_client(captures: Captures) -> str:
    lookback = captures.model["lookback"]
    return f"""\
<a id="client"></a>
## The Python client

`app.client.Client` wraps the routes with httpx; answers are the JSON documents above, as
dicts, and an error answer raises `RarewatchAPIError` with `status`, `code`, `title`, `detail`,
`errors` and `id`. `values` may be lists, a numpy array or a pandas DataFrame (whose column
names are sent as `columns`); timestamps may be strings or timezone-aware datetimes.

```python
import pandas as pd

from app.client import Client, RarewatchAPIError

frame = pd.read_csv("artifacts/demo.csv")  # written by `rarewatch serve --demo`
features = ["load", "temperature", "pressure", "flow", "vibration"]

with Client("http://127.0.0.1:8000") as rarewatch:
    rarewatch.ready()                                    # {{"status": "ready", "models": [...]}}
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
    with (
        demo_server(model_dir, work / "server.log") as url,
        httpx.Client(base_url=url, timeout=30.0) as client,
    ):
        captures = capture_from_server(client, sample)
    check_claims(captures)
    faults = capture_faults(ModelStore(model_dir), work, sample)
    examples, docs = render_examples(captures, faults), render_docs(captures, faults)
    EXAMPLES_FILE.write_text(examples)
    DOCS_FILE.write_text(docs)
    for name in undocumented_settings():
        print(f"api_docs: {name} is not in the settings table (SETTINGS_TABLE)", file=sys.stderr)
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
