"""Run every README command whose output the README shows and rewrite its output blocks.

Each block between `<!-- readme-example: NAME -->` and `<!-- /readme-example -->` is a list of
commands (BLOCKS); they run in a temporary folder as a new user would type them: `rarewatch` as
a real process (python -m app.cli from this checkout, no RAREWATCH_* settings, models in
./artifacts), shell tools with bash, and the curl commands against a real `rarewatch serve` over
the model the `train` block trained. Their outputs are written to docs/readme-examples.json and
the README's blocks rendered from them (tests/scripts/test_readme_examples.py fails when the two
drift, and checks the outputs' form against the current code).

    .venv/bin/python scripts/readme_examples.py [--sheet-breaks CSV]

Takes about two minutes on two cores (the demo model is trained as the README trains it); the
sheet-break block also trains on the article's data, from ../shared/data/processminer (or
--sheet-breaks); without that file it is skipped and keeps its earlier outputs (the check in
tests/ never needs that data).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx

# the checkout this script belongs to, not whichever rarewatch is installed
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scripts.docs.capture import ignore_rarewatch_environment  # noqa: E402
from scripts.docs.readme_render import (  # noqa: E402
    OUTPUTS_FILE,
    Outputs,
    read_outputs,
    render,
    write_outputs,
)
from scripts.docs.readme_steps import (  # noqa: E402
    REQUEST_FILE,
    kind,
    run_step,
    write_request_file,
)
from scripts.docs.servers import demo_server  # noqa: E402

JSON_HEADER = "-H 'content-type: application/json'"
DETECT = f"curl -s -X POST localhost:8000/v1/models/demo/detect {JSON_HEADER}"
DETECT_LAST = f"curl -s -X POST localhost:8000/v1/models/demo/detect/last {JSON_HEADER}"
# six rows of examples/request.json with a missing temperature and the last two vibrations
# missing: filled by the model's policy, then the same rows with the fill turned off
GAPS = (
    '"values": [[32.691, 47.917, 2.5697, 14.338, 0.8796], [28.9, null, 2.5988, 13.893, 0.8087], '
    "[31.924, 48.171, 2.6593, 14.186, 0.8014], [30.898, 50.003, 2.5675, 13.841, 0.8114], "
    "[32.573, 48.502, 2.6457, 14.661, null], [31.524, 49.826, 2.6301, 14.513, null]]"
)
SHEET_BREAKS = REPO.parent / "shared" / "data" / "processminer" / "sheet-breaks.csv"

# NAME -> the commands of its block, in the order they run: the server starts at the first curl
# and serves what `train` stored (the sheet-break model, trained last, is not in its answers)
BLOCKS: dict[str, list[str]] = {
    "demo-data": ["rarewatch demo-data demo.csv"],
    "train": ["rarewatch train demo.csv --name demo --time-column timestamp --label-column label"],
    "score": [
        "rarewatch score demo.csv --model demo --output scores.csv",
        "head -2 scores.csv; sed -n 1481,1482p scores.csv",
    ],
    "evaluate": ["rarewatch evaluate demo.csv --model demo --label-column label"],
    "plot": ["rarewatch plot demo.csv --model demo --output demo.png"],
    "models": ["rarewatch models", "rarewatch models --name demo"],
    "bad-input": [
        "rarewatch train demo.csv --name x --features load,presure",
        "rarewatch evaluate demo.csv --model demo --label-column load",
    ],
    "http-detect": [
        "curl -s localhost:8000/readyz",
        f"cat {REQUEST_FILE}",
        f"{DETECT} -d @{REQUEST_FILE} | python3 -m json.tool",
    ],
    "http-gaps": [
        f"{DETECT_LAST} -d '{{{GAPS}}}' | python3 -m json.tool",
        f"""{DETECT_LAST} -d '{{{GAPS}, "fill": "none"}}' | python3 -m json.tool""",
    ],
    "http-problems": [
        f"""{DETECT} -d '{{"values": [[30.9, 50.0, 2.57, 13.8, 0.81]]}}'""",
        f"""{DETECT} -d '{{"values": [[30.9, 50.0, 2.57, NaN, 0.81]]}}'""",
        "curl -s -X POST localhost:8000/v1/models/pump/detect "
        f"""{JSON_HEADER} -d '{{"values": [[1]]}}'""",
    ],
    "sheet-breaks": [
        "rarewatch train sheet-breaks.csv --name sheet-breaks --time-column time "
        "--label-column y --quiet",
        "rarewatch score sheet-breaks.csv --model sheet-breaks --output scores.csv",
        "rarewatch evaluate sheet-breaks.csv --model sheet-breaks --label-column y",
    ],
}
NEEDS_SHEET_BREAKS = {"sheet-breaks"}


def environment() -> dict[str, str]:
    """This checkout first on the path (the RAREWATCH_* settings are already gone)."""
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return dict(os.environ) | {"PYTHONPATH": path}


def rarewatch_process(folder: Path) -> Callable[[list[str]], str]:
    """`rarewatch ARGS` as a process in `folder`, its stdout and stderr as a terminal shows them."""

    def run(argv: list[str]) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", *argv],
            check=False,  # an error's one line and exit status are outputs the README shows
            cwd=folder,
            env=environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        return done.stdout

    return run


def capture(folder: Path, sheet_breaks: Path, before: Outputs) -> Outputs:
    """Every block's outputs; a block that cannot run here keeps its outputs from `before`."""
    ignore_rarewatch_environment()  # the defaults show, as a new user sees them
    write_request_file(folder)
    rarewatch = rarewatch_process(folder)
    outputs: Outputs = {}
    with contextlib.ExitStack() as server:
        http: httpx.Client | None = None
        for name, commands in BLOCKS.items():
            if name in NEEDS_SHEET_BREAKS and not sheet_breaks.is_file():
                outputs[name] = before.get(name) or {"skipped": f"no {sheet_breaks}"}
                print(f"readme_examples: {name} skipped: no {sheet_breaks}", file=sys.stderr)
                continue
            if name in NEEDS_SHEET_BREAKS:
                shutil.copyfile(sheet_breaks, folder / "sheet-breaks.csv")
            if http is None and kind(commands[0]) == "curl":
                url = server.enter_context(demo_server(folder / "artifacts", folder / "server.log"))
                http = server.enter_context(httpx.Client(base_url=url, timeout=60.0))
            print(f"readme_examples: {name}", file=sys.stderr)
            outputs[name] = {"steps": steps(commands, folder, rarewatch, http)}
    return outputs


def steps(
    commands: list[str],
    folder: Path,
    rarewatch: Callable[[list[str]], str],
    http: httpx.Client | None,
) -> list[dict[str, str]]:
    return [
        {"command": command, "output": run_step(command, folder, rarewatch, http)}
        for command in commands
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sheet-breaks", type=Path, default=SHEET_BREAKS, help="the article's sheet-break CSV"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rarewatch-readme-") as temporary:
        before = read_outputs() if OUTPUTS_FILE.is_file() else {}
        write_outputs(capture(Path(temporary), args.sheet_breaks.resolve(), before))
        # the repo ships the request the README sends, so that its curl command runs as shown
        shutil.copyfile(Path(temporary) / REQUEST_FILE, REPO / REQUEST_FILE)
    render()
    print(f"readme_examples: wrote {OUTPUTS_FILE.relative_to(REPO)} and README.md", file=sys.stderr)


if __name__ == "__main__":
    main()
