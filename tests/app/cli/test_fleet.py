"""`rarewatch train-fleet` on a real local Ray with 2 CPUs, on tiny entities for 1-2 epochs.

One Ray serves the whole module (started as the command starts it, through ray_started); the
command finds it running and uses it, so its workers stay warm between the tests.
"""

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from app.cli.main import main
from models.artifact import ModelStore
from models.fleet import ray_started
from tests.conftest import tiny_frame, tiny_training_flags

FLEET = [
    "--entity-column",
    "unit",
    "--time-column",
    "time",
    "--label-column",
    "y",
    "--prefix",
    "pump-",
    *tiny_training_flags(epochs=2),
]


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    with ray_started(cpus=2):
        yield


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fleet.csv: entities a and b (tiny series), and short (too few rows for a lookback of 4)."""
    folder = tmp_path_factory.mktemp("fleet")
    parts = []
    for seed, (entity, n_rows) in enumerate({"a": 120, "b": 100, "short": 5}.items()):
        part = tiny_frame(n_rows, seed=seed)
        part.insert(1, "unit", entity)
        parts.append(part)
    pd.concat(parts).to_csv(folder / "fleet.csv", index=False)
    (folder / "overrides.json").write_text(json.dumps({"b": {"epochs": 1, "units": "6"}}))
    return folder


def train_fleet(folder: Path, *args: str) -> int:
    return main(["--model-dir", str(folder / "models"), "train-fleet", *args])


def summary(out: str) -> dict[str, list[str]]:
    """The summary table's rows: entity -> [model, result, detail] (columns apart by 2 spaces)."""
    rows = [re.split(r" {2,}", line, maxsplit=3) for line in out.splitlines()[1:-1]]
    return {row[0]: row[1:] for row in rows}


@pytest.mark.usefixtures("ray_cluster")
def test_every_entity_is_trained_in_parallel_and_a_failing_one_stops_no_other(
    fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overrides = str(fleet / "overrides.json")
    code = train_fleet(fleet, str(fleet / "fleet.csv"), *FLEET, "--overrides", overrides)
    out = capsys.readouterr().out
    rows = summary(out)
    assert code == 1
    assert rows["a"][:2] == ["pump-a", "trained v1"]
    assert rows["b"][:2] == ["pump-b", "trained v1"]
    assert rows["short"][1] == "failed"
    assert "fewer than the lookback" in rows["short"][2]
    assert out.splitlines()[-1] == "3 entities: 2 trained, 0 skipped, 1 failed"
    store = ModelStore(fleet / "models")
    assert store.names() == ["pump-a", "pump-b"]
    a, b = store.open("pump-a"), store.open("pump-b")
    assert a.spec.options is not None
    assert b.spec.options is not None
    assert (a.spec.options.epochs, a.spec.network.units) == (2, (8, 4))
    assert (b.spec.options.epochs, b.spec.network.units) == (1, (6,))
    assert "training-report.png" in a.files


@pytest.mark.usefixtures("ray_cluster")
def test_a_rerun_skips_unchanged_entities_and_trains_a_changed_one(
    fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    overrides = str(fleet / "overrides.json")
    table = pd.read_csv(fleet / "fleet.csv")
    table.loc[table.unit == "a", "b"] += 0.01
    table.to_csv(fleet / "changed.csv", index=False)
    assert train_fleet(fleet, str(fleet / "changed.csv"), *FLEET, "--overrides", overrides) == 1
    rows = summary(capsys.readouterr().out)
    assert rows["a"][1] == "trained v2"
    assert rows["b"][1:] == ["skipped v1", "same data and options"]
    assert rows["short"][1] == "failed"


@pytest.mark.usefixtures("ray_cluster")
def test_a_folder_of_the_same_rows_is_skipped_unless_forced(
    fleet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    table = pd.read_csv(fleet / "changed.csv")
    folder = fleet / "each"
    folder.mkdir()
    table[table.unit == "a"].drop(columns="unit").to_parquet(folder / "a.parquet")
    flags = [flag for flag in FLEET if flag not in ("--entity-column", "unit")]
    assert train_fleet(fleet, str(folder), *flags) == 0
    assert summary(capsys.readouterr().out)["a"][1] == "skipped v2"
    assert train_fleet(fleet, str(folder), *flags, "--force") == 0
    out = capsys.readouterr().out
    assert summary(out)["a"][1] == "trained v3"
    assert out.splitlines()[-1] == "1 entity: 1 trained, 0 skipped, 0 failed"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--entity-column", "owner"], "unknown column 'owner'"),
        (["--overrides", "{folder}/ghost.json"], "the override file names no such entity: ghost"),
        (["--overrides", "{folder}/bad.json"], "override of entity 'a': epochs: "),
        (["--overrides", "{folder}/missing.json"], "missing.json: cannot be read"),
        (["--cpus", "0"], "--cpus must be at least 1"),
        (["--threshold-method", "max-f1", "--label-column", ""], "max-f1 needs labelled data"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_trains_nothing(
    fleet: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: list[str],
    message: str,
) -> None:
    (fleet / "ghost.json").write_text('{"ghost": {"epochs": 1}}')
    (fleet / "bad.json").write_text('{"a": {"epochs": 0}}')
    args = [*FLEET, *(arg.format(folder=fleet) for arg in change)]
    code = main(["--model-dir", str(tmp_path), "train-fleet", str(fleet / "fleet.csv"), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("rarewatch train-fleet: error: ")
    assert message in err
    assert err.count("\n") == 1
    assert not ModelStore(tmp_path).names()


def test_the_help_says_what_the_exit_codes_mean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train-fleet", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "0 when every entity was trained or skipped, 1 when one or more failed" in out
    assert "--address" in out
