"""rarewatch's `/detect/last` against a bare Starlette endpoint on the same uvicorn settings.

    python -m bench.perf.framework [--seconds 3] [--rounds 4] [--layers]

The bare endpoint (bench.perf.framework_server) reads and parses the same JSON body (one 5 x 59
window, orjson) and answers a constant JSON of the size of rarewatch's answer. Two more servers, the
same endpoint scoring the window with the same model before it answers the same constant (by the
model's one ONNX Runtime call alone, then by the library's Detector.detect_last), are the floors
under any `/detect/last` with this model: how much of the bare endpoint's rate a route that scores
the window can keep at best. wrk (one thread) loads the four in turn (bench.perf.timing.in_turn) at
concurrency 1 and 16; prints the median round of each and the ratio of its requests/s to the bare
endpoint's, and the median of each server's CPU time per request (a steadier yardstick on a shared
machine) and its ratio. With --layers, also where rarewatch's time goes, timed interleaved in this
process without the HTTP server: ASGI apps called directly (the bare one alone and inside each of
rarewatch's middleware layers, rarewatch's without them and whole) and the handler's steps.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
from starlette.middleware.exceptions import ExceptionMiddleware

from app.api.body import parse_rows_request
from app.api.front import AdmissionMiddleware
from app.api.hosts import AllowedHostsMiddleware
from app.api.inputs import fill_of, rows_of
from app.api.metrics import Metrics, RequestMetricsMiddleware
from app.api.responses import JSONResponse, detection_body
from app.api.schemas import DetectRequest
from app.api.security import APIHeadersMiddleware, APIKeyMiddleware
from app.settings import Settings
from bench.perf import http
from bench.perf.fixtures import ARTICLE, train_bench_model
from bench.perf.framework_server import LAYERS, bare_app, rarewatch_layers, rarewatch_without
from bench.perf.timing import in_turn, interleaved_medians
from bench.report import git_commit
from models.artifact import ModelStore
from models.data_quality import judge
from models.loading import load_detector

CONCURRENCIES = (1, 16)
BARE = "bare Starlette endpoint"
FLOOR = "bare endpoint + scoring the window (Detector.detect_last)"
GRAPH = "bare endpoint + the model's ONNX Runtime call alone"
WHOLE = "rarewatch"
NO_LAYERS = "rarewatch without the five layers"
PATH = f"/v1/models/{ARTICLE.name}/detect/last"
JSON = {"Content-Type": "application/json"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3, help="one wrk run (default: 3)")
    parser.add_argument("--rounds", type=int, default=4, help="runs per server (default: 4)")
    parser.add_argument("--layers", action="store_true", help="also time each layer's cost")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    body = orjson.dumps(
        {"values": rng.normal(size=(ARTICLE.lookback, ARTICLE.n_features)).tolist()}
    )
    with tempfile.TemporaryDirectory(prefix="rarewatch-framework-") as root:
        store = train_bench_model(Path(root), ARTICLE)
        runs, cpu, answer = served_in_turn(Path(root), body, args.seconds, args.rounds)
        if args.layers:
            layers = layer_costs(Path(root), body, answer)
            handler = handler_steps(store, body)
            split = profiled_split(Path(root), body, answer)
    print(
        f"Measured {dt.date.today()} at commit {git_commit()} with `python -m bench.perf."
        f"framework --seconds {args.seconds} --rounds {args.rounds}"
        f"{' --layers' if args.layers else ''}`; answers of {len(answer)} bytes.\n"
    )
    print(
        "| server | concurrency | requests/s | p50 ms | p99 ms | errors | ratio to bare | "
        "server CPU us per request | ratio to bare by CPU |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for concurrency in CONCURRENCIES:
        base = http.median_round(runs[(BARE, concurrency)])
        base_cpu = float(np.median(cpu[(BARE, concurrency)]))
        for label in (BARE, GRAPH, FLOOR, WHOLE):
            run = http.median_round(runs[(label, concurrency)])
            ratio = run.requests_per_s / base.requests_per_s
            cpu_us = float(np.median(cpu[(label, concurrency)]))
            print(
                f"| {label} | {concurrency} | {run.requests_per_s:,.0f} | {run.p50_ms:.2f} | "
                f"{run.p99_ms:.2f} | {run.errors} | {ratio:.2f} | {cpu_us * 1e6:,.0f} | "
                f"{base_cpu / cpu_us:.2f} |"
            )
    if not args.layers:
        return
    print("\n| ASGI app, called in process (one request) | median us | more than bare, us |")
    print("|---|---:|---:|")
    for label, seconds in layers.items():
        gap = (seconds - layers[BARE]) * 1e6
        print(f"| {label} | {seconds * 1e6:,.1f} | {gap:,.1f} |")
    print("\n| rarewatch's app under cProfile, per request | us | share |")
    print("|---|---:|---:|")
    for label, seconds in split.items():
        share = seconds / split[next(iter(split))]
        print(f"| {label} | {seconds * 1e6:,.0f} | {share:.0%} |")
    print("\n| handler step, in process | median us |")
    print("|---|---:|")
    for step, seconds in handler.items():
        print(f"| {step} | {seconds * 1e6:,.1f} |")


Rounds = dict[tuple[str, int], list[http.LoadResult]]
CPU = dict[tuple[str, int], list[float]]


def served_in_turn(root: Path, body: bytes, seconds: int, rounds: int) -> tuple[Rounds, CPU, bytes]:
    """wrk's rounds on `rarewatch serve` and on the bare endpoint, in turn, with the server's
    CPU seconds per request in each (http.wrk_post_costed); rarewatch's answer."""
    with contextlib.ExitStack() as stack:
        port = http.free_port()
        command = [sys.executable, "-m", "app.cli", "--model-dir", str(root), "serve"]
        served = stack.enter_context(
            http.running([*command, "--port", str(port)], port, "/readyz", env=_this_tree())
        )
        # the first request loads the model: not in a measured round
        answer = httpx.post(served.url + PATH, content=body, headers=JSON)
        answer_file = root / "answer.json"
        answer_file.write_bytes(answer.raise_for_status().content)
        port = http.free_port()
        command = [sys.executable, "-m", "bench.perf.framework_server", "--answer"]
        command += [str(answer_file)]
        bare = stack.enter_context(
            http.running([*command, "--port", str(port)], port, "/readyz", env=_this_tree())
        )
        servers = {BARE: bare}
        for label, options in ((GRAPH, ["--graph-only"]), (FLOOR, [])):
            port = http.free_port()
            scoring = [*command, "--score", str(root), *options, "--port", str(port)]
            server = stack.enter_context(http.running(scoring, port, "/readyz", env=_this_tree()))
            # the first request loads the model: not in a measured round
            httpx.post(server.url + PATH, content=body, headers=JSON).raise_for_status()
            servers[label] = server
        servers[WHOLE] = served
        runs: Rounds = {}
        cpu: CPU = {}
        for concurrency in CONCURRENCIES:
            for round_ in range(rounds):
                for label in in_turn(list(servers), round_):
                    http.wait_until_idle(list(servers.values()))
                    server = servers[label]
                    result, cost = http.wrk_post_costed(
                        server, server.url + PATH, body, concurrency, seconds
                    )
                    runs.setdefault((label, concurrency), []).append(result)
                    cpu.setdefault((label, concurrency), []).append(cost)
    return runs, cpu, answer.content


