"""bench.watch_delay runs end to end (quick mode, generated data) and writes its own section;
its replayed rows are the ones a range query would answer. No figure is looked at."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import numpy as np

from app.watch.config import WatchedModel
from app.watch.exporter import WatchMetrics
from app.watch.prometheus import PrometheusReader
from app.watch.tick import Watched, rows_needed, score_up_to
from bench.report import REPO
from bench.watch_delay import Replay, episodes, first_tick
from models.loading import load_detector
from tests.conftest import TINY_FEATURES, TinyModel


def test_quick_run_writes_its_section_and_leaves_the_rest(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(
        "# Benchmarks\n\n<!-- watch-delay:start -->\nold\n<!-- watch-delay:end -->\n\nafter\n"
    )
    command = [sys.executable, "-m", "bench.watch_delay", "--quick", "--write", str(doc)]
    run = subprocess.run(
        command, check=False, cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr
    text = doc.read_text()
    section = text[
        text.index("<!-- watch-delay:start -->") : text.index("<!-- watch-delay:end -->")
    ]
    assert "old" not in section
    assert text.endswith("<!-- watch-delay:end -->\n\nafter\n")
    assert "`python -m bench.watch_delay --quick --write" in section
    for row in ("| score > 1 |", "| alarm (the model's alarm rule) |"):
        assert row in section
    for jump in (1, 2, 3):
        for row in (f"| jump {jump} sd, to score > 1 |", f"| jump {jump} sd, to alarm |"):
            assert row in section
    assert "2 faults" in section
    assert "| every replayed tick scored | pass |" in section


def test_replay_answers_the_rows_up_to_the_tick_on_the_grid() -> None:
    values = np.arange(20.0).reshape(10, 2)
    reader = Replay(1000.0, values, 15.0)
    config = WatchedModel(model="m", query="q", feature_label="feature", step=15, infer_every=15)
    rows = asyncio.run(reader.rows(config, ["a", "b"], 1000.0 + 6 * 15, 3))
    np.testing.assert_array_equal(rows.values, values[4:7])
    seconds = rows.times.astype(np.int64) / 1e9
    np.testing.assert_array_equal(seconds, [1060.0, 1075.0, 1090.0])


def test_episodes_and_first_tick() -> None:
    flags = np.array([True, True, False, True, False, False, True])
    assert episodes(flags) == 3
    assert episodes(np.array([], dtype=bool)) == 0
    assert episodes(np.array([False, True, True])) == 1
    assert first_tick([False, False, True]) == 2
    assert first_tick([False]) is None


def test_the_watch_tick_scores_the_replayed_rows_as_detect_last_does(tiny_model: TinyModel) -> None:
    detector = load_detector(tiny_model.store, tiny_model.name)
    values = tiny_model.frame[TINY_FEATURES].to_numpy()[:40]
    reader = Replay(1000.0, values, 15.0)
    assert not isinstance(reader, PrometheusReader)  # no HTTP client behind it
    config = WatchedModel(model="tiny", query="q", feature_label="feature", step=15, infer_every=15)
    metrics = WatchMetrics()
    end = 1000.0 + 30 * 15  # the tick on row 30

    assert asyncio.run(score_up_to(Watched(config, detector), reader, metrics, end)) is None

    newest = detector.detect_last(values[31 - rows_needed(detector) : 31])
    exported = metrics.registry.get_sample_value("rarewatch_anomaly_score", {"model": "tiny"})
    np.testing.assert_allclose(exported, newest.scores[-1] / detector.threshold, rtol=1e-6)
