"""Run the quality protocols one after another and write docs/benchmarks.md's quality part.

    .venv/bin/python -m bench.quality.run_all ../shared/data            # the baseline section
    .venv/bin/python -m bench.quality.run_all ../shared/data --lever "last-step score" \\
        --set score_on=last_step --no-baselines                          # one row of levers

DATA holds processminer/sheet-breaks.csv, skab/ and nab/. Without --lever the run replaces the
quality section (every table, the goals, the command, commit and date) and adds its row to the
levers table as the baseline; with --lever it only adds (or replaces) that lever's row.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file: make `bench` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import report
from bench.quality import common
from bench.quality.nab import Z_SCORE

PROTOCOLS = ("article", "chronological", "skab", "nab")
# what --no-baselines passes to each protocol (NAB's references cost no training: always run)
NO_BASELINES = {"article": "--no-article-baseline", "chronological": "--no-article-baseline"}
NO_BASELINES["skab"] = "--no-anomaly-free"
DOC = common.REPO / "docs" / "benchmarks.md"
RESULTS = common.REPO / "bench" / "quality" / "results"
QUALITY = ("<!-- quality:begin -->", "<!-- quality:end -->")
LEVERS = ("<!-- levers:begin -->", "<!-- levers:end -->")
BASELINE_ROW = "baseline (defaults)"
LEVER_HEADER = (
    "| lever | article F1 | article ROC AUC | chrono F1 | chrono ROC AUC | chrono F1, max-F1 "
    "valid. / POT | SKAB F1 | SKAB FAR % | SKAB MAR % | SKAB F1 / FAR / MAR, POT | "
    "SKAB anomaly-free F1 | NAB F1 | NAB PR AUC | own / oracle F1: article, chrono, SKAB, "
    "anomaly-free, NAB | command, commit, date |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n"
)
LEVER_CELLS = LEVER_HEADER.splitlines()[1].count("|") - 1
LEVER_CELLS_BEFORE_NAB = LEVER_CELLS - 3  # the rows of earlier runs lack NAB's three columns


def data_path(root: Path, protocol: str) -> Path:
    if protocol in ("skab", "nab"):
        return root / protocol
    return root / "processminer" / "sheet-breaks.csv"


def run(protocol: str, root: Path, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", f"bench.quality.{protocol}", str(data_path(root, protocol))]
    shown = out.relative_to(common.REPO) if out.is_relative_to(common.REPO) else out
    command += ["--json", str(shown), "--label", args.label]
    command += [f"--set={s}" for s in args.settings]
    if args.quick:
        command.append("--quick")
    if args.no_baselines and protocol in NO_BASELINES:
        command.append(NO_BASELINES[protocol])
    if args.rolling_normalization:
        command.append(f"--rolling-normalization={args.rolling_normalization}")
    if protocol == "skab" and args.skab_threshold_from != "validation":
        command.append(f"--threshold-from={args.skab_threshold_from}")
    if protocol == "article" and args.article_epochs is not None:
        command += ["--article-epochs", str(args.article_epochs)]
    common.log(f"== {protocol}: {' '.join(command[1:])}")
    subprocess.run(command, cwd=common.REPO, check=True, stdout=subprocess.DEVNULL)
    result: dict[str, Any] = json.loads((common.REPO / shown).read_text())
    return result


def own_rows(result: dict[str, Any] | None, label: str) -> dict[str, dict[str, Any]]:
    """The rows of the rarewatch model under `label`, keyed by what follows the label."""
    if result is None:
        return {}
    rows = result["rows"] + result.get("variant", {}).get("rows", [])
    return {r["name"][len(label) :]: r for r in rows if r["name"].startswith(label)}


def _f(row: dict[str, Any] | None, key: str, digits: int = 3) -> str:
    if row is None or row.get(key) is None:
        return "-"
    return f"{row[key]:.{digits}f}"


def lever_row(name: str, results: dict[str, dict[str, Any]], label: str, command: str) -> str:
    a = own_rows(results.get("article"), label).get("")
    c = own_rows(results.get("chronological"), label)
    s = own_rows(results.get("skab"), label)
    n = own_rows(results.get("nab"), label).get("")
    free = s.get(", trained on anomaly-free.csv")
    ratios = [_f(r, "own_to_oracle", 2) for r in (a, c.get(""), s.get(""), free, n)]
    any_result = next(iter(results.values()))
    cells = [
        name,
        _f(a, "f1"),
        _f(a, "roc_auc"),
        _f(c.get(""), "f1"),
        _f(c.get(""), "roc_auc"),
        f"{_f(c.get(', max-F1 threshold on validation'), 'f1')} / "
        f"{_f(c.get(', POT threshold'), 'f1')}",
        _f(s.get(""), "f1"),
        _f(s.get(""), "far", 1),
        _f(s.get(""), "mar", 1),
        f"{_f(s.get(', POT threshold'), 'f1')} / {_f(s.get(', POT threshold'), 'far', 1)} / "
        f"{_f(s.get(', POT threshold'), 'mar', 1)}",
        _f(free, "f1"),
        _f(n, "f1"),
        _f(n, "pr_auc"),
        " / ".join(ratios),
        f"`{command}`; {any_result['commit']}; {any_result['date']}",
    ]
    return "| " + " | ".join(cells) + " |\n"


def goals(results: dict[str, dict[str, Any]], label: str) -> str:
    a = own_rows(results.get("article"), label).get("")
    c = own_rows(results.get("chronological"), label).get("")
    s = own_rows(results.get("skab"), label).get("")

    def met(ok: bool | None) -> str:
        return "-" if ok is None else ("**met**" if ok else "not met")

    def check(row: dict[str, Any] | None, test: Any) -> bool | None:
        return (
            None if row is None or (row.get("roc_auc") is None and "far" not in row) else test(row)
        )

    lines = [
        "| goal | measured (rarewatch row) | target | status |",
        "|---|---|---|---|",
        f"| sheet breaks, article protocol | F1 {_f(a, 'f1')}, ROC AUC {_f(a, 'roc_auc')} | "
        f"F1 >= 0.15 and ROC AUC >= 0.85 | "
        f"{met(check(a, lambda r: r['f1'] >= 0.15 and (r['roc_auc'] or 0) >= 0.85))} |",
        f"| sheet breaks, chronological | F1 {_f(c, 'f1')}, ROC AUC {_f(c, 'roc_auc')} | "
        f"F1 >= 0.10 and ROC AUC >= 0.70 | "
        f"{met(check(c, lambda r: r['f1'] >= 0.10 and (r['roc_auc'] or 0) >= 0.70))} |",
        f"| SKAB leaderboard | F1 {_f(s, 'f1')}, FAR {_f(s, 'far', 2)} %, MAR {_f(s, 'mar', 2)} % "
        f"| F1 >= 0.80, FAR <= 13.5 %, MAR <= 28 % | "
        f"{met(check(s, lambda r: r['f1'] >= 0.80 and r['far'] <= 13.5 and r['mar'] <= 28))} |",
    ]
    nab = results.get("nab")
    if nab is not None:
        n = own_rows(nab, label).get("")
        z = next((r for r in nab["rows"] if r["name"] == Z_SCORE), None)
        always = next((r for r in nab["rows"] if r["kind"] == "trivial"), None)
        ok = None
        if n is not None and z is not None and always is not None:
            ok = n["f1"] > max(z["f1"], always["f1"]) and (n["pr_auc"] or 0) > (z["pr_auc"] or 0)
        lines.append(
            f"| NAB | F1 {_f(n, 'f1')}, PR AUC {_f(n, 'pr_auc')} | above the z-score's "
            f"(F1 {_f(z, 'f1')}, PR AUC {_f(z, 'pr_auc')}), F1 above always-alarm's "
            f"({_f(always, 'f1')}) | {met(ok)} |"
        )
    ratios = {p: own_rows(results.get(p), label).get("") for p in PROTOCOLS}
    ratios["anomaly-free"] = own_rows(results.get("skab"), label).get(
        ", trained on anomaly-free.csv"
    )
    known = {
        k: r["own_to_oracle"] for k, r in ratios.items() if r and r.get("own_to_oracle") is not None
    }
    if known:
        shown = ", ".join(f"{k} {v:.2f}" for k, v in known.items())
        lines.append(
            f"| own-threshold F1 / oracle F1, every protocol | {shown} | >= 0.7 in each | "
            f"{met(min(known.values()) >= 0.7)} |"
        )
    return "\n".join(lines) + "\n"


def rules_table(results: dict[str, dict[str, Any]], label: str) -> str:
    """The rarewatch model's label-free decision rules side by side: F1 at each rule and its
    share of the oracle F1, per protocol, and the lowest share (a rule that transfers keeps it
    high everywhere)."""
    shown = [p for p in PROTOCOLS if p in results]
    suffixes = ["", ", POT threshold", *(f", {r.suffix}" for r in common.RESCORINGS)]
    suffixes += [f", {rule.suffix}" for rule in common.THRESHOLD_RULES]
    lines = [
        "| rule | " + " | ".join(f"{p} F1 (own / oracle)" for p in shown) + " | lowest share |",
        "|---|" + "---:|" * (len(shown) + 1),
    ]
    for suffix in suffixes:
        rows = [own_rows(results[p], label).get(suffix) for p in shown]
        shares = [r["own_to_oracle"] for r in rows if r and r.get("own_to_oracle") is not None]
        cells = [f"{_f(r, 'f1')} ({_f(r, 'own_to_oracle', 2)})" for r in rows]
        name = suffix.removeprefix(", ") or "the model's own (defaults)"
        lowest = f"{min(shares):.2f}" if len(shares) == len(shown) else "-"
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {lowest} |")
    return "\n".join(lines) + "\n"


def replace_between(text: str, markers: tuple[str, str], body: str) -> str:
    begin, end = markers
    block = f"{begin}\n{body}{end}"
    if begin in text and end in text:
        return re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    return text.rstrip("\n") + "\n\n" + block + "\n"


def update_levers(text: str, name: str, row: str) -> str:
    begin, end = LEVERS
    body = text.split(begin, 1)[1].split(end, 1)[0] if begin in text and end in text else ""
    rows = [
        line + "\n"
        for line in body.splitlines()
        if line.startswith("| ") and not line.startswith("| lever ")
    ]
    rows = [_padded(r) for r in rows if r.split("|")[1].strip() != name]
    rows.append(row)
    rows.sort(key=lambda r: r.split("|")[1].strip() != BASELINE_ROW)  # the baseline first
    return replace_between(text, LEVERS, LEVER_HEADER + "".join(rows))


def _padded(row: str) -> str:
    """A row written before the NAB columns and the own / oracle column: `-` in them."""
    cells = row.rstrip("\n").strip("|").split("|")
    if len(cells) != LEVER_CELLS_BEFORE_NAB:
        return row
    cells[-1:-1] = [" - "] * (LEVER_CELLS - len(cells))
    return "|" + "|".join(cells) + "|\n"


def skeleton() -> str:
    return "# Benchmarks\n\n" + quality_skeleton()


def quality_skeleton() -> str:
    return (
        "## Detection quality\n\n"
        "Produced by `bench/quality/` (protocols: `../shared/EVALUATION.md`). Every figure below "
        "comes from the command printed with it; thresholds and options come from training or "
        "validation data only, never from test labels.\n\n"
        f"{QUALITY[0]}\n{QUALITY[1]}\n\n"
        "### Levers, one at a time\n\n"
        "Each row changes one thing from the defaults (`--set`), runs the same scripts, and "
        "reports the rarewatch row of each protocol (threshold: the model's own, from "
        "validation).\n\n"
        f"{LEVERS[0]}\n{LEVERS[1]}\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="folder with processminer/ and skab/")
    parser.add_argument("--quick", action="store_true", help="a few epochs and files")
    parser.add_argument("--set", dest="settings", action="append", default=[], metavar="K=V")
    parser.add_argument("--label", default="rarewatch defaults")
    parser.add_argument("--lever", help="record this run as one row of the levers table")
    parser.add_argument("--only", default=",".join(PROTOCOLS), help="protocols to run")
    parser.add_argument("--no-baselines", action="store_true", help="skip article/anomaly-free")
    parser.add_argument("--article-epochs", type=int, help="epochs of the article baseline")
    parser.add_argument(
        "--rolling-normalization",
        type=int,
        default=0,
        metavar="N",
        help="bench lever, every protocol: each row scaled by the mean and spread of the N rows "
        "before it, before windowing",
    )
    parser.add_argument(
        "--skab-threshold-from",
        choices=common.SKAB_THRESHOLD_FROM,
        default="validation",
        help="bench lever, SKAB only: the threshold from all 400 training rows' windows",
    )
    parser.add_argument(
        "--doc", type=Path, help=f"document to update (default {DOC}; with --quick, a scratch copy)"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for the JSON")
    parser.add_argument(
        "--from-results",
        action="store_true",
        help="train nothing: rewrite the document from the JSON of an earlier run (same options)",
    )
    args = parser.parse_args(argv)
    if args.lever:
        args.label = args.lever

    started = time.monotonic()
    command = common.command_line()
    slug = report.slug(args.lever or "baseline")
    if args.quick:  # never overwrite real results or figures with quick-mode ones
        slug = f"quick-{slug}"
        args.doc = args.doc or args.results / "quick-benchmarks.md"
    args.doc = args.doc or DOC
    results: dict[str, dict[str, Any]] = {}
    run_file = args.results / slug / "run.json"
    for protocol in [p.strip() for p in args.only.split(",") if p.strip()]:
        if protocol not in PROTOCOLS:
            raise SystemExit(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
        out = args.results / slug / f"{protocol}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        if args.from_results:
            results[protocol] = json.loads(out.read_text())
        else:
            results[protocol] = run(protocol, args.data, args, out)
    if args.from_results:
        run_info = json.loads(run_file.read_text())
    else:
        run_info = {
            "command": command,
            "minutes": round((time.monotonic() - started) / 60, 1),
            "commit": common.git_commit(),
            "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        }
        run_file.write_text(json.dumps(run_info, indent=2) + "\n")
    command, minutes = run_info["command"], run_info["minutes"]

    text = args.doc.read_text() if args.doc.exists() else skeleton()
    if QUALITY[0] not in text:  # a document written by other benchmarks: add our part
        text = text.rstrip("\n") + "\n\n" + quality_skeleton()
    if not args.lever:
        header = (
            f"Run with `{command}`: {minutes:.1f} minutes on this machine; "
            f"commit {run_info['commit']}; {run_info['date']}"
            + (
                " (**quick mode**: a few epochs and files, figures meaningless)"
                if args.quick
                else ""
            )
            + ".\n\n"
        )
        body = header + "#### Goals\n\n" + goals(results, args.label) + "\n"
        body += (
            "#### Threshold rules: how each transfers\n\n"
            "The same models, decided by label-free rules (rows of each protocol below); "
            "own / oracle: the F1 a rule gives over the best F1 any threshold gives on the "
            "test labels (an oracle, not a result).\n\n" + rules_table(results, args.label) + "\n"
        )
        for protocol in PROTOCOLS:
            if protocol in results:
                body += common.render(results[protocol], heading="####") + "\n"
        text = replace_between(text, QUALITY, body)
    text = update_levers(
        text,
        args.lever or BASELINE_ROW,
        lever_row(args.lever or BASELINE_ROW, results, args.label, command),
    )
    args.doc.parent.mkdir(parents=True, exist_ok=True)
    args.doc.write_text(text)
    common.log(f"wrote {args.doc} ({minutes:.1f} minutes)")


if __name__ == "__main__":
    main()