def layer_costs(root: Path, body: bytes, answer: bytes) -> dict[str, float]:
    """Median seconds of one /detect/last request through an ASGI app called in process: the
    bare app alone, with each of rarewatch's middleware layers around it, with all five, and
    rarewatch's app without them and whole."""
    settings = Settings(model_dir=root)
    whole = rarewatch_without(settings, [])
    layered = {
        f"bare + {layer}": bare_app(answer, settings, rarewatch_layers(whole, [layer]))
        for layer in LAYERS
    }
    everything = rarewatch_layers(whole, list(LAYERS))
    rarewatch = {NO_LAYERS: rarewatch_without(settings, list(LAYERS)), WHOLE: whole}
    apps = (
        {BARE: bare_app(answer, settings)}
        | layered
        | {"bare + all five": bare_app(answer, settings, everything)}
        | rarewatch
    )
    loop = asyncio.new_event_loop()
    lifespans = [app.router.lifespan_context(app) for app in rarewatch.values()]
    for lifespan in lifespans:
        loop.run_until_complete(lifespan.__aenter__())
    try:
        return interleaved_medians(
            {label: asgi_post(loop, app, body, len(answer)) for label, app in apps.items()},
            budget_s=15,
            block_s=0.1,
        )
    finally:
        for lifespan in lifespans:
            loop.run_until_complete(lifespan.__aexit__(None, None, None))
        loop.close()


