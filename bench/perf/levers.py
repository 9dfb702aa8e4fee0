"""What each score lever costs a served `/detect/last` and a bulk `detect`, beside the defaults.

    python -m bench.perf.levers [--seconds 5] [--rounds 3] [--lever NAME K=V ...] [--quick]

The article-sized bench model (bench.perf.fixtures.ARTICLE, one epoch on synthetic data: speed
does not depend on what the weights learned) is trained once per lever, with that lever's
training options on top of the defaults, into one model folder. One `rarewatch serve` serves
them all; wrk loads each model's /detect/last in turn (bench.perf.timing.in_turn), at
concurrency 1 and 16, so a noisy machine slows every lever alike. Every request sends the same
body, rows enough for the lever reading the most (smoothing and the alarm rules read more rows
than one window's). In process, Detector.detect over BULK_WINDOWS windows is timed interleaved
across the levers. Prints a markdown table: per lever, p50 and requests/s at each concurrency,
windows/s in bulk, and each one's ratio to the defaults'.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path

import httpx
import numpy as np
import orjson

from bench.perf import http
from bench.perf.fixtures import ARTICLE, synthetic_frame
from bench.perf.timing import in_turn, interleaved_medians
from bench.quality.common import with_settings
from bench.report import git_commit, slug
from models.artifact import ModelStore
from models.data import select
from models.loading import load_detector
from models.training import store_trained, train_detector

DEFAULTS = "defaults"
# fixed before any run: one of each stored score option at a usual setting, and the event rule
# of bench.quality's "3 in a row, hold 10"
LEVERS: dict[str, tuple[str, ...]] = {
    DEFAULTS: (),
    "smoothing 5": ("smoothing=5",),
    "error_standardisation max": ("error_standardisation=max",),
    "error_standardisation mean_square": ("error_standardisation=mean_square",),
    "3 in a row, hold 9": ("alarm_after=3", "alarm_hold=9"),
    "PCA member": ("pca_member=true",),
    "3 members": ("members=3",),
}
CONCURRENCIES = (1, 16)
BULK_WINDOWS = 16_384
BODY_ROWS = 32  # more than any lever above reads (lookback 5 + hold 9 + 2 + smoothing's 4)
JSON = {"content-type": "application/json"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="one wrk run (default: 5)")
    parser.add_argument("--rounds", type=int, default=3, help="runs per lever (default: 3)")
    parser.add_argument(
        "--lever",
        action="append",
        nargs="+",
        default=[],
        metavar=("NAME", "K=V"),
        help="another lever: its name, then its training settings (as bench.quality's --set)",
    )
    parser.add_argument("--quick", action="store_true", help="1-second runs, one round: CI")
    args = parser.parse_args(argv)
    levers = dict(LEVERS)
    for name, *settings in args.lever:
        levers[name] = tuple(settings)
    seconds, rounds = (1, 1) if args.quick else (args.seconds, args.rounds)
    rng = np.random.default_rng(0)
    body = orjson.dumps({"values": rng.normal(size=(BODY_ROWS, ARTICLE.n_features)).tolist()})
    series = rng.normal(size=(BULK_WINDOWS + ARTICLE.lookback - 1, ARTICLE.n_features))
    with tempfile.TemporaryDirectory(prefix="rarewatch-levers-") as root:
        names = train_levers(Path(root), levers)
        bulk = bulk_windows_per_s(Path(root), names, series, budget_s=1.0 if args.quick else 4.0)
        load = served(Path(root), names, body, seconds, rounds)
    print(report(names, load, bulk))


def train_levers(root: Path, levers: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Each lever's model, trained into `root`; lever name -> model name."""
    store = ModelStore(root)
    data = select(synthetic_frame(2000, ARTICLE.n_features))
    names = {}
    for lever, settings in levers.items():
        model = slug(lever)
        options = with_settings(ARTICLE.options(), list(settings))
        store_trained(store, model, train_detector(data, options))
        names[lever] = model
    return names


def bulk_windows_per_s(
    root: Path, names: dict[str, str], series: np.ndarray, budget_s: float
) -> dict[str, float]:
    """Windows per second of Detector.detect on `series`, per lever, timed interleaved."""
    store = ModelStore(root)
    detectors = {lever: load_detector(store, name, engine="onnx") for lever, name in names.items()}
    runs = {lever: (lambda d=detector: d.detect(series)) for lever, detector in detectors.items()}
    medians = interleaved_medians(runs, budget_s * len(runs), block_s=min(0.25, budget_s / 4))
    n_windows = len(series) - ARTICLE.lookback + 1
    return {lever: n_windows / seconds for lever, seconds in medians.items()}


def served(
    root: Path, names: dict[str, str], body: bytes, seconds: int, rounds: int
) -> dict[tuple[str, int], http.LoadResult]:
    """The median wrk round per (lever, concurrency) of one server serving every lever's model."""
    port = http.free_port()
    command = [sys.executable, "-m", "app.cli", "--model-dir", str(root), "serve"]
    runs: dict[tuple[str, int], list[http.LoadResult]] = {}
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(http.running([*command, "--port", str(port)], port, "/readyz"))
        urls = {
            lever: f"{server.url}/v1/models/{name}/detect/last" for lever, name in names.items()
        }
        for url in urls.values():  # models load on first use: no part of what is measured
            httpx.post(url, content=body, headers=JSON, timeout=120).raise_for_status()
        for concurrency in CONCURRENCIES:
            for round_ in range(rounds):
                for lever in in_turn(list(urls), round_):
                    result = http.wrk_post(urls[lever], body, concurrency, seconds)
                    runs.setdefault((lever, concurrency), []).append(result)
    return {key: http.median_round(found) for key, found in runs.items()}


def report(
    names: dict[str, str],
    served: dict[tuple[str, int], http.LoadResult],
    bulk: dict[str, float],
) -> str:
    """A markdown table with the command's commit; ratios are to the defaults' row."""
    head = ["lever"]
    for concurrency in CONCURRENCIES:
        head += [f"c{concurrency} p50 ms", f"c{concurrency} requests/s", f"c{concurrency} ratio"]
    head += ["bulk windows/s", "bulk ratio", "errors"]
    lines = [
        f"`python -m bench.perf.levers` at {git_commit()}; /detect/last of the article-sized "
        f"model ({ARTICLE.label}), {BODY_ROWS} rows a request",
        "",
        "| " + " | ".join(head) + " |",
        "|---|" + "---:|" * (len(head) - 1),
    ]
    for lever in names:
        cells = [lever]
        errors = 0
        for concurrency in CONCURRENCIES:
            run, base = served[(lever, concurrency)], served[(DEFAULTS, concurrency)]
            errors += run.errors
            cells += [
                f"{run.p50_ms:.2f}",
                f"{run.requests_per_s:,.0f}",
                f"{run.requests_per_s / base.requests_per_s:.2f}",
            ]
        cells += [f"{bulk[lever]:,.0f}", f"{bulk[lever] / bulk[DEFAULTS]:.2f}", str(errors)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
