"""Refit: a checked new version from a child process, bounded history, the in-use record."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

from app.api.schemas import ModelInfo
from app.settings import Settings
from app.watch.refit import record_in_use, refit, refusal
from models.artifact import ModelStore
from models.in_use import IN_USE_FILE
from tests.app.conftest import running
from tests.conftest import TINY_FEATURES, TinyModel, run_python, tiny_frame

NAME = "tiny"
FLAGGED = slice(100, 106)  # six rows inside windows flagged anomalous
MODULE = "models.refit_job"  # the fit's own process


def recent_rows(n_rows: int = 600) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """times (datetime64[ns] UTC), values and no flags, as the watch hands them over."""
    frame = tiny_frame(n_rows, seed=3)
    times = pd.to_datetime(frame["time"], utc=True).dt.tz_localize(None).to_numpy("datetime64[ns]")
    values = frame[TINY_FEATURES].to_numpy(np.float64, copy=True)
    return times, values, np.zeros(n_rows, bool)


def store_with_versions(root: Path, tiny_model: TinyModel, n_versions: int) -> ModelStore:
    """The session's tiny model copied as versions 1..n_versions of NAME."""
    source = tiny_model.store.root / tiny_model.name / "1"
    for version in range(1, n_versions + 1):
        shutil.copytree(source, root / NAME / str(version))
    return ModelStore(root)


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def good_refit(
    tmp_path_factory: pytest.TempPathFactory, tiny_model: TinyModel
) -> tuple[dict[str, object], ModelStore]:
    """One refit of a model with versions 1-3, version 1 in use, run by a fresh interpreter:
    what it answered (and whether it imported TensorFlow), and the store after."""
    store = store_with_versions(tmp_path_factory.mktemp("refit"), tiny_model, 3)
    record_in_use(store.root, NAME, 1, "the first version watched")
    driver = (
        "import json, sys\n"
        "from app.watch.refit import refit\n"
        "from tests.app.watch.test_refit import FLAGGED, recent_rows\n"
        "from tests.conftest import TINY_FEATURES\n"
        "times, values, flagged = recent_rows()\n"
        "flagged[FLAGGED] = True\n"
        f"outcome = refit({str(store.root)!r}, 'tiny', times, values, TINY_FEATURES, flagged,\n"
        "                keep_versions=2, timeout_s=300)\n"
        "print(json.dumps({'ok': outcome.ok, 'version': outcome.version,\n"
        "    'reason': outcome.reason, 'tensorflow': 'tensorflow' in sys.modules,\n"
        "    'keras': 'keras' in sys.modules}))\n"
    )
    finished = run_python(driver)
    assert finished.returncode == 0, finished.stderr
    return json.loads(finished.stdout.splitlines()[-1]), store


def test_a_good_refit_adds_a_version_and_prunes_the_oldest_but_the_one_in_use(
    good_refit: tuple[dict[str, object], ModelStore],
) -> None:
    answer, store = good_refit
    assert answer["ok"] is True, answer["reason"]
    assert answer["version"] == 4
    assert store.versions(NAME) == [1, 4]  # 2 and 3 pruned; 1 is in use, so it stays
    new = store.open(NAME, 4).spec
    old = store.open(NAME, 1).spec
    assert new.options == old.options
    assert new.training.rows == 600
    assert (store.root / NAME / "4" / "model.onnx").is_file()
    assert answer["reason"] == (
        "refit on 600 rows from 2026-01-01T00:00Z to 2026-01-01T09:59Z, "
        "9 windows left out as anomalous"
    )
    assert not [p for p in (store.root / NAME).iterdir() if p.name.startswith(".")]


def test_the_process_asking_for_a_refit_never_imports_tensorflow(
    good_refit: tuple[dict[str, object], ModelStore],
) -> None:
    answer, _ = good_refit
    assert (answer["tensorflow"], answer["keras"]) == (False, False)


@pytest.mark.parametrize(
    ("n_rows", "empty_feature", "said"),
    [(5, False, "fewer than the lookback"), (600, True, "column 'a' has no value at all")],
    ids=["too few rows", "a feature without a value"],
)
def test_a_refit_that_cannot_train_fails_with_a_reason_and_leaves_the_store_unchanged(
    tmp_path: Path, tiny_model: TinyModel, n_rows: int, empty_feature: bool, said: str
) -> None:
    store = store_with_versions(tmp_path, tiny_model, 2)
    before = snapshot(tmp_path)
    times, values, flagged = recent_rows(n_rows)
    if empty_feature:
        values[:, 0] = np.nan
    outcome = refit(tmp_path, NAME, times, values, TINY_FEATURES, flagged, 2, timeout_s=300)
    assert (outcome.ok, outcome.version) == (False, None)
    assert outcome.reason.startswith("the fit was refused: ")
    assert said in outcome.reason
    assert snapshot(tmp_path) == before
    assert store.versions(NAME) == [1, 2]


