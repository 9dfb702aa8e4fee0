"""A thousand small models in one server: start to ready, memory, first requests, throughput.

    python -m bench.perf.many_models [--models 1000] [--seconds 5] [--rounds 3]
                                     [--concurrency 8] [--write docs/benchmarks.md]

One small model (5 features, lookback 5) is trained once and its artifact folder copied under
--models names (every copy's manifest checked). Then, against one `rarewatch serve` on
127.0.0.1 with the default settings:
1. start to ready: from the process' start to the first 200 of /readyz (asked every 20 ms);
2. a first request to every model, one after the other (each loads its model): p50, p99, max;
3. RSS once every model is loaded;
4. /detect/last throughput, wrk with one thread: every request to one hot model, then requests
   spread evenly over every model (each to the next), in turn, --rounds times; the medians and
   their ratio.
Checks: ready in under 10 s, RSS under 1 GB, a first request's p99 under 50 ms, the spread
throughput at least 0.8x the hot one, no error. Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import orjson

from bench.load.common import check_lines, publish
from bench.perf import http
from bench.perf.fixtures import BenchModel, train_bench_model
from models.artifact import ModelStore
from models.spec import Activation

SMALL = BenchModel("small", 5, 5, (16, 8), Activation.RELU)
START, END = "<!-- many-models:start -->", "<!-- many-models:end -->"
MAX_READY_S, MAX_RSS_MB, MAX_FIRST_P99_MS, MIN_SPREAD_RATIO = 10.0, 1024.0, 50.0, 0.8


def fleet_store(root: Path, n_models: int, model: BenchModel = SMALL) -> list[str]:
    """`n_models` copies of one trained `model` in `root`, named pump-0000...; their names."""
    seed = train_bench_model(root / ".seed", model)
    version_folder = seed.root / model.name / "1"
    names = [f"pump-{i:04d}" for i in range(n_models)]
    for name in names:
        shutil.copytree(version_folder, root / name / "1")
    store = ModelStore(root)
    for name in names:
        store.open(name)  # every copy's manifest and detector.json still valid
    shutil.rmtree(root / ".seed")
    return names


def body() -> bytes:
    values = np.random.default_rng(0).normal(size=(SMALL.lookback, SMALL.n_features))
    return orjson.dumps({"values": values}, option=orjson.OPT_SERIALIZE_NUMPY)


def first_requests(url: str, names: list[str], payload: bytes) -> tuple[list[float], int]:
    """A first request to each model in turn: the latencies (ms) and the non-200 count."""
    latencies, errors = [], 0
    with httpx.Client(base_url=url, timeout=30) as client:
        for name in names:
            started = time.perf_counter()
            answer = client.post(
                f"/v1/models/{name}/detect/last",
                content=payload,
                headers={"content-type": "application/json"},
            )
            latencies.append((time.perf_counter() - started) * 1e3)
            errors += answer.status_code != 200
    return latencies, errors


def measure(
    root: Path, names: list[str], seconds: int, rounds: int, concurrency: int
) -> tuple[list[str], bool]:
    payload = body()
    port = http.free_port()
    command = [sys.executable, "-m", "app.cli", "--model-dir", str(root), "serve"]
    started = time.monotonic()
    with http.running([*command, "--port", str(port)], port, "/readyz", poll_s=0.02) as server:
        ready_s = time.monotonic() - started
        rss_ready = server.rss_mb()
        latencies, first_errors = first_requests(server.url, names, payload)
        rss_loaded = server.rss_mb()
        paths = [f"/v1/models/{name}/detect/last" for name in names]
        random.Random(0).shuffle(paths)
        hot_runs, spread_runs = [], []
        for _ in range(rounds):
            http.wait_until_idle([server])
            hot_runs.append(http.wrk_post(server.url, payload, concurrency, seconds, paths[:1]))
            http.wait_until_idle([server])
            spread_runs.append(http.wrk_post(server.url, payload, concurrency, seconds, paths))
        rss_end = server.rss_mb()
    hot = statistics.median(r.requests_per_s for r in hot_runs)
    spread = statistics.median(r.requests_per_s for r in spread_runs)
    p50, p99 = np.percentile(latencies, [50, 99])
    errors = first_errors + sum(r.errors for r in hot_runs + spread_runs)
    checks = {
        f"ready in under {MAX_READY_S:g} s": ready_s < MAX_READY_S,
        f"RSS with every model loaded under {MAX_RSS_MB:g} MB": max(rss_loaded, rss_end)
        < MAX_RSS_MB,
        f"a first request's p99 under {MAX_FIRST_P99_MS:g} ms": p99 < MAX_FIRST_P99_MS,
        f"spread throughput at least {MIN_SPREAD_RATIO}x the hot one": spread
        >= MIN_SPREAD_RATIO * hot,
        "no error": errors == 0,
    }
    lines = [
        f"{len(names):,} copies of one model `{SMALL.label}` (ONNX Runtime), default settings "
        f"(RAREWATCH_MAX_LOADED_MODELS 1000). `POST /v1/models/NAME/detect/last` with one "
        f"window ({len(payload)} bytes).",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| start to ready (process start to the first 200 of /readyz) | {ready_s:.2f} s |",
        f"| RSS when ready (nothing loaded) | {rss_ready:.0f} MB |",
        f"| first request to a model (it loads): p50 / p99 / max | {p50:.1f} / {p99:.1f} / "
        f"{max(latencies):.1f} ms |",
        f"| RSS with every model loaded / after the throughput runs | {rss_loaded:.0f} / "
        f"{rss_end:.0f} MB |",
        f"| /detect/last, one hot model, wrk -c{concurrency}: median of {rounds} rounds | "
        f"{hot:,.0f} req/s |",
        f"| /detect/last, spread over {len(names):,} models: median of {rounds} rounds | "
        f"{spread:,.0f} req/s |",
        f"| spread / hot | **{spread / hot:.2f}x** |",
        "",
        "Rounds (req/s, hot then spread, in the order run): "
        + ", ".join(
            f"{h.requests_per_s:,.0f} / {s.requests_per_s:,.0f}"
            for h, s in zip(hot_runs, spread_runs, strict=True)
        )
        + ".",
        "",
        *check_lines(checks),
    ]
    return lines, all(checks.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=5, help="per throughput run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8, help="wrk connections")
    parser.add_argument("--write", type=Path, help="replace this section of the file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        names = fleet_store(root, args.models)
        lines, passed = measure(root, names, args.seconds, args.rounds, args.concurrency)
    section = ((START, END), "## Many models in one server\n\n")
    publish("bench.perf.many_models", lines, passed, args.write, section, "wrk")


if __name__ == "__main__":
    main()
