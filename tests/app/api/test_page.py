"""The web page at GET /: served self-contained, and used as a person would in headless Chromium.

The browser tests need Debian's chromium (`apt-get install chromium`) and Playwright for Python
(`pip install playwright`, never `playwright install`); without either they are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pandas as pd
import pytest

from app.client import Client
from app.settings import Settings
from tests.app.conftest import WAIT_MS, Server, running
from tests.conftest import (
    FAULT_FEATURE,
    TINY_FEATURES,
    TINY_LOOKBACK,
    TinyModel,
    tiny_frame,
    with_fault,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

FAULT_AT = 200
# the page sends at most 5 000 rows a request; a fault across the first boundary tests the join
CHUNK_ROWS = 5000


def test_the_page_and_its_script_and_style_are_served_and_load_nothing_from_elsewhere(
    http: httpx.Client,
) -> None:
    page = http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "connect-src 'self'" in policy
    texts = [page.text]
    for name, kind in (("page.js", "text/javascript"), ("page.css", "text/css")):
        assert f'"static/{name}"' in page.text
        asset = http.get(f"/static/{name}")
        assert asset.status_code == 200
        assert asset.headers["content-type"].startswith(kind)
        texts.append(asset.text)
    addresses = set(re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"'<>)]*", "\n".join(texts)))
    assert addresses <= {"http://www.w3.org/2000/svg"}  # the SVG namespace, never fetched


def test_the_page_stays_out_of_the_openapi_document_and_serves_only_its_own_files(
    http: httpx.Client,
) -> None:
    paths = http.get("/openapi.json").json()["paths"]
    assert "/" not in paths
    assert not any(path.startswith("/static") for path in paths)
    for name in ("index.html", "../main.py", "page.py", "%2e%2e%2fmain.py"):
        missing = http.get(f"/static/{name}")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/problem+json"


@dataclass
class Browsing:
    page: Page
    script_errors: list[str] = field(default_factory=list)
    elsewhere: list[str] = field(default_factory=list)  # requests to any other origin

    def events(self) -> list[dict[str, str]]:
        rows = self.page.locator("#events tbody tr")
        names = ["number", "start", "end", "windows", "peak_score", "severity", "top_feature"]
        return [
            dict(zip(names, row.locator("td").all_inner_texts(), strict=False))
            for row in rows.all()
        ]

    def paste(self, text: str) -> None:
        self.page.fill("#csv-text", text)
        self.page.click("#run")


@pytest.fixture
def browsing(browser_context: BrowserContext, server: Server) -> Browsing:
    """The page opened in a fresh browser context, its models listed, the tiny model picked."""
    page = browser_context.new_page()
    browsing = Browsing(page)
    page.on("pageerror", lambda error: browsing.script_errors.append(str(error)))

    def note_origin(request: Any) -> None:
        if not request.url.startswith((server.url + "/", "data:")):
            browsing.elsewhere.append(request.url)

    page.on("request", note_origin)
    page.goto(server.url + "/")
    page.wait_for_selector("#model:not([disabled])")
    page.select_option("#model", "tiny")
    return browsing


def write_csv(frame: pd.DataFrame, path: Path, sep: str = ",", decimal: str = ".") -> Path:
    frame.to_csv(path, index=False, sep=sep, decimal=decimal)
    return path


def test_uploading_a_csv_with_a_fault_draws_the_scores_and_lists_the_event_of_its_feature(
    browsing: Browsing, tmp_path: Path
) -> None:
    frame = with_fault(tiny_frame(400, seed=5), FAULT_AT)
    page = browsing.page

    page.set_input_files("#file", write_csv(frame, tmp_path / "faulty.csv"))
    page.wait_for_selector("#events tbody tr")

    titles = page.locator("#charts svg .chart-title").all_text_contents()
    assert titles == ["score (reconstruction error)", *TINY_FEATURES]
    assert page.locator("#charts line.threshold").count() == 1
    assert page.locator("#charts path.score").get_attribute("d")
    summary = page.inner_text("#summary")
    assert "faulty.csv: 400 rows" in summary
    assert "time time" in summary
    assert "ignored y" in summary
    fault_times = set(frame["time"].iloc[FAULT_AT : FAULT_AT + 6 + TINY_LOOKBACK])
    at_fault = [e for e in browsing.events() if e["start"] in fault_times]
    assert [e["top_feature"] for e in at_fault] == [FAULT_FEATURE]
    # its band is drawn on every chart, darker on the chart of the feature at fault
    assert page.locator("#charts rect.event-band").count() >= 1 + len(TINY_FEATURES)
    top_chart = page.locator("#charts svg").nth(1 + TINY_FEATURES.index(FAULT_FEATURE))
    assert top_chart.locator("rect.event-band.top").count() >= 1

    page.locator("#events tbody tr", has_text=FAULT_FEATURE).first.click()  # zooms to it
    assert page.is_visible("#reset-zoom")
    page.click("#reset-zoom")
    page.screenshot(path=tmp_path / "web-page.png", full_page=True)
    assert (tmp_path / "web-page.png").stat().st_size > 10_000
    assert page.is_hidden("#error")
    assert browsing.script_errors == []
    assert browsing.elsewhere == []


def test_a_long_csv_goes_in_overlapping_chunks_and_scores_as_one_request(
    browsing: Browsing, api: Client, tmp_path: Path
) -> None:
    frame = with_fault(tiny_frame(CHUNK_ROWS + 1000, seed=6), CHUNK_ROWS - 5, length=10)
    answer = api.detect(
        "tiny", values=frame[TINY_FEATURES].to_numpy().tolist(), timestamps=frame["time"].tolist()
    )

    browsing.page.set_input_files("#file", write_csv(frame, tmp_path / "long.csv"))
    browsing.page.wait_for_selector("#events tbody tr")

    assert "sent in 2 requests" in browsing.page.inner_text("#summary")
    shown = [(e["start"], e["end"], int(e["windows"])) for e in browsing.events()]
    expected = [
        (e["start_timestamp"], e["end_timestamp"], e["n_windows"]) for e in answer["events"]
    ]
    assert shown == expected
    across = [
        e for e in browsing.events() if e["start"] in set(frame["time"].iloc[CHUNK_ROWS - 5 :])
    ]
    assert across
    assert across[0]["top_feature"] == FAULT_FEATURE
    assert browsing.script_errors == []


def test_a_semicolon_csv_with_decimal_commas_and_no_time_zone_reads_like_a_plain_one(
    browsing: Browsing,
) -> None:
    frame = with_fault(tiny_frame(120, seed=7), 60)
    frame["time"] = frame["time"].str.replace("T", " ").str.rstrip("Z")
    browsing.paste(frame.to_csv(index=False, sep=";", decimal=","))
    browsing.page.wait_for_selector("#events tbody tr")

    assert "without a time zone were read as UTC" in browsing.page.inner_text("#summary")
    assert FAULT_FEATURE in [e["top_feature"] for e in browsing.events()]
    assert browsing.events()[0]["start"].endswith("Z")


def test_empty_and_na_cells_are_sent_as_missing_and_the_summary_says_what_went_unscored(
    browsing: Browsing,
) -> None:
    frame = with_fault(tiny_frame(120, seed=7), 60).astype({"a": object, "b": object})
    frame.loc[20, "a"] = ""
    frame.loc[80:89, "b"] = "NA"
    browsing.paste(frame.to_csv(index=False))
    browsing.page.wait_for_selector("#events tbody tr")

    summary = browsing.page.inner_text("#summary")
    assert "11 empty or NA cells sent as missing values" in summary
    assert "fill linear, max gap 3" in summary
    assert "not scored 13 windows" in summary
    assert FAULT_FEATURE in [e["top_feature"] for e in browsing.events()]
    assert browsing.script_errors == []


def test_the_data_quality_panel_names_far_values_a_stuck_feature_and_a_gap(
    browsing: Browsing,
) -> None:
    frame = tiny_frame().iloc[100:160].reset_index(drop=True)  # rows the model trained on
    frame.loc[20, "b"] = 50.0  # far above anything seen in training
    frame["c"] = 0.25  # inside c's range, but stuck
    frame = frame.drop(index=[40, 41, 42])  # three minutes skipped
    browsing.paste(frame.to_csv(index=False))
    browsing.page.wait_for_selector("#quality-list li")

    items = browsing.page.locator("#quality-list li").all_inner_texts()
    far_time = frame.loc[20, "time"]
    [far] = [i for i in items if i.startswith("b out of the training range:")]
    assert f"spreads above ({far_time}), first at {far_time}; 1 row outside" in far
    assert f"windows out of range: {TINY_LOOKBACK} windows hold a value more than 2 spreads" in (
        "\n".join(items)
    )
    assert "constant where training varied: c" in items
    assert f"gaps: 1 (3 samples missing, the first before {frame.loc[43, 'time']}" in "\n".join(
        items
    )
    assert browsing.script_errors == []


def test_rows_like_training_get_a_quiet_data_quality_panel(browsing: Browsing) -> None:
    browsing.paste(tiny_frame().iloc[100:160].to_csv(index=False))
    browsing.page.wait_for_selector("#quality-list li")
    items = browsing.page.locator("#quality-list li").all_inner_texts()
    assert items == ["nothing unusual: the data lies within what the model saw in training"]


def test_times_out_of_order_are_refused_naming_the_row_before_anything_is_sent(
    browsing: Browsing,
) -> None:
    requests: list[str] = []
    browsing.page.on("request", lambda request: requests.append(request.url))
    frame = tiny_frame(20)
    frame.loc[7, "time"] = frame.loc[6, "time"]
    browsing.paste(frame.to_csv(index=False))

    error = browsing.page.locator("#error")
    error.wait_for()
    assert "Data row 8: the time in time repeats" in error.inner_text()
    assert requests == []


def test_a_problem_answer_is_shown_with_its_detail(browsing: Browsing) -> None:
    browsing.paste(tiny_frame(TINY_LOOKBACK - 1).to_csv(index=False))

    error = browsing.page.locator("#error")
    error.wait_for()
    assert "HTTP 422, not_enough_rows" in error.inner_text()
    assert f"at least {TINY_LOOKBACK} (the lookback)" in error.inner_text()
    assert browsing.page.is_hidden("#result")


def test_a_csv_without_a_feature_of_the_model_is_refused_before_it_is_sent(
    browsing: Browsing,
) -> None:
    requests: list[str] = []
    browsing.page.on("request", lambda request: requests.append(request.url))
    browsing.paste(tiny_frame(20).drop(columns=[FAULT_FEATURE]).to_csv(index=False))

    error = browsing.page.locator("#error")
    error.wait_for()
    assert f"no column for {FAULT_FEATURE}" in error.inner_text()
    assert requests == []


def test_behind_api_keys_the_page_asks_for_one_and_sends_it(
    chromium: Browser, tiny_model: TinyModel
) -> None:
    settings = Settings(model_dir=tiny_model.store.root, api_keys=["page-key"])
    with running(settings) as server, chromium.new_page() as page:
        page.set_default_timeout(WAIT_MS)
        page.goto(server.url + "/")
        error = page.locator("#error")
        error.wait_for()
        assert "HTTP 401, unauthorized" in error.inner_text()
        assert page.locator("#key-box").get_attribute("open") is not None

        page.fill("#api-key", "page-key")
        page.dispatch_event("#api-key", "change")
        page.wait_for_selector("#model:not([disabled])")
        browsing = Browsing(page)
        browsing.paste(with_fault(tiny_frame(60, seed=8), 30).to_csv(index=False))
        page.wait_for_selector("#events tbody tr")
        assert page.is_hidden("#error")
