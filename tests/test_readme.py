"""The README's request and Python snippet: the file it shows is shipped, and the snippet runs."""

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

from app.api.schemas import DetectRequest
from app.settings import Settings
from models.artifact import ModelStore
from models.data import select
from models.demo import demo_frame
from models.training import train_detector
from tests.app.conftest import running
from tests.conftest import TINY_OPTIONS

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
REQUEST = REPO / "examples" / "request.json"


def test_the_readme_shows_the_shipped_request_verbatim() -> None:
    shown = README.split("$ cat examples/request.json\n", 1)[1].split("\n$ ", 1)[0] + "\n"
    assert shown == REQUEST.read_text()
    assert "-d @examples/request.json" in README
    request = DetectRequest.model_validate_json(REQUEST.read_bytes())
    assert request.values is not None
    assert len(request.values) == 6


def test_the_readme_shows_the_shipped_watch_config_verbatim() -> None:
    shown = README.split("(`deploy/watch/watch.yaml`):\n\n```yaml\n", 1)[1].split("```", 1)[0]
    assert shown == (REPO / "deploy" / "watch" / "watch.yaml").read_text()


def test_the_readme_python_snippet_runs_against_a_real_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tiny model named demo on the demo data's columns stands in for the demo model."""
    store = ModelStore(tmp_path)
    data = select(demo_frame(300), time_column="timestamp", label_column="label")
    trained = train_detector(data, TINY_OPTIONS)
    store.write("demo", trained.spec, trained.weights, trained.onnx)
    snippet = re.search(r"```python\n(.*?)```", README, re.DOTALL)
    assert snippet is not None
    monkeypatch.chdir(REPO)  # the snippet reads examples/request.json from the repository root
    printed = io.StringIO()
    with running(Settings(model_dir=store.root)) as server, contextlib.redirect_stdout(printed):
        exec(snippet.group(1).replace("http://127.0.0.1:8000", server.url), {})
    timestamp, is_anomaly, severity = printed.getvalue().split()
    assert timestamp == json.loads(REQUEST.read_text())["timestamps"][-1]
    assert is_anomaly in {"True", "False"}
    assert 0 <= float(severity) <= 1
