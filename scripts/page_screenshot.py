"""Re-take docs/images/web-page.png: the web page in Debian's chromium, the demo data uploaded.

    .venv/bin/python scripts/page_screenshot.py [--model-dir DIR]

The demo model is trained into a temporary folder as `rarewatch serve --demo` trains it (or DIR's
is used), served by `rarewatch serve`, and the demo data set (models.demo, its four faults) is
uploaded as demo.csv; the page is taken whole once the events table is drawn. Needs chromium
(apt-get install chromium) and Playwright for Python (never `playwright install`).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

# the checkout this script belongs to, not whichever rarewatch is installed
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import sync_playwright

from app.api.serve import DEMO_MODEL, ensure_demo_model
from app.settings import Settings
from models.demo import demo_frame
from scripts.docs.captures import REPO
from scripts.docs.servers import demo_server
from tests.app.conftest import CHROMIUM, CHROMIUM_ARGS

IMAGE = REPO / "docs" / "images" / "web-page.png"
VIEWPORT = {"width": 1280, "height": 900}
WAIT_MS = 60_000


def take(url: str, csv: Path) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_context(viewport=VIEWPORT).new_page()
        page.set_default_timeout(WAIT_MS)
        page.goto(url + "/")
        page.wait_for_selector("#model:not([disabled])")
        page.select_option("#model", DEMO_MODEL)
        page.set_input_files("#file", csv)
        page.wait_for_selector("#events tbody tr")
        page.screenshot(path=IMAGE, full_page=True)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, help="a folder holding the demo model")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        model_dir = args.model_dir or work / "models"
        ensure_demo_model(Settings(model_dir=model_dir))
        csv = work / "demo.csv"
        demo_frame().to_csv(csv, index=False)
        with demo_server(model_dir, work / "serve.log") as url:
            take(url, csv)
    print(f"wrote {IMAGE.relative_to(REPO)}")


if __name__ == "__main__":
    main()
