"""bench.perf.framework's apps: the bare endpoint, and rarewatch's layers picked by name."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from app.api.main import create_app
from app.settings import Settings
from bench.perf.framework import asgi_post
from bench.perf.framework_server import LAYERS, bare_app, rarewatch_layers, rarewatch_without
from tests.conftest import TINY_FEATURES, TINY_LOOKBACK, TinyModel


def test_the_bare_endpoint_parses_the_body_and_answers_its_constant(tmp_path: Path) -> None:
    answer = orjson.dumps({"results": [{"score": 0.5}]})
    app = bare_app(answer, Settings(model_dir=tmp_path))
    loop = asyncio.new_event_loop()
    try:
        asgi_post(loop, app, b'{"values": [[1.0]]}', len(answer))()  # checks 200 and the size
        with pytest.raises(orjson.JSONDecodeError):
            asgi_post(loop, app, b"not json", len(answer))()
    finally:
        loop.close()


def test_every_layer_named_is_one_of_create_apps_in_its_order(tmp_path: Path) -> None:
    settings = Settings(model_dir=tmp_path, cors_origins=["https://example.org"])
    app = create_app(settings)
    picked = rarewatch_layers(app, list(LAYERS))
    assert [m.cls for m in picked] == [
        m.cls for m in app.user_middleware if m.cls in LAYERS.values()
    ]
    assert len(picked) == len(LAYERS)
    left = rarewatch_without(settings, list(LAYERS)).user_middleware
    assert [m.cls.__name__ for m in left] == ["CORSMiddleware"]


@pytest.mark.parametrize("graph_only", [False, True])
def test_the_scoring_floor_scores_the_window_with_the_model_before_answering(
    tiny_model: TinyModel, graph_only: bool
) -> None:
    answer = orjson.dumps({"results": [{"score": 0.5}]})
    app = bare_app(answer, Settings(), score=tiny_model.store.root, graph_only=graph_only)
    path = f"/v1/models/{tiny_model.name}/detect/last"
    window = tiny_model.frame[list(TINY_FEATURES)].to_numpy()[:TINY_LOOKBACK]
    loop = asyncio.new_event_loop()
    try:
        asgi_post(loop, app, orjson.dumps({"values": window.tolist()}), len(answer), path)()
        # a window the model cannot score fails in the scoring, so the window was scored
        narrow = orjson.dumps({"values": window[:, :-1].tolist()})
        with pytest.raises(Exception, match=r"(?i)feature|dimension|shape|column"):
            asgi_post(loop, app, narrow, len(answer), path)()
    finally:
        loop.close()
