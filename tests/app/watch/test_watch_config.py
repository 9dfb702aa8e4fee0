"""The watch's config: a fault is one line on stderr naming the key, and exit 2, before any
model is loaded or Prometheus asked."""

from __future__ import annotations

from pathlib import Path

import certifi
import pytest

from app.cli.main import main
from app.watch.config import WatchConfig, seconds
from app.watch.schedule import next_due
from tests.conftest import TinyModel

GOOD = """
prometheus:
  url: http://127.0.0.1:9
models:
  - model: tiny
    queries: {a: 'sensor_value{sensor="a"}', b: 'sensor_value{sensor="b"}', c: x}
    step: 15s
    infer_every: 1m
"""


def refused(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str], model_dir: Path) -> str:
    path = tmp_path / "watch.yaml"
    path.write_text(text)
    code = main(["--model-dir", str(model_dir), "watch", "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    return err


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (("step: 15s", "step: soon"), "models[0].step: expected a duration like 15s"),
        (("step: 15s", "step: -1"), "models[0].step: Input should be greater than 0"),
        (("step: 15s", "stepp: 15s"), "models[0].step: Field required"),
        (
            ("infer_every: 1m", "infer_every: 1m\n    fit_every: 1h"),
            "models[0]: fit_every and fit_window go together",
        ),
        (
            ("infer_every: 1m", "infer_every: 1m\n    fit_timeout: 1h"),
            "models[0]: fit_timeout goes with fit_every and fit_window",
        ),
        (
            ("infer_every: 1m", "infer_every: 1m\n    flags_kept: forever"),
            "models[0].flags_kept: Input should be 'until_fit' or 'in_fit_window'",
        ),
        (("url: http://127.0.0.1:9", "url: ftp://x"), "prometheus.url: String should match"),
        (("    queries:", "    query: up\n    queries:"), "models[0]: give either queries"),
        ((GOOD[GOOD.index("models:") :], "models: []\n"), "models: List should have at least 1"),
        (("url:", "urll: x\n  url:"), "prometheus.urll: Extra inputs are not permitted"),
    ],
)
def test_a_bad_config_is_one_line_naming_the_key_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: tuple[str, str], said: str
) -> None:
    old, new = change
    assert old in GOOD
    err = refused(tmp_path, GOOD.replace(old, new, 1), capsys, tmp_path)
    assert err.startswith("rarewatch watch: error: "), err
    assert said in err


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (None, "prometheus.ca_file: '{ca}' is not a file"),
        ("not a certificate\n", "prometheus.ca_file: '{ca}' holds no PEM certificate"),
        # a good one passes the config's checks: the model is the next thing refused
        (Path(certifi.where()).read_text(), "models[0].model: no model 'tiny'"),
    ],
)
def test_a_ca_file_must_hold_a_pem_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, said: str
) -> None:
    ca = tmp_path / "ca.pem"
    if content is not None:
        ca.write_text(content)
    text = GOOD.replace("url: http://127.0.0.1:9", f"url: https://127.0.0.1:9\n  ca_file: {ca}")
    assert said.format(ca=ca) in refused(tmp_path, text, capsys, tmp_path)


def test_text_that_is_not_yaml_is_refused_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(tmp_path, GOOD + "  - [\n", capsys, tmp_path)
    assert "not valid YAML at line" in err


def test_a_model_that_is_not_stored_is_refused_by_its_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(tmp_path, GOOD, capsys, tmp_path)
    assert "models[0].model: no model 'tiny'" in err


def test_queries_must_name_exactly_the_models_features(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_model: TinyModel
) -> None:
    text = GOOD.replace(", c: x}", ", d: x}")
    err = refused(tmp_path, text, capsys, tiny_model.store.root)
    assert "models[0].queries: must name exactly the features of 'tiny' (a, b, c)" in err
    assert "missing c; not features of the model: d" in err


def test_durations_read_as_prometheus_writes_them() -> None:
    assert seconds("1m30s") == 90
    assert seconds("250ms") == 0.25
    assert seconds("2h") == 7200
    assert seconds(15) == 15.0
    with pytest.raises(ValueError, match="duration"):
        seconds("15 s")


def test_secrets_are_never_shown_in_the_config() -> None:
    config = WatchConfig.model_validate(
        {
            "prometheus": {
                "url": "https://p:9090",
                "basic_auth": {"username": "u", "password": "pw"},
            },
            "models": [
                {"model": "m", "query": "x", "feature_label": "f", "step": 1, "infer_every": 1}
            ],
        }
    )
    assert "pw" not in repr(config)
    assert config.prometheus.basic_auth is not None
    assert config.prometheus.basic_auth.password.get_secret_value() == "pw"


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (100.5, (115.0, 0)),  # the tick ended in time: the next grid time
        (115.0, (130.0, 1)),  # it ended on its successor's time: that one is late
        (131.0, (145.0, 2)),  # it ran past two grid times: both skipped and counted
    ],
)
def test_a_tick_that_runs_past_its_successors_skips_them_and_counts_them(
    now: float, expected: tuple[float, int]
) -> None:
    assert next_due(100.0, now, 15.0) == expected
