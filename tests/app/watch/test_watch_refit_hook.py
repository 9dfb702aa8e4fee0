"""The refit hook: every fit_every the watch hands app.watch.refit the last fit_window of rows
and the rows of flagged windows, swaps in the version it stores, and keeps the old one when it
fails. A failed refit runs the real app.watch.refit (its child process refuses at once); a
successful one takes tens of seconds of TensorFlow (tests/app/watch/test_refit.py fits for real),
so there a stand-in with its signature stores a copy of the model's newest version, a real
artifact that the watch loads as it loads any, and records what the watch gave it."""

from __future__ import annotations

import inspect
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import app.watch.refit as real
from app.watch.refit import RefitOutcome
from models.artifact import ModelStore
from models.in_use import read_in_use
from tests.app.watch.conftest import Scene, config_for, needs_prometheus, wait_for, watching
from tests.conftest import TinyModel

pytestmark = needs_prometheus


REAL_REFIT = inspect.signature(real.refit)


@dataclass
class StandIn:
    """app.watch.refit.refit's stand-in, recording what it was given (bound to the real one's
    signature, so a call the real one would refuse fails here too)."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def refit(self, *args: Any, **kwargs: Any) -> RefitOutcome:
        call = REAL_REFIT.bind(*args, **kwargs).arguments
        self.calls.append(call)
        store = ModelStore(call["models_dir"])
        newest = store.open(call["name"])
        version, _ = store.write(call["name"], newest.spec, newest.weights(), newest.onnx())
        return RefitOutcome(True, version, f"refit on {len(call['values'])} rows")


def stand_in(monkeypatch: pytest.MonkeyPatch) -> StandIn:
    hook = StandIn()
    monkeypatch.setattr(real, "refit", hook.refit)  # record_in_use stays the real one
    return hook


def own_store(tiny_model: TinyModel, tmp_path: Path) -> ModelStore:
    """A copy of the tiny model's store: the refits add versions to it, not to the shared one."""
    shutil.copytree(tiny_model.store.root, tmp_path / "models")
    return ModelStore(tmp_path / "models")


def test_a_refit_is_swapped_in_and_is_given_the_flagged_rows(
    scene: Scene, tiny_model: TinyModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = stand_in(monkeypatch)
    config = config_for(
        scene.prometheus.url, "tiny", fit_every="2s", fit_window="10s", keep_versions=3
    )
    store = own_store(tiny_model, tmp_path)
    with watching(config, store) as running:
        version = lambda: running.value("rarewatch_watch_model_version", model="tiny")  # noqa: E731
        assert wait_for(lambda: (version() or 0) >= 2, 20)
        assert running.value("rarewatch_watch_refits_total", model="tiny", outcome="ok")
        scene.sensors.fault = True
        try:
            assert wait_for(lambda: any(call["flagged_rows"].any() for call in hook.calls), 15), (
                "no refit was given the rows of the flagged windows"
            )
        finally:
            scene.sensors.fault = False
    in_use = version()  # once stopped: no refit can come between this and the record
    call = hook.calls[0]
    assert call["features"] == ["a", "b", "c"]
    assert call["values"].shape == (11, 3)  # 10 s of 1 s steps, both ends
    assert call["times"].dtype == np.dtype("datetime64[ns]")
    assert np.all(np.diff(call["times"]) == np.timedelta64(1, "s"))
    assert call["flagged_rows"].shape == (11,)
    assert call["flagged_rows"].dtype == bool
    assert (call["keep_versions"], call["timeout_s"]) == (3, 2.0)
    recorded = read_in_use(store.root, "tiny")  # what GET /v1/models/tiny shows
    assert recorded is not None
    assert (recorded.version, recorded.why) == (in_use, "refit on 11 rows")


def test_a_failed_refit_keeps_the_version_in_use_and_is_counted(
    scene: Scene, tiny_model: TinyModel, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The real app.watch.refit, its child process refusing 11 rows (too few to fit on): the
    watch gives it the arguments it takes, keeps version 1 and records nothing new."""
    store = own_store(tiny_model, tmp_path)
    config = config_for(
        scene.prometheus.url, "tiny", fit_every="1s", fit_window="10s", fit_timeout="60s"
    )
    with watching(config, store) as running:
        failed = lambda: running.value(  # noqa: E731
            "rarewatch_watch_refits_total", model="tiny", outcome="failed"
        )
        assert wait_for(lambda: (failed() or 0) >= 1, 60)
        assert running.value("rarewatch_watch_model_version", model="tiny") == 1
        assert wait_for(
            lambda: running.value("rarewatch_anomaly_score", model="tiny") is not None, 10
        )
    refused = [r.getMessage() for r in caplog.records if "version 1 kept" in r.getMessage()]
    assert refused
    assert all("the fit was refused" in message for message in refused), refused
    assert store.versions("tiny") == [1]
    recorded = read_in_use(store.root, "tiny")
    assert recorded is not None
    assert (recorded.version, recorded.why) == (1, "watch started")
