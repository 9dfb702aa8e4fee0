"""bench.watch_delay runs end to end (quick mode, generated data) and writes its own section;
its replayed rows are the ones a range query would answer. No figure is looked at."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import numpy as np

from app.watch.config import WatchedModel
from bench.report import REPO
from bench.watch_delay import Replay, episodes, first_tick


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
