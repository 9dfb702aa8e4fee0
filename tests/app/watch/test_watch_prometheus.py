"""The watch against a real Prometheus: it reads the sensors, its scores are scraped back, and
faults (in the data, in the queries, in Prometheus itself) cost a score, never the loop."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import httpx
import pytest
import yaml

from app.watch.prometheus import EMPTY, QUERY_ERROR, UNREACHABLE
from app.watch.tick import UNSCORED
from tests.app.watch.conftest import (
    Scene,
    config_for,
    needs_prometheus,
    wait_for,
    watch_command,
    watching,
)
from tests.conftest import TinyModel

pytestmark = needs_prometheus
BOUND_TICKS = 10  # ticks from the fault to a score above 1, at most


def scores_between(scene: Scene, start: float, end: float) -> list[float]:
    answer = httpx.get(
        f"{scene.prometheus.url}/api/v1/query_range",
        params={
            "query": 'rarewatch_anomaly_score{model="tiny"}',
            "start": f"{start:.3f}",
            "end": f"{end:.3f}",
            "step": "1",
        },
        timeout=5,
    ).json()
    return [float(v) for series in answer["data"]["result"] for _, v in series["values"]]


def test_the_score_crosses_one_within_a_few_ticks_of_the_fault_and_not_before(
    scene: Scene, tiny_model: TinyModel, tmp_path: Path
) -> None:
    config = config_for(scene.prometheus.url, "tiny", port=scene.watch_port)
    path = tmp_path / "watch.yaml"
    path.write_text(yaml.safe_dump(json.loads(config.model_dump_json())))
    watch = watch_command(tiny_model.store.root, path)
    try:
        began = time.time()
        assert wait_for(lambda: scores_between(scene, began, time.time()) != [], 30)
        time.sleep(3)  # a few normal ticks scraped back
        fault_at = time.time()
        scene.sensors.fault = True
        crossed = wait_for(
            lambda: bool(scene.prometheus.query('rarewatch_anomaly_score{model="tiny"} > 1')),
            BOUND_TICKS,
        )
        before = scores_between(scene, began, fault_at - 1)
    finally:
        scene.sensors.fault = False
        watch.send_signal(signal.SIGTERM)
        out, err = watch.communicate(timeout=30)
    assert crossed, err
    assert before, "no score was scraped before the fault"
    assert max(before) <= 1, before
    assert watch.returncode == 0, err
    assert json.loads(out.strip().splitlines()[-1]) == {"tensorflow": False, "keras": False}


def test_a_feature_missing_for_a_while_drops_the_score_until_it_returns(
    scene: Scene, tiny_model: TinyModel
) -> None:
    with watching(config_for(scene.prometheus.url, "tiny"), tiny_model.store) as running:
        score = lambda: running.value("rarewatch_anomaly_score", model="tiny")  # noqa: E731
        assert wait_for(lambda: score() is not None, 15)
        scene.sensors.missing = {"c"}
        try:
            # past the fill's max_gap the newest window is not scored: no score, not an old one
            assert wait_for(lambda: score() is None, 15)
            age = running.value("rarewatch_watch_score_age_seconds", model="tiny")
            assert age is not None
            assert age > 0
            assert running.value("rarewatch_feature_share", model="tiny", feature="a") is None
        finally:
            scene.sensors.missing = set()
        assert wait_for(lambda: score() is not None, 15)
        unscored = running.value(
            "rarewatch_watch_failed_ticks_total", model="tiny", reason=UNSCORED
        )
        assert unscored is not None
        assert unscored >= 1


def test_a_query_with_no_data_counts_empty_ticks_and_exports_no_score(
    scene: Scene, tiny_model: TinyModel
) -> None:
    config = config_for(
        scene.prometheus.url, "tiny", keep={"sensor": "not-there"}
    )  # every series left out
    with watching(config, tiny_model.store) as running:
        failed = lambda: running.value(  # noqa: E731
            "rarewatch_watch_failed_ticks_total", model="tiny", reason=EMPTY
        )
        assert wait_for(lambda: (failed() or 0) >= 2, 15)
        assert running.value("rarewatch_anomaly_score", model="tiny") is None
        assert running.value("rarewatch_watch_ticks_total", model="tiny") >= 2  # type: ignore[operator]


def test_prometheus_stopped_and_restarted_mid_run_costs_ticks_not_the_loop(
    scene: Scene, tiny_model: TinyModel
) -> None:
    with watching(config_for(scene.prometheus.url, "tiny"), tiny_model.store) as running:
        score = lambda: running.value("rarewatch_anomaly_score", model="tiny")  # noqa: E731
        unreachable = lambda: running.value(  # noqa: E731
            "rarewatch_watch_failed_ticks_total", model="tiny", reason=UNREACHABLE
        )
        assert wait_for(lambda: score() is not None, 15)
        scene.prometheus.stop()
        try:
            assert wait_for(lambda: (unreachable() or 0) >= 2, 15)
            assert score() is None
        finally:
            scene.prometheus.start()
        # the rows missed while it was down are a gap: scores come back once windows are whole
        assert wait_for(lambda: score() is not None, 20)


def test_one_query_whose_label_names_the_feature_is_scored(
    scene: Scene, tiny_model: TinyModel
) -> None:
    config = config_for(scene.prometheus.url, "tiny", query="sensor_value", feature_label="sensor")
    with watching(config, tiny_model.store) as running:
        assert wait_for(
            lambda: running.value("rarewatch_anomaly_score", model="tiny") is not None, 15
        )
        shares = [running.value("rarewatch_feature_share", model="tiny", feature=f) for f in "abc"]
        assert sum(share or 0 for share in shares) <= 1 + 1e-9
        assert sum(share is not None for share in shares) == 3  # top_features: 3


@pytest.mark.parametrize(
    "query",
    [
        "sensor_value",  # three series for one feature
        "sensor_value{",  # not PromQL
        "sensor_value[5m]",  # a range vector: Prometheus refuses it in a range query
    ],
)
def test_a_query_that_cannot_give_one_series_is_a_query_error(
    scene: Scene, tiny_model: TinyModel, query: str
) -> None:
    queries = {"a": query, "b": 'sensor_value{sensor="b"}', "c": 'sensor_value{sensor="c"}'}
    config = config_for(scene.prometheus.url, "tiny", queries=queries)
    with watching(config, tiny_model.store) as running:
        assert wait_for(
            lambda: (
                running.value(
                    "rarewatch_watch_failed_ticks_total", model="tiny", reason=QUERY_ERROR
                )
                is not None
            ),
            10,
        )
        assert running.value("rarewatch_anomaly_score", model="tiny") is None