def test_when_the_flags_leave_nothing_to_fit_on_the_refit_keeps_every_row_and_says_so(
    tmp_path: Path, tiny_model: TinyModel
) -> None:
    """The version in use flagging every row is the normal level moving: refusing would keep
    that version, and its flags, for good."""
    store = store_with_versions(tmp_path, tiny_model, 1)
    times, values, flagged = recent_rows()
    flagged[:] = True
    outcome = refit(tmp_path, NAME, times, values, TINY_FEATURES, flagged, 2, timeout_s=300)
    assert (outcome.ok, outcome.version) == (True, 2), outcome.reason
    assert outcome.reason.endswith(
        ", every row kept: leaving out the 600 flagged rows left no normal window to fit on "
        "(the normal level has moved)"
    )
    assert store.open(NAME, 2).spec.training.normal_rows == 600


def test_a_fit_past_its_time_limit_is_stopped_and_its_child_killed(
    tmp_path: Path, tiny_model: TinyModel
) -> None:
    store_with_versions(tmp_path, tiny_model, 1)
    before = snapshot(tmp_path)
    times, values, flagged = recent_rows()
    outcome = refit(tmp_path, NAME, times, values, TINY_FEATURES, flagged, 2, timeout_s=0.5)
    assert (outcome.ok, outcome.version) == (False, None)
    assert outcome.reason == "the fit ran past its 0.5 s limit and was stopped"
    assert snapshot(tmp_path) == before
    assert not children_running(MODULE)


def children_running(module: str, parent: int | None = None) -> dict[int, list[str]]:
    """The children of `parent` (this process by default) still running whose command line
    names `module`, with their command lines."""
    parent = os.getpid() if parent is None else parent
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:  # it ended while we looked
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == parent and state != "Z" and module in command:
            found[int(entry.name)] = command
    return found


def still_running(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def waited_for(condition: Callable[[], object], timeout_s: float) -> object:
    """`condition()` once it is true, polled every 0.1 s for at most timeout_s; else False."""
    deadline = time.monotonic() + timeout_s
    while not (found := condition()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def test_a_fit_whose_caller_is_gone_ends_itself(tmp_path: Path, tiny_model: TinyModel) -> None:
    store = store_with_versions(tmp_path, tiny_model, 1)
    driver = (
        "from app.watch.refit import refit\n"
        "from tests.app.watch.test_refit import recent_rows\n"
        "from tests.conftest import TINY_FEATURES\n"
        "times, values, flagged = recent_rows()\n"
        f"refit({str(tmp_path)!r}, 'tiny', times, values, TINY_FEATURES, flagged, 2, 300)\n"
    )
    caller = subprocess.Popen([sys.executable, "-c", driver], cwd=Path(__file__).parents[3])
    try:
        fits = waited_for(lambda: children_running(MODULE, caller.pid), 120)
    finally:
        caller.kill()
        caller.wait()
    assert isinstance(fits, dict)
    assert len(fits) == 1
    ((pid, command),) = fits.items()
    try:
        assert waited_for(lambda: not still_running(pid), 30)
        assert store.versions(NAME) == [1]
    finally:
        shutil.rmtree(command[command.index(MODULE) + 1], ignore_errors=True)  # its job folder


def test_a_refit_refuses_rows_of_other_features_and_leaves_the_store_unchanged(
    tmp_path: Path, tiny_model: TinyModel
) -> None:
    store_with_versions(tmp_path, tiny_model, 1)
    before = snapshot(tmp_path)
    times, values, flagged = recent_rows()
    outcome = refit(tmp_path, NAME, times, values, ["a", "b", "d"], flagged, 2, timeout_s=300)
    assert not outcome.ok
    assert outcome.reason == "the features given (a, b, d) are not the model's (a, b, c)"
    assert snapshot(tmp_path) == before


def test_the_version_in_use_and_why_show_in_the_model_description(
    tmp_path: Path, tiny_model: TinyModel
) -> None:
    store_with_versions(tmp_path, tiny_model, 2)
    with (
        running(Settings(model_dir=tmp_path)) as server,
        httpx.Client(base_url=server.url, timeout=30.0) as http,
    ):
        assert "watch" not in http.get(f"/v1/models/{NAME}").json()
        record_in_use(tmp_path, NAME, 1, "refit on 600 rows")
        described = http.get(f"/v1/models/{NAME}").json()
        listed = http.get("/v1/models").json()
    assert (tmp_path / NAME / IN_USE_FILE).is_file()
    assert described["version"] == 2  # what the API serves is unchanged by the record
    assert described["watch"]["version"] == 1
    assert described["watch"]["why"] == "refit on 600 rows"
    assert described["watch"]["since"].endswith("+00:00")
    ModelInfo.model_validate(described)  # the answer is the documented schema
    assert [m["name"] for m in listed["models"]] == [NAME]  # the record is no model
    assert listed["unavailable"] == []


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("threshold at half the median error", "is not above its median validation error"),
        ("validation errors out of order", "its validation errors are negative or out of order"),
        ("no ONNX graph", "has no ONNX graph"),
    ],
)
def test_a_new_model_that_is_not_sane_is_refused_with_the_reason(
    tmp_path: Path, tiny_model: TinyModel, fault: str, said: str
) -> None:
    stored = tiny_model.store.open(NAME)
    spec, onnx = stored.spec, stored.onnx()
    median = spec.validation_error_quantiles["0.5"]
    if fault.startswith("threshold"):
        spec = spec.model_copy(
            update={"threshold": spec.threshold.model_copy(update={"value": median / 2})}
        )
    elif fault.startswith("validation"):
        shuffled = dict.fromkeys(spec.validation_error_quantiles, median)
        shuffled["0.99"] = median / 2
        spec = spec.model_copy(update={"validation_error_quantiles": shuffled})
    else:
        onnx = None
    version, _ = ModelStore(tmp_path).write(NAME, spec, stored.weights(), onnx)
    _, values, _ = recent_rows()
    said_then = refusal(ModelStore(tmp_path).open(NAME, version), values)
    assert said_then is not None
    assert said in said_then
    assert refusal(stored, values) is None  # the model as trained passes


