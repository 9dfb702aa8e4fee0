"""Defaults chosen across data: candidates against the defaults over several seeds, every protocol.

    .venv/bin/python -m bench.quality.seeds ../shared/data --seeds 0,1,2 \\
        [--candidate NAME K=V ...] [--rule "3 in a row, hold 10"] [--write]

The protocols that decide a default (issue 17, item 4): sheet breaks chronological, SKAB's
leaderboard, SKAB's anomaly-free variant (trained once on anomaly-free.csv) and NAB. Each seed
runs each protocol once with the defaults (`--set seed=N`) and once per `--candidate` with its
own settings; a `--rule` is one of the label-free decision rules every protocol already reports
on each model it trains (bench.quality.common.THRESHOLD_RULES), so it costs no training: it
gives a row on the defaults' models and one on each candidate's (`NAME, rule: RULE`).

Runs are resumable: each (configuration, seed, protocol) writes its JSON under
bench/quality/results/seeds/<defaults_key()>/ and a later call with the same configuration
reuses it (`--rerun` runs it again), so a long table can be filled over several sittings;
`--from-results` trains nothing and fails on what is missing.

A candidate becomes a default only if, over the seeds, it raises the mean over the four
protocols of PR AUC and of F1, and loses in no protocol by more than the seed spread (the
larger of the two configurations' max - min over seeds, per metric and protocol). `--write`
puts the table, the verdicts, the command, the commits and the date into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.quality import common, goals, run_all
from bench.report import slug
from models.spec import TrainingOptions

LABEL = "rarewatch"
DEFAULTS = "defaults"
RUN_PROTOCOLS = ("chronological", "skab", "nab")
COLUMNS = goals.PROTOCOLS  # (column, protocol's JSON, the rarewatch row's name after the label)
METRICS = ("pr_auc", "f1")
METRIC_NAMES = {"pr_auc": "PR AUC", "f1": "F1"}
MARKERS = ("<!-- seeds:begin -->", "<!-- seeds:end -->")
GOAL_MARKERS = ("<!-- goals:begin -->", "<!-- goals:end -->")
RESULTS = run_all.RESULTS / "seeds"


def defaults_key(defaults: TrainingOptions | None = None) -> str:
    """The folder of every run made on top of today's defaults: `defaults-` and a digest of
    TrainingOptions' defaults, so that once a default changes no candidate is compared with
    runs of the old ones (a candidate's settings apply on top of the defaults too). A new
    field whose default keeps today's behaviour (network.members=1, say) changes the digest
    too: its commit moves the folder (git mv) to the new name, the runs still being valid."""
    options = TrainingOptions() if defaults is None else defaults
    digest = hashlib.sha256(options.model_dump_json().encode()).hexdigest()
    return f"defaults-{digest[:8]}"


@dataclass(frozen=True)
class Configuration:
    """What a row of the table is: trained with `settings`, decided by the model's own
    threshold (`rule` empty) or by one of the label-free rules on the defaults' models."""

    name: str
    settings: tuple[str, ...] = ()
    rule: str = ""
    base: str = DEFAULTS  # a rule's row: whose trained models it decides

    @property
    def trains(self) -> bool:
        return not self.rule

    @property
    def trained(self) -> Configuration:
        """The configuration whose runs hold this one's figures (itself, unless a rule)."""
        return self if self.trains else Configuration(self.base, self.settings)

    @property
    def slug(self) -> str:
        return slug(self.name)


def configurations(args: argparse.Namespace) -> list[Configuration]:
    """The defaults, then each candidate (name, settings), then each rule on the defaults'
    models and on each candidate's (a candidate's rows named `NAME, rule: RULE`), as given."""
    known = {rule.suffix.removeprefix("rule: "): rule.suffix for rule in common.THRESHOLD_RULES}
    trained = [Configuration(DEFAULTS)]
    for name, *settings in args.candidate:
        if not settings:
            raise SystemExit(f"candidate {name!r}: give its settings after its name (K=V)")
        trained.append(Configuration(name, tuple(settings)))
    ruled = []
    for rule in args.rule:
        if rule not in known:
            raise SystemExit(f"unknown rule {rule!r}; known: {', '.join(known)}")
        for base in trained:
            prefix = "" if base.name == DEFAULTS else f"{base.name}, "
            ruled.append(
                Configuration(f"{prefix}rule: {rule}", base.settings, known[rule], base.name)
            )
    return trained + ruled


def result_path(results: Path, configuration: Configuration, seed: int, protocol: str) -> Path:
    """Where one run's JSON lives; a rule reads the runs of the configuration it decides."""
    return results / configuration.trained.slug / f"seed-{seed}" / f"{protocol}.json"


def run_missing(
    configuration: Configuration, seeds: list[int], args: argparse.Namespace
) -> dict[tuple[int, str], dict[str, Any]]:
    """Each seed's result of each protocol for `configuration`: read where a run stored it,
    else run now (unless --from-results)."""
    found: dict[tuple[int, str], dict[str, Any]] = {}
    for seed in seeds:
        for protocol in RUN_PROTOCOLS:
            out = result_path(args.results, configuration, seed, protocol)
            if out.exists() and not (args.rerun and configuration.trains):
                found[(seed, protocol)] = json.loads(out.read_text())
                continue
            if args.from_results:
                raise SystemExit(f"no result at {out}: run without --from-results first")
            out.parent.mkdir(parents=True, exist_ok=True)
            runner = argparse.Namespace(
                label=LABEL,
                settings=[*configuration.trained.settings, f"seed={seed}"],
                quick=args.quick,
                # the chronological protocol's article-model row is not a figure here; SKAB's
                # anomaly-free variant is
                no_baselines=protocol == "chronological",
                rolling_normalization=0,
                skab_threshold_from="validation",
                article_epochs=None,
            )
            found[(seed, protocol)] = run_all.run(protocol, args.data, runner, out)
    return found


def figures(
    configuration: Configuration, runs: dict[tuple[int, str], dict[str, Any]], seeds: list[int]
) -> dict[tuple[str, str], list[float | None]]:
    """(column, metric) -> one value per seed (None where a protocol gives none, e.g. a rule
    on the anomaly-free variant, which reports the model's own threshold only)."""
    table: dict[tuple[str, str], list[float | None]] = {}
    rule = f", {configuration.rule}" if configuration.rule else ""
    for column, protocol, row_suffix in COLUMNS:
        for metric in METRICS:
            values: list[float | None] = []
            for seed in seeds:
                rows = run_all.own_rows(runs[(seed, protocol)], LABEL)
                row = rows.get(row_suffix + rule)
                values.append(None if row is None or row.get(metric) is None else row[metric])
            table[(column, metric)] = values
    return table


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.fmean(known) if len(known) == len(values) and known else None


def _spread(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) - min(known) if len(known) == len(values) and known else None


def verdict(
    candidate: dict[tuple[str, str], list[float | None]],
    defaults: dict[tuple[str, str], list[float | None]],
) -> tuple[bool | None, list[str]]:
    """Whether the candidate becomes a default by the rule above, with the reasons; None where
    a figure it needs is missing."""
    reasons: list[str] = []
    ok = True
    for metric in METRICS:
        own = [_mean(candidate[(c, metric)]) for c, _, _ in COLUMNS]
        base = [_mean(defaults[(c, metric)]) for c, _, _ in COLUMNS]
        if None in own or None in base:
            return None, [f"{METRIC_NAMES[metric]} missing in some protocol"]
        gain = statistics.fmean(own) - statistics.fmean(base)  # type: ignore[arg-type]
        reasons.append(f"mean {METRIC_NAMES[metric]} over the protocols {gain:+.3f}")
        ok &= gain > 0
        for (column, _, _), mine, theirs in zip(COLUMNS, own, base, strict=True):
            spread = max(
                _spread(candidate[(column, metric)]) or 0.0,
                _spread(defaults[(column, metric)]) or 0.0,
            )
            loss = theirs - mine  # type: ignore[operator]
            if loss > spread:
                ok = False
                reasons.append(
                    f"loses {loss:.3f} {METRIC_NAMES[metric]} on {column} (spread {spread:.3f})"
                )
    return ok, reasons


def table(
    rows: dict[str, dict[tuple[str, str], list[float | None]]],
) -> str:
    """Markdown: a configuration a row, each protocol's mean (min - max over the seeds) of each
    metric, and the means over the protocols."""
    head = ["configuration"]
    for column, _, _ in COLUMNS:
        head += [f"{column} {METRIC_NAMES[m]}" for m in METRICS]
    head += [f"mean {METRIC_NAMES[m]}" for m in METRICS]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for name, found in rows.items():
        cells = [name]
        for column, _, _ in COLUMNS:
            for metric in METRICS:
                values = found[(column, metric)]
                mean = _mean(values)
                known = [v for v in values if v is not None]
                cells.append(
                    "-" if mean is None else f"{mean:.3f} ({min(known):.3f}-{max(known):.3f})"
                )
        for metric in METRICS:
            means = [_mean(found[(c, metric)]) for c, _, _ in COLUMNS]
            cells.append(
                "-" if None in means else f"{statistics.fmean(means):.3f}"  # type: ignore[arg-type]
            )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def section(
    rows: dict[str, dict[tuple[str, str], list[float | None]]],
    verdicts: dict[str, tuple[bool | None, list[str]]],
    seeds: list[int],
    commits: set[str],
    command: str,
) -> str:
    """The document's part between MARKERS."""
    lines = [
        f"Run with `{command}`; seeds {', '.join(map(str, seeds))}; commit(s) "
        f"{', '.join(sorted(commits))}; {datetime.now(UTC):%Y-%m-%d %H:%M UTC}. Each cell: the "
        "mean over the seeds (min - max); the model's own threshold unless the row is a rule.",
        "",
        table(rows),
    ]
    for name, (ok, reasons) in verdicts.items():
        said = "-" if ok is None else ("becomes a default" if ok else "stays off")
        lines.append(f"- **{name}**: {said} ({'; '.join(reasons)})")
    return "\n".join(lines) + "\n"


def goals_section(runs: goals.Runs, seeds: list[int], command: str) -> str:
    """The document's part between GOAL_MARKERS: issue 17's goals for today's defaults."""
    commits = ", ".join(sorted({run["commit"] for run in runs.values()}))
    return (
        f"The defaults' runs of `{command}`; seeds {', '.join(map(str, seeds))}; commit(s) "
        f"{commits}; {datetime.now(UTC):%Y-%m-%d %H:%M UTC}. Each goal is judged on the mean "
        "over the seeds; a reference (z-score, always-alarm) comes from the same runs.\n\n"
        + goals.goals_table(runs, seeds, LABEL)
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="folder with processminer/, skab/ and nab/")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated (default 0,1,2)")
    parser.add_argument(
        "--candidate",
        action="append",
        nargs="+",
        default=[],
        metavar=("NAME", "K=V"),
        help="a candidate: its name, then its training settings (as run_all's --set)",
    )
    parser.add_argument("--rule", action="append", default=[], help="a label-free rule's name")
    parser.add_argument("--quick", action="store_true", help="a few epochs and files")
    parser.add_argument("--rerun", action="store_true", help="run again what is stored")
    parser.add_argument("--from-results", action="store_true", help="train nothing")
    parser.add_argument(
        "--results",
        type=Path,
        default=RESULTS / defaults_key(),
        help="folder for the JSON (default: one per set of defaults, see defaults_key)",
    )
    parser.add_argument("--write", type=Path, nargs="?", const=run_all.DOC, help="update a doc")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    command = common.command_line()
    found: dict[str, dict[tuple[str, str], list[float | None]]] = {}
    runs_of: dict[str, goals.Runs] = {}
    for configuration in configurations(args):
        runs_of[configuration.name] = run_missing(configuration, seeds, args)
        found[configuration.name] = figures(configuration, runs_of[configuration.name], seeds)
    commits = {run["commit"] for runs in runs_of.values() for run in runs.values()}
    goals_text = goals_section(runs_of[DEFAULTS], seeds, command)
    verdicts = {name: verdict(f, found[DEFAULTS]) for name, f in found.items() if name != DEFAULTS}
    text = section(found, verdicts, seeds, commits, command)
    print(goals_text)
    print(text)
    if args.write is not None:
        doc = args.write.read_text() if args.write.exists() else "# Benchmarks\n"
        doc = run_all.replace_between(doc, GOAL_MARKERS, goals_text)
        args.write.write_text(run_all.replace_between(doc, MARKERS, text))
        common.log(f"wrote {args.write}")


if __name__ == "__main__":
    main()
