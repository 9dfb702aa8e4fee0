"""The watch reaches a Prometheus behind basic auth with its config's credentials (and says
http_error, not a crash, with wrong ones)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from app.watch.config import WatchConfig
from app.watch.prometheus import EMPTY, HTTP_ERROR
from tests.app.watch.conftest import Prometheus, config_for, needs_prometheus, wait_for, watching
from tests.conftest import TinyModel

pytestmark = needs_prometheus
# user admin, password "test", bcrypt-hashed as Prometheus's web config wants it (the example
# hash of Prometheus's own basic-auth guide; cost 12, so each request takes a moment)
WEB_CONFIG = (
    "basic_auth_users:\n  admin: $2b$12$hNf2lSsxfm0.i4a.1kVpSOVyBCfIB51VRjgBUyv6kdnyTlgWj81Ay\n"
)


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """A Prometheus behind basic auth that scrapes nothing: any answer it gives is empty."""
    prometheus = Prometheus(tmp_path_factory.mktemp("guarded"), {}, WEB_CONFIG)
    try:
        prometheus.start()
        yield prometheus
    finally:
        prometheus.stop()


def with_password(guarded: Prometheus, password: str) -> WatchConfig:
    config = config_for(guarded.url, "tiny")
    auth = {"basic_auth": {"username": "admin", "password": password}}
    raw = config.model_dump(mode="json")
    return config.model_validate(raw | {"prometheus": raw["prometheus"] | auth})


@pytest.mark.parametrize(("password", "reason"), [("test", EMPTY), ("wrong", HTTP_ERROR)])
def test_basic_auth_is_sent_and_a_refusal_is_an_http_error(
    guarded: Prometheus, tiny_model: TinyModel, tmp_path: Path, password: str, reason: str
) -> None:
    with watching(with_password(guarded, password), tiny_model.store) as running:
        assert wait_for(
            lambda: (
                running.value("rarewatch_watch_failed_ticks_total", model="tiny", reason=reason)
                is not None
            ),
            15,
        )
        assert running.value("rarewatch_anomaly_score", model="tiny") is None
