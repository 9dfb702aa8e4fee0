"""Fleet training: `rarewatch train-fleet` on Ray against `rarewatch train` run once per entity.

Both train the same fleet (one synthetic random-walk file per entity, the same options, a fixed
number of epochs: no early stopping, so both fit the same windows) as the CLI's own processes,
timed from start to exit, side by side in one run (in alternating order when there are several
rounds). Windows/s: training windows times epochs, summed over the fleet, per second of the
whole command. With --cluster, the same fleet also goes to a Ray cluster started here with
`ray start --head` and reached by `--address` alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.perf.fixtures import synthetic_frame
from bench.perf.timing import in_turn
from bench.report import REPO, git_commit, replace_section
from models.artifact import ModelStore

START, END = "<!-- fleet:start -->", "<!-- fleet:end -->"
SEQUENTIAL, FLEET, CLUSTER = "train, one entity at a time", "train-fleet (local Ray)", "cluster"
GOAL_RATIO = 1.7
RAYLET_START_S = 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entities", type=int, default=40, help="default: 40")
    parser.add_argument("--rows", type=int, default=5000, help="per entity (default: 5000)")
    parser.add_argument("--features", type=int, default=8, help="default: 8")
    parser.add_argument("--epochs", type=int, default=5, help="every fit runs them all")
    parser.add_argument("--cpus", type=int, default=2, help="of the local Ray (default: 2)")
    parser.add_argument("--rounds", type=int, default=1, help="of each path, in turn")
    parser.add_argument("--cluster", action="store_true", help="also through --address")
    parser.add_argument("--write", type=Path, help="replace the fleet section of this file")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="rarewatch-fleet-"))
    folder = root / "fleet"
    folder.mkdir()
    for i in range(args.entities):
        synthetic_frame(args.rows, args.features, seed=i).to_csv(
            folder / f"e{i:03d}.csv", index=False
        )
    options = ["--epochs", str(args.epochs), "--patience", str(args.epochs + 1), "--quiet"]

    paths = [SEQUENTIAL, FLEET] + ([CLUSTER] if args.cluster else [])
    seconds: dict[str, list[float]] = {path: [] for path in paths}
    windows = 0
    for round_ in range(args.rounds):
        for path in in_turn(paths, round_):
            models = root / f"models-{round_}-{paths.index(path)}"
            started = time.perf_counter()
            if path == SEQUENTIAL:
                for data in sorted(folder.iterdir()):
                    rarewatch(models, "train", str(data), "--name", f"fleet-{data.stem}", *options)
            elif path == FLEET:
                fleet = ["--prefix", "fleet-", "--cpus", str(args.cpus)]
                rarewatch(models, "train-fleet", str(folder), *fleet, *options)
            else:
                with ray_head(root, args.cpus) as address:
                    fleet = ["--prefix", "fleet-", "--address", address]
                    started = time.perf_counter()  # the cluster is up before, as it would be
                    rarewatch(models, "train-fleet", str(folder), *fleet, *options, token=True)
            seconds[path].append(time.perf_counter() - started)
            windows = fitted_windows(ModelStore(models), args.entities)

    report = _report(args, seconds, windows)
    print(report)
    if args.write:
        replace_section(args.write, (START, END), report, "Benchmarks")


def rarewatch(models: Path, *args: str, token: bool = False) -> None:
    """The CLI in its own process; `token`: with Ray's token authentication, which a cluster
    started by `ray start` asks of its clients (the token is in ~/.ray, where it wrote it)."""
    command = [sys.executable, "-m", "app.cli", "--model-dir", str(models), *args]
    env = {**os.environ, **({"RAY_AUTH_MODE": "token"} if token else {})}
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)


def fitted_windows(store: ModelStore, n_entities: int) -> int:
    """Training windows times epochs run, over the fleet; every entity must have its model."""
    names = store.names()
    if len(names) != n_entities:
        raise SystemExit(f"{len(names)} of {n_entities} models were stored in {store.root}")
    trainings = [store.open(name).spec.training for name in names]
    return sum(t.train_windows * t.epochs_run for t in trainings)


@contextmanager
def ray_head(root: Path, cpus: int) -> Iterator[str]:
    """A one-node Ray cluster (`ray start --head --block`, a child of this process) and its
    address; stopped after. Its workers get this process's environment (PYTHONPATH included),
    as a cluster's nodes need rarewatch installed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ray = Path(sys.executable).with_name("ray")
    command = [str(ray), "start", "--head", "--block", f"--port={port}", f"--num-cpus={cpus}"]
    command += ["--include-dashboard=false", "--disable-usage-stats"]
    command.append(f"--temp-dir={root / 'ray'}")
    head = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        address = f"127.0.0.1:{port}"
        _wait_for_port(port, head)
        yield address
    finally:
        os.killpg(head.pid, signal.SIGTERM)  # its own session: the head and what it started
        head.wait(timeout=60)


def _wait_for_port(port: int, head: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + RAYLET_START_S
    while time.monotonic() < deadline:
        if head.poll() is not None:
            raise SystemExit(f"ray start exited with {head.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                time.sleep(2.0)  # the GCS listens before the raylet has registered
                return
        time.sleep(0.5)
    raise SystemExit(f"the Ray head did not listen on {port} in {RAYLET_START_S:.0f} s")


def _report(args: argparse.Namespace, seconds: dict[str, list[float]], windows: int) -> str:
    command = " ".join(["python -m bench.fleet", *map(shlex.quote, sys.argv[1:])])
    median = {path: statistics.median(times) for path, times in seconds.items()}
    rate = {path: windows / s for path, s in median.items()}
    ratio = rate[FLEET] / rate[SEQUENTIAL]
    lines = [
        "### Fleet training",
        "",
        f"Measured {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC at commit {git_commit()} with "
        f"`{command}`: {args.entities} entities of {args.rows:,} rows x {args.features} "
        f"features (random walks), default options but {args.epochs} epochs without early "
        f"stopping, {windows:,} windows fitted per path; {args.cpus} CPUs for Ray, "
        f"{os.cpu_count()} on the machine; {args.rounds} round(s), the median given. Each path "
        "is the CLI's own process(es), timed from start to exit (TensorFlow's import and, for "
        "train-fleet, Ray's start included; for the cluster, Ray was started before).",
        "",
        "| path | seconds | windows/s | ratio |",
        "|---|---:|---:|---:|",
    ]
    for path in seconds:
        relative = rate[path] / rate[SEQUENTIAL]
        lines.append(f"| {path} | {median[path]:.1f} | {rate[path]:,.0f} | {relative:.2f} |")
    met = "met" if ratio >= GOAL_RATIO else "not met"
    lines += [
        "",
        f"Goal: train-fleet on {args.cpus} CPUs >= {GOAL_RATIO}x the windows/s of `train` one "
        f"entity at a time: {ratio:.2f}x, {met}.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    os.chdir(REPO)
    main()
