"""The README's output blocks are the rendering of the captured outputs, and those outputs have
the form the current code prints: every captured command is run again here, in-process, over a
demo model trained for one epoch (numbers differ, lines and keys must not)."""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from app.cli.main import main
from app.settings import Settings
from scripts.docs.readme_render import (
    README_FILE,
    Outputs,
    marked_names,
    read_outputs,
    render_readme,
)
from scripts.docs.readme_steps import (
    REQUEST_FILE,
    json_form,
    kind,
    line_form,
    run_step,
    write_request_file,
)
from scripts.docs.servers import in_process_server, quiet_rarewatch_log
from scripts.readme_examples import NEEDS_SHEET_BREAKS

Reruns = dict[str, list[str]]  # block -> the output of each of its commands, run again


def test_the_readme_blocks_are_the_rendering_of_the_captured_outputs() -> None:
    # fails when a block was edited by hand: run scripts/readme_examples.py (or, after editing
    # docs/readme-examples.json, python -m scripts.docs.readme_render) instead
    readme = README_FILE.read_text()
    outputs = read_outputs()
    assert sorted(marked_names(readme)) == sorted(outputs)
    assert render_readme(readme, outputs) == readme


def in_process_rarewatch(folder: Path) -> Callable[[list[str]], str]:
    """`rarewatch ARGS` in this process, in `folder`; training stops after one epoch."""

    def run(argv: list[str]) -> str:
        if argv[0] == "train" and "--epochs" not in argv:
            argv = [*argv, "--epochs", "1"]
        printed = io.StringIO()
        with (
            contextlib.chdir(folder),
            contextlib.redirect_stdout(printed),
            contextlib.redirect_stderr(printed),
        ):
            main(argv)
        return printed.getvalue()

    return run


@pytest.fixture(scope="module")
def captured() -> Outputs:
    return {name: block for name, block in read_outputs().items() if name not in NEEDS_SHEET_BREAKS}


@pytest.fixture(scope="module")
def reruns(tmp_path_factory: pytest.TempPathFactory, captured: Outputs) -> Reruns:
    folder = tmp_path_factory.mktemp("readme")
    write_request_file(folder)
    rarewatch = in_process_rarewatch(folder)
    commands = {
        name: [step["command"] for step in block["steps"]] for name, block in captured.items()
    }
    offline = {name: c for name, c in commands.items() if kind(c[0]) != "curl"}
    with pytest.MonkeyPatch.context() as patch:
        for variable in [v for v in os.environ if v.startswith("RAREWATCH_")]:
            patch.delenv(variable)  # the defaults, as the capture runs it
        outputs = {
            name: [run_step(command, folder, rarewatch, None) for command in block]
            for name, block in offline.items()
        }
    settings = Settings(model_dir=folder / "artifacts")
    with (
        quiet_rarewatch_log(),
        in_process_server(settings) as (_, url),
        httpx.Client(base_url=url, timeout=30.0) as http,
    ):
        for name in commands.keys() - offline.keys():
            outputs[name] = [
                run_step(command, folder, rarewatch, http) for command in commands[name]
            ]
        # the detect example again with a threshold every window passes, so that the one-epoch
        # model flags the two windows and their event as the captured answer does
        body = json.loads((folder / REQUEST_FILE).read_text()) | {"threshold": 1e-9}
        (folder / REQUEST_FILE).write_text(json.dumps(body))
        detect = commands["http-detect"][-1]
        outputs["http-detect"][-1] = run_step(detect, folder, rarewatch, http)
    return outputs


def test_every_command_line_prints_lines_of_the_captured_form(
    captured: Outputs, reruns: Reruns
) -> None:
    for name, block in captured.items():
        for step, rerun in zip(block["steps"], reruns[name], strict=True):
            if kind(step["command"]) in {"rarewatch", "shell"}:
                expected = [line_form(line) for line in step["output"].splitlines()]
                assert [line_form(line) for line in rerun.splitlines()] == expected, step


def test_the_http_examples_answer_as_captured(captured: Outputs, reruns: Reruns) -> None:
    for name, block in captured.items():
        for step, rerun in zip(block["steps"], reruns[name], strict=True):
            if "json.tool" in step["command"]:  # a detection: its numbers are the model's
                assert json_form(json.loads(rerun)) == json_form(json.loads(step["output"]))
                assert rerun.count("\n") == step["output"].count("\n"), "laid out differently"
            elif kind(step["command"]) in {"curl", "cat"}:  # readiness, request.json, problems
                assert rerun == step["output"], step