def test_a_watch_told_to_stop_ends_its_running_fit_and_leaves_no_temporary_folder(
    tmp_path: Path, tiny_model: TinyModel
) -> None:
    store = store_with_versions(tmp_path / "models", tiny_model, 1)
    scratch = tmp_path / "scratch"  # the refit's temporary folders go here
    scratch.mkdir()
    # in its own process: stop_fits() is for good in the process that calls it
    driver = (
        "import json, os, tempfile, threading, time\n"
        f"tempfile.tempdir = {str(scratch)!r}\n"
        "from app.watch import refit as r\n"
        "from app.watch.refitting import end_fits\n"
        "from tests.app.watch.test_refit import recent_rows\n"
        "from tests.conftest import TINY_FEATURES\n"
        "times, values, flagged = recent_rows()\n"
        "found = {}\n"
        "def fit():\n"
        f"    found['outcome'] = r.refit({str(store.root)!r}, 'tiny', times, values,\n"
        "                               TINY_FEATURES, flagged, 2, 300)\n"
        "thread = threading.Thread(target=fit)\n"
        "thread.start()\n"
        "deadline = time.monotonic() + 120\n"
        "while not r._fits and time.monotonic() < deadline:\n"
        "    time.sleep(0.05)\n"
        "started = bool(r._fits)\n"
        "end_fits()\n"
        "thread.join(60)\n"
        "later = r.refit(" + repr(str(store.root)) + ", 'tiny', times, values, TINY_FEATURES,\n"
        "                flagged, 2, 300)\n"
        "print(json.dumps({'started': started, 'alive': thread.is_alive(),\n"
        "                  'outcome': found['outcome'].reason, 'ok': found['outcome'].ok,\n"
        "                  'later': later.reason, 'left': os.listdir(tempfile.tempdir)}))\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", driver],
        cwd=Path(__file__).parents[3],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    )
    said = json.loads(ran.stdout.strip().splitlines()[-1])
    assert said["started"], "the fit's process was seen running before the stop"
    assert not said["alive"], "the refit returned once its fit was ended"
    assert (said["ok"], said["outcome"]) == (False, "the watch stopped during the fit")
    assert said["later"] == "the watch stopped during the fit"  # no fit starts after a stop
    assert said["left"] == []  # the job folder went with the refit
    assert store.versions(NAME) == [1]
    assert not children_running(MODULE)