def asgi_post(
    loop: asyncio.AbstractEventLoop, app: Any, body: bytes, answer_size: int, path: str = PATH
) -> Callable[[], None]:
    """One POST of `body` to the ASGI `app`'s `path`, checked to answer 200 with `answer_size`
    bytes."""
    headers = [
        (b"host", b"127.0.0.1:8000"),
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    def run() -> None:
        sent.clear()
        loop.run_until_complete(app(dict(scope), receive, send))
        assert sent[0]["status"] == 200, sent
        assert len(sent[-1]["body"]) == answer_size, sent

    return run


# Where a request's time goes under cProfile: each function's cumulative time per request,
# from the outermost layer inward (coroutines count a call per resumption, so per request is
# the cumulative time over the requests sent, not over the calls). A function is named by
# `file.py(function)` where that is unique, else by the function itself (its code's line).
PROFILED: dict[str | Callable[..., object], str] = {
    APIHeadersMiddleware.__call__: "the whole app (from the outermost layer, the API headers)",
    AllowedHostsMiddleware.__call__: "inside the API headers layer",
    RequestMetricsMiddleware.__call__: "inside the Host allow-list",
    APIKeyMiddleware.__call__: "inside the request metrics",
    AdmissionMiddleware.__call__: "inside the API keys",
    ExceptionMiddleware.__call__: "inside the overload refusal: exceptions, routing, the route",
    "body.py(handle_strict_json)": "the strict JSON route (body, admission, the route's call)",
    "body.py(read_body)": "- read the body within the reception's bounds",
    "body.py(parse_rows_request)": "- parse it (orjson)",
    "limits.py(check)": "- the limits' check",
    "deps.py(call_route)": "- the route's call (app.api.deps.scoring_call)",
    "v2.py(validate)": "-- the version's and the body's validation (pydantic)",
    "deps.py(get_scoring)": "-- the model (get_scoring)",
    "detect.py(detect_last)": "-- the route's function",
    "inputs.py(rows_of)": "--- rows_of",
    "detector.py(detect_last)": "--- Detector.detect_last (scaling, the network, scores)",
    "data_quality.py(judge)": "--- data quality (judge)",
    "detect.py(answer)": "--- the answer: metrics, shaping, JSONResponse",
    "metrics.py(detection)": "---- Metrics.detection",
    "responses.py(detection_body)": "---- detection_body",
}


def profiled_split(
    root: Path, body: bytes, answer: bytes, requests: int = 3000
) -> dict[str, float]:
    """Seconds per request of each of PROFILED's functions, rarewatch's app called in process
    `requests` times under cProfile (which slows it: compare the shares, not the sums)."""
    import cProfile
    import pstats

    app = rarewatch_without(Settings(model_dir=root), [])
    loop = asyncio.new_event_loop()
    lifespan = app.router.lifespan_context(app)
    loop.run_until_complete(lifespan.__aenter__())
    post = asgi_post(loop, app, body, len(answer))
    try:
        for _ in range(100):
            post()  # the model loads on the first
        profile = cProfile.Profile()
        profile.runcall(lambda: [post() for _ in range(requests)])
    finally:
        loop.run_until_complete(lifespan.__aexit__(None, None, None))
        loop.close()
    stats = pstats.Stats(profile).stats.items()
    found: dict[object, float] = {}
    for (file, line, function), row in stats:
        for key in ((file, line, function), f"{Path(file).name}({function})"):
            found[key] = found.get(key, 0.0) + row[3] / requests
    return {label: found.get(_profile_key(key), float("nan")) for key, label in PROFILED.items()}


def _profile_key(named: str | Callable[..., object]) -> object:
    """PROFILED's key as pstats names a function: its text, or a function's (file, line, name)."""
    if isinstance(named, str):
        return named
    code = named.__code__
    return (code.co_filename, code.co_firstlineno, code.co_name)


def handler_steps(store: ModelStore, body: bytes) -> dict[str, float]:
    """Median seconds of each step of /detect/last's handler, timed interleaved."""
    detector = load_detector(store, ARTICLE.name)
    features = detector.features
    request = DetectRequest.model_validate(parse_rows_request(body))
    rows = rows_of(request, features, False)
    fill = fill_of(request, detector.fill_policy)
    detection = detector.detect_last(rows.values, None, fill)
    verdict = judge(detector.training_stats, detector.lookback, rows.values, detection)
    metrics = Metrics()
    steps: dict[str, Callable[[], object]] = {
        "parse the body (orjson.loads, as the bare endpoint)": lambda: orjson.loads(body),
        "parse and validate (parse_rows_request, DetectRequest, rows_of)": lambda: rows_of(
            DetectRequest.model_validate(parse_rows_request(body)), features, False
        ),
        "score the newest window (Detector.detect_last)": lambda: detector.detect_last(
            rows.values, None, fill
        ),
        "data quality (judge)": lambda: judge(
            detector.training_stats, detector.lookback, rows.values, detection
        ),
        "count it in the metrics (Metrics.detection)": lambda: metrics.detection(
            detector, detection, verdict
        ),
        "shape the answer (detection_body, JSONResponse)": lambda: JSONResponse(
            detection_body(detector, detection, None, 3, verdict)
            | {"ignored_columns": [], "notes": []}
        ),
    }
    return interleaved_medians(steps, budget_s=6, block_s=0.1)


def _this_tree() -> dict[str, str]:
    """The environment that makes this checkout's packages win over any installed copy."""
    tree = str(Path(__file__).resolve().parents[2])
    return {"PYTHONPATH": os.pathsep.join([tree, os.environ.get("PYTHONPATH", "")])}


if __name__ == "__main__":
    main()
