"""One command for the performance benchmark: in-process, HTTP and training, side by side.

    python -m bench.perf.run [--quick] [--write docs/benchmarks.md]

Everything runs on 127.0.0.1 and is bounded in time (about 6 minutes in full, under one in
--quick). With --write, the performance section of docs/benchmarks.md is replaced.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import math
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import orjson

from bench.perf import http, inprocess, training_speed
from bench.perf.fixtures import ARTICLE, SEED, train_bench_model
from bench.perf.timing import in_turn, interleaved_medians
from bench.report import git_commit, replace_section
from models.artifact import ModelStore
from models.loading import load_detector

START, END = "<!-- perf:start -->", "<!-- perf:end -->"
BULK_ROWS = 10_000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny budgets: checks it runs")
    parser.add_argument("--write", type=Path, help="replace the performance section of this file")
    args = parser.parse_args()
    budget, seconds = (0.05, 2) if args.quick else (1.0, 5)
    batches = (1, 32) if args.quick else inprocess.BATCH_SIZES

    root = Path(tempfile.mkdtemp(prefix="rarewatch-perf-"))
    lines = [f"Measured {dt.date.today()} at commit {git_commit()} with `{_command()}`.", ""]
    for model in (ARTICLE, SEED):
        train_bench_model(root, model)
    store = ModelStore(root)

    goals: list[Goal] = []
    sections = _inprocess_section(store, batches, budget, goals)
    sections += _http_section(root, store, seconds, args.quick, goals)
    sections += _training_section(args.quick, goals)
    lines += _goals_table(goals) + sections
    report = "\n".join(lines)
    print(report)
    if args.write:
        replace_section(args.write, (START, END), f"## Performance\n\n{report}", "Benchmarks")


@dataclass(frozen=True)
class Goal:
    """One of the performance issue's goals, as measured in this run."""

    name: str
    measured: str
    target: str
    met: bool


def _goals_table(goals: list[Goal]) -> list[str]:
    lines = ["### Goals", "", "| goal | measured | target | met |", "|---|---:|---:|---|"]
    lines += [
        f"| {g.name} | {g.measured} | {g.target} | {'yes' if g.met else 'no'} |" for g in goals
    ]
    return [*lines, ""]


