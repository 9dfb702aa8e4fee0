"""Remote write: the watch's series land in a real Prometheus through its remote-write receiver,
and a score the watch drops ends there at once (a staleness marker), not after a lookback."""

from __future__ import annotations

from app.watch.remote_write import encode
from tests.app.test_client_and_serve import free_port
from tests.app.watch.conftest import Scene, config_for, needs_prometheus, wait_for, watching
from tests.conftest import TinyModel

WRITTEN = 'rarewatch_anomaly_score{model="tiny", source="remote-write"}'


@needs_prometheus
def test_the_scores_are_remote_written_and_a_dropped_one_goes_stale_there(
    scene: Scene, tiny_model: TinyModel
) -> None:
    remote = {"url": f"{scene.prometheus.url}/api/v1/write", "labels": {"source": "remote-write"}}
    config = config_for(scene.prometheus.url, "tiny", port=0)
    config = config.model_validate(config.model_dump() | {"remote_write": remote})
    with watching(config, tiny_model.store) as running:
        assert wait_for(lambda: bool(scene.prometheus.query(WRITTEN)), 15)
        scene.sensors.missing = {"c"}
        try:
            assert wait_for(lambda: not scene.prometheus.query(WRITTEN), 15)
        finally:
            scene.sensors.missing = set()
        assert running.value("rarewatch_watch_remote_write_failures_total", model="tiny") is None


@needs_prometheus
def test_a_remote_write_endpoint_that_is_down_is_counted_and_scoring_goes_on(
    scene: Scene, tiny_model: TinyModel
) -> None:
    remote = {"url": f"http://127.0.0.1:{free_port()}/api/v1/write", "timeout_s": 1}
    config = config_for(scene.prometheus.url, "tiny")
    config = config.model_validate(config.model_dump() | {"remote_write": remote})
    with watching(config, tiny_model.store) as running:
        failures = lambda: running.value(  # noqa: E731
            "rarewatch_watch_remote_write_failures_total", model="tiny"
        )
        assert wait_for(lambda: (failures() or 0) >= 2, 15)
        assert wait_for(
            lambda: running.value("rarewatch_anomaly_score", model="tiny") is not None, 10
        )


def test_a_write_request_is_encoded_as_prometheus_protobuf_reads_it() -> None:
    series = (("__name__", "up"), ("job", "w"))
    label_name = bytes.fromhex("0a0e") + b"\x0a\x08__name__\x12\x02up"  # Label, 14 bytes
    label_job = bytes.fromhex("0a08") + b"\x0a\x03job\x12\x01w"  # Label, 8 bytes
    sample = bytes.fromhex("120c09000000000000f03f10e807")  # Sample{1.0, 1000 ms}
    timeseries = label_name + label_job + sample
    assert encode([(series, 1.0)], 1000) == bytes([0x0A, len(timeseries)]) + timeseries
