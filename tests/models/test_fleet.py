"""Fleet planning without Ray: reading a fleet, per-entity options, and what a re-run skips."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.data import Dataset, dataset_sha256, select
from models.errors import InvalidInput
from models.fleet import Entity, Status, options_with, plan, read_fleet, read_overrides
from tests.conftest import TINY_OPTIONS, TinyModel, tiny_frame


def long_table(entities: dict[str, int]) -> pd.DataFrame:
    """tiny_frame rows of each entity (name -> rows), the entity column second."""
    parts = []
    for seed, (entity, n_rows) in enumerate(entities.items()):
        part = tiny_frame(n_rows, seed=seed)
        part.insert(1, "unit", entity)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def test_a_long_table_gives_each_entity_its_rows_in_order_sorted_by_entity(
    tmp_path: Path,
) -> None:
    long_table({"pump-2": 30, "pump-1": 20}).to_csv(tmp_path / "fleet.csv", index=False)
    entities = read_fleet(
        tmp_path / "fleet.csv", entity_column="unit", time_column="time", label_column="y"
    )
    assert [e.entity for e in entities] == ["pump-1", "pump-2"]
    first = entities[0].data
    assert first is not None
    assert first.features == ["a", "b", "c"]
    assert first.n_rows == 20
    np.testing.assert_allclose(first.values[:, 0], tiny_frame(20, seed=1)["a"])


def test_a_folder_and_a_table_of_the_same_rows_hash_the_same(tmp_path: Path) -> None:
    table = long_table({"p1": 25, "p2": 25})
    table.to_csv(tmp_path / "fleet.csv", index=False)
    (tmp_path / "each").mkdir()
    table[table.unit == "p1"].drop(columns="unit").to_csv(tmp_path / "each/p1.csv", index=False)
    table[table.unit == "p2"].drop(columns="unit").to_parquet(tmp_path / "each/p2.parquet")
    from_table = read_fleet(tmp_path / "fleet.csv", entity_column="unit", time_column="time")
    from_folder = read_fleet(tmp_path / "each", time_column="time")
    assert [e.entity for e in from_folder] == ["p1", "p2"]
    hashes = [
        [dataset_sha256(e.data) for e in fleet if e.data] for fleet in (from_table, from_folder)
    ]
    assert hashes[0] == hashes[1]
    assert hashes[0][0] != hashes[0][1]


def test_one_entitys_bad_cell_is_its_problem_alone(tmp_path: Path) -> None:
    table = long_table({"ok": 20, "broken": 20})
    table["a"] = table["a"].astype(object)
    table.loc[table.unit == "broken", "a"] = "oops"
    table.to_csv(tmp_path / "fleet.csv", index=False)
    fleet = read_fleet(tmp_path / "fleet.csv", entity_column="unit", time_column="time")
    entities = {e.entity: e for e in fleet}
    assert entities["ok"].data is not None
    assert entities["broken"].data is None
    assert "'oops' is not a finite number" in str(entities["broken"].problem)


@pytest.mark.parametrize(
    ("source", "entity_column", "message"),
    [
        ("fleet.csv", None, "a table needs --entity-column"),
        ("fleet.csv", "owner", "unknown column 'owner'"),
        ("empty", None, "no CSV or Parquet files"),
        ("each", "unit", "its entities are its files' names"),
    ],
)
def test_a_fleet_that_cannot_be_read_is_one_invalid_input(
    tmp_path: Path, source: str, entity_column: str | None, message: str
) -> None:
    long_table({"p1": 10}).to_csv(tmp_path / "fleet.csv", index=False)
    (tmp_path / "empty").mkdir()
    (tmp_path / "each").mkdir()
    with pytest.raises(InvalidInput, match=message):
        read_fleet(tmp_path / source, entity_column=entity_column)


def test_overrides_take_trains_flag_names_and_are_checked() -> None:
    changed = options_with(TINY_OPTIONS, {"epochs": 3, "units": "16,8", "threshold-method": "pot"})
    assert changed.epochs == 3
    assert changed.network.units == (16, 8)
    assert changed.threshold_method == "pot"
    assert changed.lookback == TINY_OPTIONS.lookback
    with pytest.raises(InvalidInput, match="epochs"):
        options_with(TINY_OPTIONS, {"epochs": 0})
    with pytest.raises(InvalidInput, match="epoch"):
        options_with(TINY_OPTIONS, {"epoch": 3})


def test_an_override_file_must_be_an_object_of_objects(tmp_path: Path) -> None:
    path = tmp_path / "overrides.json"
    path.write_text('{"p1": {"epochs": 2}}')
    assert read_overrides(path) == {"p1": {"epochs": 2}}
    path.write_text('{"p1": 2}')
    with pytest.raises(InvalidInput, match="expected"):
        read_overrides(path)
    path.write_text("{")
    with pytest.raises(InvalidInput, match="not JSON"):
        read_overrides(path)


def stored_entity(tiny_model: TinyModel, data: Dataset | None = None) -> list[Entity]:
    """The tiny model's own training data as the fleet's one entity, named like the model."""
    if data is None:
        data = select(tiny_frame(), time_column="time", label_column="y")
    return [Entity(tiny_model.name, data)]


def test_an_entity_with_its_models_data_and_options_is_skipped(tiny_model: TinyModel) -> None:
    [job] = plan(stored_entity(tiny_model), TINY_OPTIONS, tiny_model.store)
    assert job.outcome is not None
    assert job.outcome.status is Status.SKIPPED
    assert job.outcome.version == tiny_model.store.versions(tiny_model.name)[-1]


def test_force_new_options_or_new_data_fit_it_again(tiny_model: TinyModel) -> None:
    store, entities = tiny_model.store, stored_entity(tiny_model)
    changed_rows = select(tiny_frame(601), time_column="time", label_column="y")
    for jobs in (
        plan(entities, TINY_OPTIONS, store, force=True),
        plan(entities, TINY_OPTIONS.changed(epochs=2), store),
        plan(entities, TINY_OPTIONS, store, overrides={tiny_model.name: {"seed": 2}}),
        plan(stored_entity(tiny_model, changed_rows), TINY_OPTIONS, store),
    ):
        assert jobs[0].outcome is None
        assert jobs[0].data is not None


def test_a_bad_name_or_bad_data_fails_its_entity_before_any_fit(tiny_model: TinyModel) -> None:
    data = select(tiny_frame(20), time_column="time")
    entities = [Entity("has space", data), Entity("empty", None, "no rows")]
    jobs = plan(entities, TINY_OPTIONS, tiny_model.store, prefix="pump-")
    assert [j.outcome.status for j in jobs if j.outcome] == [Status.FAILED, Status.FAILED]
    assert "invalid model name 'pump-has space'" in str(jobs[0].outcome)
    assert "no rows" in str(jobs[1].outcome)


def test_overrides_for_an_unknown_entity_or_with_a_bad_value_are_refused(
    tiny_model: TinyModel,
) -> None:
    entities = stored_entity(tiny_model)
    with pytest.raises(InvalidInput, match="no such entity: ghost"):
        plan(entities, TINY_OPTIONS, tiny_model.store, overrides={"ghost": {"epochs": 2}})
    with pytest.raises(InvalidInput, match=f"override of entity '{tiny_model.name}': epochs"):
        plan(entities, TINY_OPTIONS, tiny_model.store, overrides={tiny_model.name: {"epochs": -1}})
