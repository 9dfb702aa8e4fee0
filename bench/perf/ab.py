"""This checkout's server against another checkout's, `/detect/last` under wrk, in turn.

    python -m bench.perf.ab --baseline /path/to/other/checkout [--seconds 5] [--rounds 4]

Both servers run the same article-sized model from one folder, each with its own tree on
PYTHONPATH; the baseline's code trains it (newer code reads older artifacts, not the reverse).
wrk loads the two in alternating order (bench.perf.timing.in_turn), so that a noisy machine
slows both alike. Prints a markdown table of the median round per server and concurrency, the
ratio of this checkout's requests/s to the baseline's, and the median of each server's CPU time
per request (bench.perf.http.wrk_post_costed) and its ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import numpy as np
import orjson

from bench.perf import http
from bench.perf.fixtures import ARTICLE
from bench.perf.timing import in_turn
from bench.report import git_commit

REPO = Path(__file__).resolve().parents[2]
CONCURRENCIES = (1, 16)
JSON = {"content-type": "application/json"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="the other checkout's root")
    parser.add_argument("--seconds", type=int, default=5, help="one wrk run (default: 5)")
    parser.add_argument("--rounds", type=int, default=4, help="runs per server (default: 4)")
    args = parser.parse_args()
    trees = {"this checkout": REPO, "baseline": args.baseline.resolve()}
    rng = np.random.default_rng(0)
    body = orjson.dumps(
        {"values": rng.normal(size=(ARTICLE.lookback, ARTICLE.n_features)).tolist()}
    )
    with tempfile.TemporaryDirectory(prefix="rarewatch-ab-") as root:
        train = f"from bench.perf.fixtures import *; train_bench_model(Path({root!r}), ARTICLE)"
        subprocess.run(
            [sys.executable, "-c", "from pathlib import Path; " + train],
            env=_on_path(trees["baseline"]),
            check=True,
        )
        with contextlib.ExitStack() as stack:
            urls, servers = {}, {}
            for label, tree in trees.items():
                port = http.free_port()
                command = [sys.executable, "-m", "app.cli", "--model-dir", root, "serve"]
                server = stack.enter_context(
                    http.running(
                        [*command, "--port", str(port)], port, "/readyz", env=_on_path(tree)
                    )
                )
                servers[label] = server
                urls[label] = f"{server.url}/v1/models/{ARTICLE.name}/detect/last"
                # models load on first use: that load is no part of the requests measured
                warm = httpx.post(urls[label], content=body, headers=JSON, timeout=120)
                warm.raise_for_status()
            runs: dict[tuple[str, int], list[http.LoadResult]] = {}
            cpu: dict[tuple[str, int], list[float]] = {}
            for concurrency in CONCURRENCIES:
                for round_ in range(args.rounds):
                    for label in in_turn(list(urls), round_):
                        result, cost = http.wrk_post_costed(
                            servers[label], urls[label], body, concurrency, args.seconds
                        )
                        runs.setdefault((label, concurrency), []).append(result)
                        cpu.setdefault((label, concurrency), []).append(cost)
    print(f"`python -m bench.perf.ab` at {git_commit()}, baseline {args.baseline}\n")
    print(
        "| server | concurrency | requests/s | p50 ms | p99 ms | ratio to baseline | "
        "server CPU us per request | ratio to baseline by CPU |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for concurrency in CONCURRENCIES:
        base = http.median_round(runs[("baseline", concurrency)])
        base_cpu = float(np.median(cpu[("baseline", concurrency)]))
        for label in trees:
            run = http.median_round(runs[(label, concurrency)])
            cpu_us = float(np.median(cpu[(label, concurrency)]))
            print(
                f"| {label} | {concurrency} | {run.requests_per_s:,.0f} | {run.p50_ms:.2f} | "
                f"{run.p99_ms:.2f} | {run.requests_per_s / base.requests_per_s:.2f} | "
                f"{cpu_us * 1e6:,.0f} | {base_cpu / cpu_us:.2f} |"
            )


def _on_path(tree: Path) -> dict[str, str]:
    """The environment that makes `tree`'s packages win over any installed copy."""
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tree), os.environ.get("PYTHONPATH", "")]),
    }


if __name__ == "__main__":
    main()
