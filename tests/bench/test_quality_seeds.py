"""bench.quality.seeds: the table over seeds, the rule that makes a default, resumable runs.
Results are small hand-made JSON in the protocols' shape; nothing is trained here (the runs
themselves are run_all's, tested end to end in test_quality_scripts)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from bench.quality import seeds
from bench.quality.nab import Z_SCORE

RULE = "3 in a row, hold 10"


def result(f1: float, pr_auc: float, rule_f1: float | None = None) -> dict[str, Any]:
    """A protocol's JSON with the rarewatch row (and the variant's, and one rule's row), and
    the references the goals compare with (the z-score, always-alarm)."""
    more = {"roc_auc": 0.6, "far": 10.0, "mar": 20.0, "own_to_oracle": 0.9}
    always = {"name": "always-alarm (trivial)", "kind": "trivial", "f1": 0.1}
    rows = [{"name": seeds.LABEL, "f1": f1, "pr_auc": pr_auc, **more}]
    rows += [{"name": Z_SCORE, "f1": 0.2, "pr_auc": 0.2}, always]
    if rule_f1 is not None:
        rows.append({"name": f"{seeds.LABEL}, rule: {RULE}", "f1": rule_f1, "pr_auc": pr_auc})
    free = f"{seeds.LABEL}, trained on anomaly-free.csv"
    variant = {"rows": [{"name": free, "f1": f1, "pr_auc": pr_auc, **more}, always]}
    if rule_f1 is not None:
        variant["rows"].append({"name": f"{free}, rule: {RULE}", "f1": rule_f1 / 2, "pr_auc": 0.1})
    return {"commit": "abc1234", "rows": rows, "variant": variant}


def store(root: Path, configuration: str, seed: int, figures: dict[str, Any]) -> None:
    for protocol, value in figures.items():
        path = seeds.result_path(root, seeds.Configuration(configuration), seed, protocol)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))


def arguments(root: Path, *extra: str) -> list[str]:
    return [str(root / "data"), "--results", str(root), "--seeds", "0,1", *extra]


def test_a_candidate_better_everywhere_becomes_a_default(tmp_path: Path, capsys) -> None:
    for seed, bump in ((0, 0.0), (1, 0.01)):
        store(tmp_path, "defaults", seed, {p: result(0.5 + bump, 0.4) for p in seeds.RUN_PROTOCOLS})
        store(tmp_path, "better", seed, {p: result(0.6 + bump, 0.5) for p in seeds.RUN_PROTOCOLS})
    doc = tmp_path / "doc.md"
    doc.write_text("# B\n\nkept\n")
    seeds.main(
        arguments(
            tmp_path, "--from-results", "--candidate", "better", "epochs=2", "--write", str(doc)
        )
    )
    text = doc.read_text()
    assert "kept" in text
    assert seeds.MARKERS[0] in text
    assert seeds.MARKERS[1] in text
    # issue 17's goals for the defaults, in their own block (NAB's F1 0.505 beats 0.2 and 0.1)
    goals_block = text.split(seeds.GOAL_MARKERS[0], 1)[1].split(seeds.GOAL_MARKERS[1], 1)[0]
    assert "| NAB | F1 0.505 (0.500-0.510)" in goals_block
    assert "**better**: becomes a default" in text
    # mean (min-max) over the two seeds
    assert "0.505 (0.500-0.510)" in text
    assert "0.605 (0.600-0.610)" in text


def test_a_loss_past_the_seed_spread_in_one_protocol_keeps_it_off() -> None:
    defaults = {(c, m): [0.5, 0.52] for c, _, _ in seeds.COLUMNS for m in seeds.METRICS}
    candidate = {key: [0.8, 0.8] for key in defaults}
    candidate[("NAB", "f1")] = [0.4, 0.41]  # a 0.105 loss against a spread of 0.02
    ok, reasons = seeds.verdict(candidate, defaults)
    assert ok is False
    assert any("loses" in r and "NAB" in r for r in reasons)
    candidate[("NAB", "f1")] = [0.5, 0.5]  # a 0.01 loss, inside the spread
    assert seeds.verdict(candidate, defaults)[0] is True


def test_a_rule_is_read_from_the_defaults_own_runs(tmp_path: Path) -> None:
    for seed in (0, 1):
        store(
            tmp_path,
            "defaults",
            seed,
            {p: result(0.5, 0.4, rule_f1=0.7) for p in seeds.RUN_PROTOCOLS},
        )
    configuration = seeds.Configuration(f"rule: {RULE}", rule=f"rule: {RULE}")
    runs = {
        (seed, p): json.loads(seeds.result_path(tmp_path, configuration, seed, p).read_text())
        for seed in (0, 1)
        for p in seeds.RUN_PROTOCOLS
    }
    found = seeds.figures(configuration, runs, [0, 1])
    assert found[("NAB", "f1")] == [0.7, 0.7]
    assert found[("SKAB anomaly-free", "f1")] == [0.35, 0.35]  # the variant's own rule row
    assert found[("SKAB leaderboard", "pr_auc")] == [0.4, 0.4]


def test_a_protocol_without_the_rules_row_gives_no_figure_and_no_verdict(tmp_path: Path) -> None:
    runs = {(0, p): result(0.5, 0.4) for p in seeds.RUN_PROTOCOLS}  # no rule rows at all
    configuration = seeds.Configuration(f"rule: {RULE}", rule=f"rule: {RULE}")
    found = seeds.figures(configuration, runs, [0])
    assert found[("NAB", "f1")] == [None]
    defaults = seeds.figures(seeds.Configuration(seeds.DEFAULTS), runs, [0])
    assert seeds.verdict(found, defaults)[0] is None


def test_a_missing_run_is_named_when_nothing_may_be_trained(tmp_path: Path) -> None:
    store(tmp_path, "defaults", 0, {p: result(0.5, 0.4) for p in seeds.RUN_PROTOCOLS})
    with pytest.raises(SystemExit, match="seed-1"):
        seeds.main(arguments(tmp_path, "--from-results"))


def test_an_unknown_rule_and_a_candidate_without_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="unknown rule"):
        seeds.main(arguments(tmp_path, "--from-results", "--rule", "no such rule"))
    with pytest.raises(SystemExit, match="give its settings"):
        seeds.main(arguments(tmp_path, "--from-results", "--candidate", "bare"))


def test_a_rule_on_a_candidate_reads_the_candidates_runs_and_is_judged_against_the_defaults(
    tmp_path: Path, capsys
) -> None:
    for seed in (0, 1):
        store(tmp_path, "defaults", seed, {p: result(0.5, 0.4) for p in seeds.RUN_PROTOCOLS})
        store(
            tmp_path,
            "floor",
            seed,
            {p: result(0.5, 0.6, rule_f1=0.7) for p in seeds.RUN_PROTOCOLS},
        )
    seeds.main(arguments(tmp_path, "--from-results", "--candidate", "floor", "k=1", "--rule", RULE))
    out = capsys.readouterr().out
    # the defaults' runs have no rule rows: their rule gets no figure and no verdict
    assert f"**rule: {RULE}**: - (" in out
    assert f"**floor, rule: {RULE}**: stays off" in out  # the variant's rule F1 halves: a loss
    configuration = seeds.configurations(
        argparse.Namespace(candidate=[["floor", "k=1"]], rule=[RULE])
    )[-1]
    assert configuration.name == f"floor, rule: {RULE}"
    assert seeds.result_path(tmp_path, configuration, 0, "nab").parent.parent.name == "floor"
    runs = {(0, p): result(0.5, 0.6, rule_f1=0.7) for p in seeds.RUN_PROTOCOLS}
    assert seeds.figures(configuration, runs, [0])[("NAB", "f1")] == [0.7]


def test_runs_on_other_defaults_live_in_another_folder() -> None:
    today = seeds.defaults_key()
    assert today == seeds.defaults_key(seeds.TrainingOptions())
    assert today.startswith("defaults-")
    assert seeds.defaults_key(seeds.TrainingOptions().changed(alarm_hold=5)) != today
