"""The `rarewatch` command line, run in-process on files the tests write (as a real process
where the pipe to its reader matters)."""

import argparse
import json
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from app.cli.main import build_parser, main, training_options
from models.spec import TrainingOptions
from tests.conftest import run_python, tiny_frame, tiny_training_flags, with_fault

REPO = Path(__file__).resolve().parents[3]

TRAIN = [
    "--time-column",
    "time",
    "--label-column",
    "y",
    *tiny_training_flags(epochs=3),
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with train.csv (semicolon-separated, to exercise sniffing), a trained model 'cli'
    and test.parquet with a labelled fault."""
    folder = tmp_path_factory.mktemp("cli")
    tiny_frame(300).to_csv(folder / "train.csv", sep=";", index=False)
    with_fault(tiny_frame(120, seed=5), 60).to_parquet(folder / "test.parquet")
    code = main(
        [
            "--model-dir",
            str(folder / "models"),
            "train",
            str(folder / "train.csv"),
            "--name",
            "cli",
            *TRAIN,
        ]
    )
    assert code == 0
    return folder


def run(workdir: Path, *args: str) -> int:
    return main(["--model-dir", str(workdir / "models"), *args])


def test_train_writes_a_versioned_model_and_says_where(workdir: Path, capsys) -> None:
    assert run(workdir, "train", str(workdir / "train.csv"), "--name", "cli2", *TRAIN) == 0
    out = capsys.readouterr().out
    assert "trained cli2 version 1" in out
    assert "of 3 features (a, b, c):" in out
    assert (workdir / "models" / "cli2" / "1" / "detector.json").is_file()


def test_train_warns_about_a_label_like_feature_and_trains_on(workdir: Path, capsys) -> None:
    quick = ["--time-column", "time", "--lookback", "4", "--epochs", "1", "--units", "4"]
    args = ["train", str(workdir / "train.csv"), "--name", "with-y", *quick, "--quiet"]
    assert run(workdir, *args) == 0
    out, err = capsys.readouterr()
    assert err == (
        "rarewatch train: warning: feature column 'y' looks like a label (its name); if it is "
        "one, give --label-column y or --exclude y\n"
    )
    assert "of 4 features (a, b, c, y):" in out


def test_train_refuses_a_small_file_in_one_line_without_importing_tensorflow(
    tmp_path: Path,
) -> None:
    tiny_frame(8).to_csv(tmp_path / "small.csv", index=False)
    argv = ["--model-dir", str(tmp_path), "train", str(tmp_path / "small.csv"), "--name", "x"]
    driver = (
        "import sys\n"
        "from app.cli.main import main\n"
        f"code = main({argv!r} + ['--time-column', 'time', '--label-column', 'y'])\n"
        "print(code, 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    finished = run_python(driver)
    assert finished.stdout == "2 False False\n"
    assert finished.stderr == (
        "rarewatch train: error: the validation part has 2 rows, fewer than the lookback (5); "
        "8 rows in all, 23 needed with --lookback 5 and --validation-fraction 0.2: give more "
        "rows or a --lookback of at most 2\n"
    )


def test_score_writes_one_row_per_input_row(workdir: Path) -> None:
    output = workdir / "scores.csv"
    assert (
        run(
            workdir,
            "score",
            str(workdir / "test.parquet"),
            "--model",
            "cli",
            "--output",
            str(output),
        )
        == 0
    )
    scores = pd.read_csv(output)
    assert list(scores.columns) == [
        "time",
        "score",
        "is_anomaly",
        "contrib_a",
        "contrib_b",
        "contrib_c",
        "filled_share",
        "reason",
        "out_of_range",
        "out_of_range_features",
    ]
    assert len(scores) == 120
    assert scores["score"].iloc[:3].isna().all()
    assert scores["score"].iloc[3:].notna().all()
    assert not scores["is_anomaly"].iloc[:3].any()
    contributions = scores[["contrib_a", "contrib_b", "contrib_c"]].iloc[3:].sum(axis=1)
    np.testing.assert_allclose(contributions, 1.0, atol=1e-5)


def test_score_without_output_prints_csv(workdir: Path, capsys) -> None:
    assert run(workdir, "score", str(workdir / "test.parquet"), "--model", "cli") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("time,score,is_anomaly")
    assert len(lines) == 121


def evaluate(workdir: Path, *extra: str) -> int:
    """`rarewatch evaluate` of the labelled test file against the module's model."""
    test_file = str(workdir / "test.parquet")
    return run(workdir, "evaluate", test_file, "--model", "cli", "--label-column", "y", *extra)


def test_evaluate_prints_the_metrics_as_json(workdir: Path, capsys) -> None:
    assert evaluate(workdir, "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n_scored"] == 117
    assert result["n_positive"] == 6
    assert set(result["confusion"]) == {"tn", "fp", "fn", "tp"}
    assert sum(result["confusion"].values()) == 117
    assert 0 <= result["roc_auc"] <= 1


def test_evaluate_prints_a_readable_report(workdir: Path, capsys) -> None:
    assert evaluate(workdir) == 0
    out = capsys.readouterr().out
    assert "precision" in out
    assert "ROC AUC" in out
    assert "confusion: TN" in out


def test_models_lists_and_describes_with_the_layer_table(workdir: Path, capsys) -> None:
    assert run(workdir, "models") == 0
    assert "cli  v1  lookback 4" in capsys.readouterr().out
    assert run(workdir, "models", "--name", "cli") == 0
    out = capsys.readouterr().out
    assert "RepeatVector" in out
    # the default rule: every window over the threshold alarms, held 9 windows after
    assert "alarm: 1 window in a row over the threshold, held 9 windows after" in out
    assert "(None, 4, 3)" in out
    assert "total" in out
    assert "score:" not in out  # the plain score: no line for its options


def test_a_malformed_manifest_is_one_line_and_exit_2(workdir: Path, tmp_path: Path, capsys) -> None:
    version = tmp_path / "models" / "cli" / "1"
    shutil.copytree(workdir / "models" / "cli" / "1", version)
    manifest = json.loads((version / "manifest.json").read_text())
    manifest["files"] = ", ".join(manifest["files"])  # every file named, but not as a map
    (version / "manifest.json").write_text(json.dumps(manifest))
    describe = ["models", "--name", "cli", "--version", "1"]
    score = ["score", str(workdir / "test.parquet"), "--model", "cli"]

    for command in (describe, score):
        assert run(tmp_path, *command) == 2
        out, err = capsys.readouterr()
        assert err == (
            f"rarewatch {command[0]}: error: model 'cli' version 1: manifest.json is invalid at "
            "files: Input should be an object\n"
        )
        assert not out
    assert run(tmp_path, "models") == 0
    assert "cli  v1  UNUSABLE: model 'cli' version 1: manifest.json is invalid" in (
        capsys.readouterr().out
    )


def test_demo_data_writes_labelled_correlated_sensors(tmp_path: Path) -> None:
    assert main(["demo-data", str(tmp_path / "demo.csv"), "--rows", "500"]) == 0
    frame = pd.read_csv(tmp_path / "demo.csv")
    assert len(frame) == 500
    assert set(frame["label"].unique()) <= {0, 1}
    assert frame["label"].sum() > 0
    assert frame[["load", "pressure"]].corr().iloc[0, 1] > 0.8


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["score", "{test}", "--model", "nope"], "no model named 'nope'"),
        (["score", "{test}", "--model", "cli", "--version", "9"], "no version 9"),
        (["score", "{dir}/missing.csv", "--model", "cli"], "no such file"),
        (["train", "{train}", "--name", "x", "--features", "a,zz"], "unknown column 'zz'"),
        (["train", "{train}", "--name", "x"], "column 'time', data row 1"),
        (
            ["train", "{bad_cell}", "--name", "x", "--time-column", "time"],
            "column 'b', data row 3: 'oops'",
        ),
        (
            ["train", "{inf_cell}", "--name", "x", "--time-column", "time"],
            "column 'a', data row 2: 'inf' is not a finite number",
        ),
        (["score", "{test}", "--model", "cli", "--fill", "mean"], "fill must be linear"),
        (
            ["train", "{train}", "--name", "x", "--time-column", "time", "--label-column", "a"],
            "is not 0 or 1",
        ),
        (["train", "{train}", "--name", "../x"], "invalid model name"),
        (
            [
                "train",
                "{train}",
                "--name",
                "x",
                "--time-column",
                "time",
                "--lookback",
                "400",
                "--quiet",
            ],
            "fewer than the lookback",
        ),
        (["train", "{train}", "--name", "x", "--threshold-method", "max-f1"], "--label-column"),
        (["train", "{train}", "--name", "x", "--units", "8,x"], "layer sizes"),
        (["evaluate", "{test}", "--model", "cli", "--label-column", "a"], "is not 0 or 1"),
        (["score", "{short}", "--model", "cli"], "at least 4"),
        (["score", "{train_wrong}", "--model", "cli"], "lacks the model's feature column c"),
    ],
)
def test_bad_input_is_one_line_naming_the_problem_and_exit_2(
    workdir: Path,
    capsys,
    args: list[str],
    message: str,
) -> None:
    frame = tiny_frame(20)
    files = {
        "dir": workdir,
        "test": workdir / "test.parquet",
        "train": workdir / "train.csv",
        "bad_cell": workdir / "bad_cell.csv",
        "inf_cell": workdir / "inf_cell.csv",
        "short": workdir / "short.csv",
        "train_wrong": workdir / "wrong.csv",
    }
    frame.astype({"b": object}).assign(b=lambda f: f["b"].where(f.index != 2, "oops")).to_csv(
        files["bad_cell"], index=False
    )
    frame.assign(a=lambda f: f["a"].where(f.index != 1, np.inf)).to_csv(
        files["inf_cell"], index=False
    )
    frame.head(3).to_csv(files["short"], index=False)
    frame.drop(columns="c").to_csv(files["train_wrong"], index=False)

    code = run(workdir, *[a.format(**files) for a in args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_a_failed_score_leaves_no_output_file(workdir: Path) -> None:
    output = workdir / "never.csv"
    assert (
        run(
            workdir,
            "score",
            str(workdir / "test.parquet"),
            "--model",
            "nope",
            "--output",
            str(output),
        )
        == 2
    )
    assert not output.exists()


def test_a_failed_training_leaves_no_model(workdir: Path) -> None:
    assert (
        run(
            workdir,
            "train",
            str(workdir / "train.csv"),
            "--name",
            "never",
            "--lookback",
            "400",
            "--quiet",
        )
        == 2
    )
    assert not (workdir / "models" / "never").exists()


def test_usage_errors_are_one_line_and_exit_2(capsys) -> None:
    assert main(["train"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_a_tampered_model_is_refused_by_the_cli(workdir: Path, capsys) -> None:
    import shutil

    shutil.copytree(workdir / "models" / "cli", workdir / "models" / "tampered")
    weights = workdir / "models" / "tampered" / "1" / "weights.npz"
    data = bytearray(weights.read_bytes())
    data[-30] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert run(workdir, "score", str(workdir / "test.parquet"), "--model", "tampered") == 2
    assert "weights.npz does not match its SHA-256" in capsys.readouterr().err


def test_plot_writes_a_png_of_the_series_score_and_events(workdir: Path) -> None:
    output = workdir / "plots" / "test.png"
    assert (
        run(
            workdir,
            "plot",
            str(workdir / "test.parquet"),
            "--model",
            "cli",
            "--output",
            str(output),
        )
        == 0
    )
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert output.stat().st_size > 10_000


def test_plot_shades_the_labelled_spans_from_a_label_column(workdir: Path) -> None:
    output = workdir / "plots" / "labelled.png"
    test = str(workdir / "test.parquet")
    labels = ["--label-column", "y"]
    assert run(workdir, "plot", test, "--model", "cli", *labels, "--output", str(output)) == 0
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("label_args", "message"),
    [(["--label-column", "nope"], "unknown column 'nope'"), (["--label-column"], "expected one")],
)
def test_plot_with_an_unknown_or_missing_label_column_is_one_line_and_exit_2(
    workdir: Path,
    capsys,
    label_args: list[str],
    message: str,
) -> None:
    output = workdir / "never-labelled.png"
    test = str(workdir / "test.parquet")
    assert run(workdir, "plot", test, "--model", "cli", "--output", str(output), *label_args) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not output.exists()


def test_plot_of_a_model_that_does_not_exist_writes_nothing(workdir: Path, capsys) -> None:
    output = workdir / "never.png"
    assert (
        run(
            workdir,
            "plot",
            str(workdir / "test.parquet"),
            "--model",
            "nope",
            "--output",
            str(output),
        )
        == 2
    )
    assert "no model named 'nope'" in capsys.readouterr().err
    assert not output.exists()


def test_train_stores_a_training_report_listed_in_the_manifest(workdir: Path) -> None:
    folder = workdir / "models" / "cli" / "1"
    report = folder / "training-report.png"
    assert report.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert "training-report.png" in manifest["files"]


def test_the_train_flags_default_to_the_training_options_defaults() -> None:
    from app.cli.main import build_parser
    from models.spec import TrainingOptions

    args = vars(build_parser().parse_args(["train", "data.csv", "--name", "x"]))
    defaults = TrainingOptions()
    for field in (
        "lookback",
        "epochs",
        "batch_size",
        "validation_fraction",
        "threshold_quantile",
        "seed",
        "score_on",
        "window_transform",
        "error_weighting",
        "scaling",
        "relative_scale_floor",
        "shift",
        "threshold_margin",
        "alarm_after",
        "alarm_hold",
        "error_standardisation",
        "smoothing",
        "pca_member",
    ):
        assert args[field] == getattr(defaults, field), field
    assert args["threshold_method"] == defaults.threshold_method
    assert tuple(args["units"]) == defaults.network.units
    assert args["activation"] == defaults.network.activation
    assert args["architecture"] == defaults.network.architecture


def test_the_quality_flags_reach_the_stored_model(workdir: Path) -> None:
    flags = ["--scaling", "robust", "--window-transform", "difference", "--shift", "2"]
    flags += ["--threshold-margin", "1.5", "--alarm-after", "3", "--alarm-hold", "4"]
    flags += ["--score-on", "last_step"]
    flags += ["--error-weighting", "normal_spread"]
    assert run(workdir, "train", str(workdir / "train.csv"), "--name", "opts", *TRAIN, *flags) == 0
    spec = json.loads((workdir / "models" / "opts" / "1" / "detector.json").read_text())
    assert spec["scaler"]["method"] == "robust"
    assert spec["window_transform"] == "difference"
    assert spec["training"]["shift"] == 2
    assert spec["threshold"]["margin"] == 1.5
    assert spec["alarm_after"] == 3
    assert spec["alarm_hold"] == 4
    assert spec["score_on"] == "last_step"
    assert spec["error_weights"] is not None


def test_the_pca_member_flag_turns_the_option_on_and_off() -> None:
    def options(*flags: str) -> TrainingOptions:
        return training_options(
            build_parser().parse_args(["train", "d.csv", "--name", "x", *flags])
        )

    assert options("--pca-member").pca_member is True
    assert options("--pca-member", "--no-pca-member").pca_member is False
    assert options().pca_member is False


def test_train_without_flags_trains_with_the_libraries_defaults() -> None:
    args = build_parser().parse_args(["train", "data.csv", "--name", "x"])
    assert training_options(args) == TrainingOptions()


def test_version_prints_the_installed_package_version(capsys) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"rarewatch {metadata.version('rarewatch')}\n"


@pytest.mark.parametrize(
    "args",
    [["models"], ["models", "--name", "cli"], ["score", "{test}", "--model", "cli", "--quiet"]],
)
def test_a_closed_pipe_ends_the_command_quietly_without_a_traceback(
    workdir: Path, args: list[str]
) -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone, as `| head -1` is after its line
    try:
        command = [sys.executable, "-m", "app.cli", "--model-dir", str(workdir / "models")]
        args = [a.format(test=workdir / "test.parquet") for a in args]
        finished = subprocess.run(
            [*command, *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            cwd=REPO,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    # nothing on stderr but score's one data-quality line (written before the CSV): no traceback
    expected = [b"rarewatch score: data quality: "] if args[0] == "score" else []
    assert [line[:31] for line in finished.stderr.splitlines()] == expected
    assert finished.returncode == 1


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {"rarewatch": parser, **subparsers.choices}


@pytest.mark.parametrize("command", sorted(_commands()))
def test_every_option_has_help_that_shows_its_default(command: str) -> None:
    for action in _commands()[command]._actions:
        if isinstance(
            action, argparse._HelpAction | argparse._VersionAction | argparse._SubParsersAction
        ):
            continue
        assert action.help, (command, action.dest)
        if action.option_strings:  # positionals are the command's subject, never defaulted
            assert "(default: " in action.help or "(required" in action.help, action.dest


def test_train_has_one_flag_per_training_option_with_its_default_in_the_help() -> None:
    from models.spec import NetworkConfig

    train = _commands()["train"]
    flags = {action.dest: action for action in train._actions}
    for options in (TrainingOptions(), NetworkConfig()):
        for name, field in type(options).model_fields.items():
            if name == "network":
                continue
            assert flags[name].help == (
                f"{field.description} (default: {_shown(getattr(options, name))})"
            ), name


def _shown(value: object) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


def test_train_help_shows_every_default(capsys) -> None:
    assert main(["train", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "--units UNITS encoder sizes, e.g. 32,16 (default: 32,16)" in out
    assert "--learning-rate LEARNING_RATE Adam's learning rate (default: 0.001)" in out


def test_train_help_says_what_the_defaults_do_and_why(capsys) -> None:
    assert main(["train", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "The threshold is the 0.99 quantile of the scores of the normal validation" in out
    assert "(the last 20 % of the rows, never trained on) times 1.5" in out
    assert "never by a spread below 1 % of its level (--relative-scale-floor 0.01)" in out
    assert "raises an alarm, held for the next 9 windows (--alarm-hold 9; 0: it ends" in out
    for flag, off in [("alarm-after", 1), ("smoothing", 1), ("error-standardisation", "none")]:
        assert f"--{flag} ({off}: " in out, flag
    defaults = TrainingOptions()  # the words follow the defaults, "off by default" stays true
    assert (defaults.alarm_after, defaults.smoothing) == (1, 1)
    assert defaults.error_standardisation == "none"
    assert "--pca-member (off: the network alone; on: the network averaged with a" in out
    assert "explain 90 % of their variance" in out
    assert defaults.pca_member is False
    assert '(docs/benchmarks.md: "Defaults chosen across data: three seeds"' in out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--epochs", "0"], "epochs: Input should be greater than or equal to 1"),
        (["--validation-fraction", "1.5"], "validation_fraction: Input should be less than 1"),
        (["--dropout", "1"], "network.dropout: Input should be less than 1"),
        (["--alarm-hold", "-1"], "alarm_hold: Input should be greater than or equal to 0"),
        (["--alarm-hold", "100001"], "alarm_hold: Input should be less than or equal to 100000"),
    ],
)
def test_impossible_training_flags_are_one_line_and_exit_2(
    workdir: Path,
    capsys,
    flags: list[str],
    message: str,
) -> None:
    assert run(workdir, "train", str(workdir / "train.csv"), "--name", "x", *flags) == 2
    err = capsys.readouterr().err
    assert err == f"rarewatch train: error: {message}\n"


def gappy_csv(workdir: Path, name: str) -> Path:
    """The test rows with a one-row gap in a (filled) and a ten-row gap in b (not filled), as
    empty cells and as NA, and times without a zone."""
    frame = with_fault(tiny_frame(120, seed=5), 60)
    frame["time"] = frame["time"].str.removesuffix("Z")
    frame = frame.astype({"a": object, "b": object})
    frame.loc[30, "a"] = ""
    frame.loc[80:89, "b"] = "NA"
    path = workdir / name
    frame.to_csv(path, index=False)
    return path


def test_score_fills_short_gaps_and_leaves_windows_of_long_ones_unscored(
    workdir: Path, capsys
) -> None:
    output = workdir / "gappy-scores.csv"
    data = gappy_csv(workdir, "gappy.csv")
    assert run(workdir, "score", str(data), "--model", "cli", "--output", str(output)) == 0
    err = capsys.readouterr().err
    assert "timestamps without a time zone were read as UTC" in err
    assert "filled 1 missing cell (linear, max gap 3): a 1; 13 windows not scored" in err
    scores = pd.read_csv(output, keep_default_na=False, na_values=[""])
    unscored = scores["reason"].fillna("") != ""
    assert unscored.sum() == 13  # the windows holding rows 80..89, lookback 4
    assert scores.loc[unscored, "score"].isna().all()
    assert not scores.loc[unscored, "is_anomaly"].any()
    np.testing.assert_allclose(scores.loc[30:33, "filled_share"], 1 / 12, rtol=1e-5)
    assert scores["filled_share"].iloc[3:].between(0, 1).all()


def test_a_fill_option_per_call_overrides_the_models(workdir: Path, capsys) -> None:
    data = gappy_csv(workdir, "gappy2.csv")
    assert run(workdir, "score", str(data), "--model", "cli", "--max-gap", "10") == 0
    assert "0 windows not scored" in capsys.readouterr().err
    assert run(workdir, "score", str(data), "--model", "cli", "--fill", "none") == 0
    assert "filled 0 missing cells (none, max gap 3); 17 windows not scored" in (
        capsys.readouterr().err
    )


def test_training_fills_gaps_and_leaves_out_windows_it_cannot(workdir: Path, capsys) -> None:
    frame = tiny_frame(300).astype({"b": object})
    frame.loc[50, "b"] = ""
    frame.loc[100:109, "b"] = "null"
    frame.to_csv(workdir / "gappy-train.csv", index=False)
    args = ["train", str(workdir / "gappy-train.csv"), "--name", "gappy", *TRAIN]
    assert run(workdir, *args, "--max-gap", "2") == 0
    assert "filled 1 missing cell (linear, max gap 2); 13 windows" in capsys.readouterr().err
    spec = json.loads((workdir / "models" / "gappy" / "1" / "detector.json").read_text())
    assert spec["training"]["filled_cells"] == 1
    assert spec["training"]["windows_left_out"] == 13
    assert spec["options"]["fill"] == "linear"
    assert spec["options"]["max_gap"] == 2


def test_score_gives_a_data_quality_line_and_flags_rows_out_of_range(workdir: Path, capsys) -> None:
    frame = tiny_frame(300).iloc[100:160].reset_index(drop=True)  # rows the model trained on
    frame.loc[30, "c"] = 40.0  # far above anything seen in training
    frame = frame.drop(index=[40, 41, 42])  # three minutes skipped: a gap
    frame.to_csv(workdir / "far.csv", index=False)
    output = workdir / "far-scores.csv"
    args = ["score", str(workdir / "far.csv"), "--model", "cli", "--output", str(output)]
    assert run(workdir, *args) == 0
    [line] = [x for x in capsys.readouterr().err.splitlines() if "data quality" in x]
    assert line.startswith(
        "rarewatch score: data quality: 1 feature outside the training range (c "
    )
    assert "above (row 30)); 4 of 54 windows more than 2 spreads out" in line
    assert line.endswith("; 1 gap (3 samples missing, the first before row 40)")
    scores = pd.read_csv(output, keep_default_na=False)
    flagged = scores.index[scores["out_of_range"]].tolist()
    assert flagged == [30, 31, 32, 33]  # the windows holding row 30, lookback 4
    assert set(scores.loc[flagged, "out_of_range_features"]) == {"c"}
    assert set(scores.drop(index=flagged)["out_of_range_features"]) == {""}
