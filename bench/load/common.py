"""What both load benches share: the model they load, the checks' table, the report written."""

from __future__ import annotations

import datetime as dt
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import numpy as np
import orjson

from bench.perf import http
from bench.perf.fixtures import ARTICLE, train_bench_model
from bench.report import git_commit, replace_section
from models.artifact import ModelStore


@contextmanager
def article_store(model_dir: Path | None) -> Iterator[ModelStore]:
    """A store holding the article-sized model: `model_dir` (trained into it if it lacks the
    model), or a temporary folder removed after."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) if model_dir is None else model_dir
        store = ModelStore(root)
        if ARTICLE.name not in store.names():
            train_bench_model(root, ARTICLE)
        yield store


@contextmanager
def serving(store: ModelStore) -> Iterator[http.Server]:
    """`rarewatch serve` on `store` in its own process, on a free port, until the block ends."""
    port = http.free_port()
    command = [sys.executable, "-m", "app.cli", "--model-dir", str(store.root), "serve"]
    with http.running([*command, "--port", str(port)], port, "/readyz") as server:
        yield server


def last_window_body() -> bytes:
    """A /detect/last body: one window of the article model's shape, the same every run."""
    values = np.random.default_rng(0).normal(size=(ARTICLE.lookback, ARTICLE.n_features))
    return orjson.dumps({"values": values}, option=orjson.OPT_SERIALIZE_NUMPY)


def check_lines(checks: dict[str, bool]) -> list[str]:
    """The pass/fail table of a run's checks."""
    return [
        "| check | result |",
        "|---|---|",
        *[f"| {name} | {'pass' if ok else '**FAIL**'} |" for name, ok in checks.items()],
        "",
    ]


def publish(
    module: str,
    lines: list[str],
    passed: bool,
    write: Path | None,
    section: tuple[tuple[str, str], str],
    clients: str,
    setting: str | None = None,
) -> NoReturn:
    """Print the report (the command, commit and date first), put it in `write`'s section
    (markers, heading) if asked, and exit 1 when a check failed. `setting` replaces "server and
    `clients` on the same machine" in the header, for a bench that runs no server."""
    where = setting or f"server and {clients} on the same machine"
    header = [
        f"Run on {dt.date.today().isoformat()} at commit {git_commit()} with "
        f"`python -m {module} {' '.join(sys.argv[1:])}`".rstrip()
        + f" ({os.cpu_count()} cores, {where}).",
        "",
    ]
    report = "\n".join(header + lines)
    print(report)
    if write:
        markers, heading = section
        replace_section(write, markers, report, "Reliability", heading)
    sys.exit(0 if passed else 1)
