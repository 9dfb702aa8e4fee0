"""The Python client's error, `rarewatch serve` as a real process, and the demo model set-up."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

from app.api import examples
from app.api.schemas import (
    DetectRequest,
    DetectResponse,
    ModelInfo,
    ModelList,
    Problem,
    Readiness,
    ReloadResult,
    WindowsRequest,
)
from app.api.serve import DEMO_MODEL, ensure_demo_model, listening_on
from app.cli.main import build_parser, main
from app.client import Client, RarewatchAPIError
from app.settings import Settings
from models.artifact import ModelStore
from tests.conftest import TINY_FEATURES, TinyModel, tiny_frame

REPO = Path(__file__).resolve().parents[2]


def test_an_error_answer_raises_with_the_problem_fields(api: Client) -> None:
    with pytest.raises(RarewatchAPIError) as raised:
        api.detect("tiny", values=[[1.0, 2.0]] * 5)

    error = raised.value
    assert error.status == 422
    assert error.code == "feature_mismatch"
    assert error.title == "Features do not match the model"
    assert "a, b, c" in error.detail
    assert error.errors is None
    assert str(error).startswith("422 feature_mismatch: ")


def test_the_client_sends_dataframes_arrays_and_nan_safely(api: Client) -> None:
    frame = tiny_frame(12)
    from_frame = api.detect("tiny", values=frame[["c", "b", "a"]])  # column names travel along
    from_array = api.detect("tiny", values=frame[TINY_FEATURES].to_numpy())
    assert from_frame == from_array

    with_nan = frame[TINY_FEATURES].to_numpy(copy=True)
    with_nan[3, 1] = np.nan  # orjson sends null: a missing value, filled, never scored as NaN
    answer = api.detect("tiny", values=with_nan)
    assert answer["fill"]["filled_cells"] == {"a": 0, "b": 1, "c": 0}
    assert all(r["score"] is not None for r in answer["results"])
    with_inf = frame[TINY_FEATURES].to_numpy(copy=True)
    with_inf[3, 1] = np.inf  # orjson would send null, a missing value: refused before sending
    with pytest.raises(ValueError, match="infinity"):
        api.detect("tiny", values=with_inf)


def test_the_client_passes_the_fill_policy_and_strict_columns(api: Client) -> None:
    rows = tiny_frame(12)[TINY_FEATURES].to_numpy(copy=True)
    rows[3:5, 0] = np.nan
    left_missing = api.detect("tiny", values=rows, fill="none")
    assert left_missing["fill"]["filled_cells"]["a"] == 0
    assert any(r["score"] is None for r in left_missing["results"])
    bridged = api.detect_last("tiny", values=rows, fill={"method": "zero", "max_gap": 2})
    assert bridged["fill"]["filled_cells"]["a"] == 2

    extra = tiny_frame(12)[TINY_FEATURES].assign(spare=1.0)
    assert api.detect("tiny", values=extra)["ignored_columns"] == ["columns[3]"]
    with pytest.raises(RarewatchAPIError) as refused:
        api.detect("tiny", values=extra, strict=True)
    assert refused.value.code == "feature_mismatch"


def test_the_openapi_examples_are_valid_requests_and_answers() -> None:
    for example in examples.DETECT_REQUESTS.values():
        DetectRequest.model_validate(example["value"])
    for example in examples.WINDOWS_REQUESTS.values():
        WindowsRequest.model_validate(example["value"])
    for answer in (
        examples.DETECT_RESPONSE,
        examples.DETECT_LAST_RESPONSE,
        examples.WINDOWS_RESPONSE,
    ):
        DetectResponse.model_validate(answer)
    ModelList.model_validate(examples.MODEL_LIST)
    ModelInfo.model_validate(examples.MODEL_INFO)
    Readiness.model_validate(examples.READY)
    ReloadResult.model_validate(examples.RELOAD_RESPONSE)
    for status, named in examples.PROBLEMS.items():
        for _, answer in named.values():
            assert Problem.model_validate(answer).status == status


def test_serve_is_a_subcommand_with_host_port_and_demo() -> None:
    args = build_parser().parse_args(["serve", "--host", "0.0.0.0", "--port", "9000", "--demo"])
    assert (args.command, args.host, args.port, args.demo) == ("serve", "0.0.0.0", 9000, True)
    defaults = build_parser().parse_args(["serve"])
    assert (defaults.host, defaults.port, defaults.demo) == (None, None, False)


def test_serve_builds_the_app_with_the_address_it_really_listens_on() -> None:
    # the Host allow-list's default follows the bind address, so --host must reach the app
    settings = Settings(host="127.0.0.1", port=8000, allowed_hosts="a.example")
    assert (listening_on(settings, "0.0.0.0", None).host, listening_on(settings, None, 9).port) == (
        "0.0.0.0",
        9,
    )
    kept = listening_on(settings, None, None)
    assert (kept.host, kept.port, kept.allowed_hosts) == ("127.0.0.1", 8000, ["a.example"])


def test_serve_refuses_a_port_out_of_range_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--model-dir", str(tmp_path), "serve", "--port", "70000"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert error.startswith("rarewatch serve: error: --port:")


@pytest.mark.parametrize("access_log", [None, "true"])
def test_rarewatch_serve_runs_one_worker_that_answers_and_stops_on_sigterm(
    tiny_model: TinyModel, access_log: str | None
) -> None:
    port = free_port()
    command = [sys.executable, "-m", "app.cli", "--model-dir", str(tiny_model.store.root)]
    env = {k: v for k, v in os.environ.items() if k != "RAREWATCH_ACCESS_LOG"}
    if access_log is not None:
        env["RAREWATCH_ACCESS_LOG"] = access_log
    process = subprocess.Popen(
        [*command, "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        with Client(f"http://127.0.0.1:{port}") as api:
            wait_until_ready(api, process)
            answer = api.detect_last("tiny", values=tiny_frame(8)[TINY_FEATURES])
            assert answer["model"]["name"] == "tiny"
            assert answer["n_windows"] == 1
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    # uvicorn shuts down gracefully, then re-raises the signal: the exit status says SIGTERM
    assert process.returncode in (0, -signal.SIGTERM)
    log = output.decode()
    assert "loaded model 'tiny' version 1" in log
    assert "Application shutdown complete" in log
    assert log.count("Started server process") == 1  # one worker
    # the access log is opt-in (RAREWATCH_ACCESS_LOG)
    access_line = '"POST /v1/models/tiny/detect/last HTTP/1.1" 200'
    assert (access_line in log) == (access_log == "true")


def test_the_demo_model_is_not_trained_again_when_there_is_one(
    tiny_model: TinyModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stored = tiny_model.store.open("tiny")
    store = ModelStore(tmp_path)
    store.write(DEMO_MODEL, stored.spec, stored.weights(), stored.onnx())

    ensure_demo_model(Settings(model_dir=tmp_path))

    assert store.versions(DEMO_MODEL) == [1]
    assert "not training it again" in capsys.readouterr().err


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_ready(api: Client, process: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("rarewatch serve exited before it was ready")
        try:
            api.ready()
        except (httpx.TransportError, RarewatchAPIError):
            time.sleep(0.1)
        else:
            return
    raise RuntimeError("rarewatch serve was not ready in time")


DEMO_SERVER = """
import json, sys
from app.api.main import create_app
from app.api.serve import ensure_demo_model, serving_in_thread
from app.client import Client
from app.settings import Settings

settings = Settings(model_dir=sys.argv[1])
ensure_demo_model(settings, ["--epochs", "1", "--units", "4,2", "--quiet"])
with serving_in_thread(create_app(settings)) as url, Client(url) as api:
    answer = api.detect_last("demo", values=[[50.0, 55.0, 3.0, 100.0, 0.5]] * 5)
heavy = sorted({name.split(".")[0] for name in sys.modules} & {"tensorflow", "keras", "pandas"})
print(json.dumps({"model": answer["model"]["name"], "heavy": heavy}))
"""


def test_the_demo_model_is_trained_by_a_child_so_the_server_never_imports_tensorflow(
    tmp_path: Path,
) -> None:
    served = subprocess.run(
        [sys.executable, "-c", DEMO_SERVER, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert json.loads(served.stdout.splitlines()[-1]) == {"model": DEMO_MODEL, "heavy": []}
    assert ModelStore(tmp_path).versions(DEMO_MODEL) == [1]
    assert "rarewatch serve: trained demo version 1" in served.stderr