def _inprocess_section(store: ModelStore, batches, budget: float, goals: list[Goal]) -> list[str]:  # type: ignore[no-untyped-def]
    lines = [
        "### In-process scoring",
        "",
        "Windows per second (median of repeated calls); GFLOP/s from the LSTM and Dense",
        "multiply-adds. `Detector.detect` is the whole path from raw rows: scale, temporalize,",
        "reconstruct, score, contributions, severity, events. The raw ONNX Runtime session is the",
        "exported graph in a session with ONNX Runtime's default options (one intra-op thread per",
        "core) fed ready-made contiguous windows; rarewatch's engine runs single-thread calls on",
        "chunks of 512 windows, one chunk per core at a time (the calling thread takes chunks",
        "too), of the same graph without the exporter's needless steps (models/onnx_graph.py,",
        "below). `Detector.detect (onnx)` runs each chunk's scoring, raw rows in and scores and",
        "contributions out, as one call of the stored graph extended when the model loads",
        "(models/onnx_scoring.py; of the network's nodes, the ones that build the LSTMs' zero",
        "initial states and the first Transpose are dropped and the RepeatVector's Tile, Reshape",
        "and Transpose become one Expand: the same numbers, fewer steps);",
        "the plain path does the same steps in numpy around the network. Paths are timed in",
        "alternating blocks of 250 ms (ONNX Runtime's default pool keeps spinning after a call",
        "and would slow whichever path came next). Ratio: against the raw session.",
        "",
        "| model | batch | path | windows/s | GFLOP/s | ratio to raw ORT |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for model in (ARTICLE, SEED):
        rows = inprocess.measure(store, model, batches, budget)
        raw = {r.batch: r.windows_per_s for r in rows if r.path.startswith("raw")}
        for r in rows:
            lines.append(
                f"| {r.model} | {r.batch} | {r.path} | {r.windows_per_s:,.0f} | {r.gflops:.2f} "
                f"| {r.windows_per_s / raw[r.batch]:.2f} |"
            )
            if r.path == "Detector.detect (onnx)" and r.batch >= 1024:
                ratio = r.windows_per_s / raw[r.batch]
                goals.append(
                    Goal(
                        f"bulk scoring vs raw ORT, {r.model}, batch {r.batch}",
                        f"{ratio:.2f}x",
                        ">= 0.9x",
                        ratio >= 0.9,
                    )
                )
    return [*lines, ""]


RAREWATCH, ACCESS_LOG_ON, NAIVE, MALLOC_DEFAULTS = (
    "rarewatch",
    "rarewatch, access log on",
    "naive (FastAPI + model.predict)",
    "rarewatch, glibc's malloc defaults",
)
# the servers under /detect/last load; MALLOC_DEFAULTS only takes the large /detect requests
LOADED = (RAREWATCH, ACCESS_LOG_ON, NAIVE)


def _http_section(
    root: Path, store: ModelStore, seconds: int, quick: bool, goals: list[Goal]
) -> list[str]:
    python = sys.executable
    serve = [python, "-m", "app.cli", "--model-dir", str(root), "serve", "--port"]
    naive = [python, "-m", "bench.perf.naive_server", "--model-dir", str(root)]
    naive += ["--name", ARTICLE.name, "--port"]
    ports = {label: http.free_port() for label in (*LOADED, MALLOC_DEFAULTS)}
    servers = {
        RAREWATCH: ([*serve, str(ports[RAREWATCH])], "/readyz", {}),
        # the product's default is no access log; this row shows what turning it on costs
        ACCESS_LOG_ON: (
            [*serve, str(ports[ACCESS_LOG_ON])],
            "/readyz",
            {"RAREWATCH_ACCESS_LOG": "true"},
        ),
        NAIVE: ([*naive, str(ports[NAIVE])], "/healthz", {}),
        # the same as RAREWATCH with app/api/memory.py's setting off, for the large requests
        MALLOC_DEFAULTS: (
            [*serve, str(ports[MALLOC_DEFAULTS])],
            "/readyz",
            {"RAREWATCH_KEEP_FREED_MEMORY_MB": "0"},
        ),
    }
    rng = np.random.default_rng(0)
    last_body = orjson.dumps(
        {"values": rng.normal(size=(ARTICLE.lookback, ARTICLE.n_features)).tolist()}
    )
    bulk_values = rng.normal(size=(BULK_ROWS, ARTICLE.n_features))
    bulk_body = orjson.dumps({"values": bulk_values.tolist()})
    rounds = 1 if quick else 3
    lines = [
        "### HTTP",
        "",
        f"`POST /v1/models/article/detect/last`, one window ({ARTICLE.lookback} x "
        f"{ARTICLE.n_features}) per request, wrk with one thread. The servers run side by side "
        f"and take turns: {rounds} round(s) of {seconds} s each per server and concurrency; the "
        "table gives the median round. Each load, and the large requests below, starts once "
        "the servers are idle (together under 5 % of a core over 0.25 s; the naive server "
        "finishes its queued requests after wrk stops). RSS: each server's resident memory "
        "after the load.",
        "",
        "| server | concurrency | requests/s | p50 ms | p99 ms | errors | RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    results: dict[tuple[str, int], http.LoadResult] = {}
    still_busy = 0  # measurements that started before the servers were idle
    rss: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        running = {
            label: stack.enter_context(http.running(command, ports[label], ready, env=env))
            for label, (command, ready, env) in servers.items()
        }
        for concurrency in (1, 16):
            measured: dict[str, list[http.LoadResult]] = {label: [] for label in LOADED}
            for _ in range(rounds):
                for label in LOADED:
                    url = f"{running[label].url}/v1/models/{ARTICLE.name}/detect/last"
                    still_busy += not http.wait_until_idle(running.values())
                    measured[label].append(http.wrk_post(url, last_body, concurrency, seconds))
            for label, runs in measured.items():
                results[label, concurrency] = http.median_round(runs)
        for label in LOADED:
            rss[label] = running[label].rss_mb()
        detector = load_detector(store, ARTICLE.name)
        still_busy += not http.wait_until_idle(running.values())
        bulk = _bulk_side_by_side(
            {label: running[label] for label in (RAREWATCH, MALLOC_DEFAULTS)},
            f"/v1/models/{ARTICLE.name}/detect",
            bulk_body,
            lambda: detector.detect(bulk_values),
            2 if quick else 11,
        )
    for label in LOADED:
        for concurrency in (1, 16):
            result = results[label, concurrency]
            lines.append(
                f"| {label} | {concurrency} | {result.requests_per_s:,.1f} "
                f"| {result.p50_ms:.2f} | {result.p99_ms:.2f} | {result.errors} "
                f"| {rss[label]:.0f} |"
            )
    for concurrency in (1, 16):
        ours, logged, slow = (results[label, concurrency] for label in LOADED)
        lines.append(
            f"\nConcurrency {concurrency}: rarewatch serves "
            f"{_times(ours, slow):.0f}x the naive server's requests/s "
            f"({_times(logged, slow):.0f}x with the access log on)."
        )
    if still_busy:
        lines.append(
            f"\n{still_busy} measurement(s) started with the servers still busy after 30 s of "
            "waiting."
        )
    ours16, naive16 = results[RAREWATCH, 16], results[NAIVE, 16]
    speedup = _times(ours16, naive16)
    p50 = results[RAREWATCH, 1].p50_ms
    rss_mb = rss[RAREWATCH]
    goals += [
        Goal("/detect/last, concurrency 16, vs naive", f"{speedup:.0f}x", ">= 60x", speedup >= 60),
        Goal(
            "/detect/last, concurrency 16, p99",
            f"{ours16.p99_ms:.1f} ms",
            "< 25 ms",
            ours16.p99_ms < 25,
        ),
        Goal("/detect/last, concurrency 1, p50", f"{p50:.2f} ms", "< 2 ms", p50 < 2),
        Goal("serving RSS (ONNX engine)", f"{rss_mb:.0f} MB", "< 250 MB", rss_mb < 250),
    ]
    ours = bulk.posts[RAREWATCH]
    ratio = ours.median_s / bulk.in_process_s
    # for comparison: the same call repeated back to back, its caches warm from the call before
    back_to_back = interleaved_medians(
        {"detect": lambda: detector.detect(bulk_values)}, 0.5 if quick else 3
    )["detect"]
    goals.append(
        Goal(
            f"/detect {BULK_ROWS:,} x {ARTICLE.n_features} vs in-process",
            f"{ratio:.2f}x",
            "<= 3x",
            ratio <= 3,
        )
    )
    defaults = bulk.posts[MALLOC_DEFAULTS]
    lines += [
        "",
        f"`POST /v1/models/article/detect` with {BULK_ROWS:,} rows x {ARTICLE.n_features} features "
        f"({len(bulk_body) / 1e6:.1f} MB of JSON, {BULK_ROWS - ARTICLE.lookback + 1:,} windows): "
        f"{ours.median_s * 1e3:.0f} ms end to end (median), against "
        f"{bulk.in_process_s * 1e3:.0f} ms for `Detector.detect` on the same rows in-process, "
        f"timed in turn with the requests (a request to each server below, then one in-process "
        f"call; {back_to_back * 1e3:.0f} ms when called back to back): {ratio:.2f}x. The first "
        f"{len(ours.untimed_s)} requests to each server are not counted (they took "
        f"{' and '.join(f'{t * 1e3:.0f}' for t in ours.untimed_s)} ms on rarewatch's: its buffers "
        "and allocator pools grow on the first large bodies).",
        "",
        "| server | ms per request (median) | ratio to in-process | page faults per request "
        "| RSS MB after |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {label} | {post.median_s * 1e3:.0f} | {post.median_s / bulk.in_process_s:.2f} "
            f"| {post.faults_per_request:,.0f} | {post.rss_mb:.0f} |"
            for label, post in bulk.posts.items()
        ),
        "",
        f"{MALLOC_DEFAULTS}: `RAREWATCH_KEEP_FREED_MEMORY_MB=0` (app/api/memory.py). Page faults: "
        "fresh memory pages the server process touched per timed request (/proc), "
        f"{defaults.faults_per_request / max(ours.faults_per_request, 1):.1f}x as many with "
        f"glibc's defaults in this run. The in-process calls (this process, glibc's defaults) "
        f"faulted in {bulk.in_process_faults:,.0f} pages per call.",
        "",
    ]
    return lines


@dataclass(frozen=True)
class BulkPosts:
    median_s: float
    untimed_s: list[float]  # the warm-up requests, not counted
    faults_per_request: float  # minor page faults of the server per timed request
    rss_mb: float  # the server's resident memory after the requests


@dataclass(frozen=True)
class BulkResult:
    posts: dict[str, BulkPosts]
    in_process_s: float
    in_process_faults: float  # minor page faults of this process per in-process call


def _bulk_side_by_side(
    servers: dict[str, http.Server],
    path: str,
    body: bytes,
    in_process: Callable[[], object],
    repeats: int,
    warm_up: int = 2,
) -> BulkResult:
    """Median seconds of `repeats` POSTs to each server and of as many in-process calls, taken
    in turn (a request to each server, in alternating order, then a call) so that a slow spell
    of the machine hits all alike. The `warm_up` POSTs before them are not counted: a server's
    first large bodies take longer while its buffers and allocator pools grow, a one-time cost
    per process rather than the steady state compared with in-process scoring."""
    posts: dict[str, list[float]] = {label: [] for label in servers}
    faults = dict.fromkeys(servers, 0)
    calls: list[float] = []
    in_process_faults = 0
    with contextlib.ExitStack() as stack:
        clients = {
            label: stack.enter_context(httpx.Client(base_url=server.url, timeout=120))
            for label, server in servers.items()
        }
        for attempt in range(warm_up + repeats):
            for label in in_turn(list(servers), attempt):
                faults_before = servers[label].minor_faults()
                started = time.perf_counter()
                response = clients[label].post(
                    path, content=body, headers={"content-type": "application/json"}
                )
                response.raise_for_status()
                posts[label].append(time.perf_counter() - started)
                if attempt >= warm_up:
                    faults[label] += servers[label].minor_faults() - faults_before
            faults_before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            started = time.perf_counter()
            in_process()
            if attempt >= warm_up:
                calls.append(time.perf_counter() - started)
                in_process_faults += resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                in_process_faults -= faults_before
    return BulkResult(
        {
            label: BulkPosts(
                statistics.median(times[warm_up:]),
                times[:warm_up],
                faults[label] / repeats,
                servers[label].rss_mb(),
            )
            for label, times in posts.items()
        },
        statistics.median(calls),
        in_process_faults / repeats,
    )


def _times(ours: http.LoadResult, baseline: http.LoadResult) -> float:
    """How many times the baseline's requests/s; NaN (shown as nan, a goal not met) when the
    baseline answered nothing in its run (the naive server's first predictions, in --quick's
    2-second runs on a busy machine)."""
    if baseline.requests_per_s == 0:
        return math.nan
    return ours.requests_per_s / baseline.requests_per_s


def _training_section(quick: bool, goals: list[Goal]) -> list[str]:
    n_rows, epochs = (1500, 2) if quick else (10_000, 6)
    rounds = 1 if quick else 4  # even: each path trains first as often as the other
    results = training_speed.measure(ARTICLE, n_rows, epochs, rounds)
    ours, plain = results
    ratio = ours.windows_per_s / plain.windows_per_s
    goals.append(
        Goal("training throughput vs plain Keras", f"{ratio:.2f}x", ">= 0.95x", ratio >= 0.95)
    )
    lines = [
        "### Training",
        "",
        f"The article model on {n_rows:,} rows x {ARTICLE.n_features} features, {epochs} epochs, "
        f"batch 64, each path trained {rounds} time(s), in alternating order. Windows/s: median "
        "over the epochs after the first of every run. rarewatch fits the LSTMs unrolled (a "
        f"lookback of {ARTICLE.lookback} is within `models.network.UNROLL_MAX_LOOKBACK`) and "
        "stores the rolled network with the trained weights; the plain path fits the network "
        "as the article writes it (rolled).",
        "",
        "| path | windows/s per epoch | whole call s |",
        "|---|---:|---:|",
    ]
    lines += [f"| {r.path} | {r.windows_per_s:,.0f} | {r.wall_s:.1f} |" for r in results]
    lines += [
        "",
        f"rarewatch trains at {ours.windows_per_s / plain.windows_per_s:.2f}x plain "
        "Keras's throughput (its whole call also exports and checks the ONNX graph).",
        "",
    ]
    return lines


def _command() -> str:
    return "python -m bench.perf.run " + " ".join(sys.argv[1:])


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main()
