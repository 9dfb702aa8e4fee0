"""Regenerate app/api/examples.json (the OpenAPI examples) and docs/api.md from real servers.

Every request and answer in both files is captured, never written by hand: scripts/docs/capture
runs the servers and writes the examples as data, scripts/docs/render writes docs/api.md from
that data (run it alone after editing the page's text).

    .venv/bin/python scripts/api_docs.py [--model-dir DIR]

About a minute on two cores, most of it training the demo model; --model-dir reuses one.
"""

from __future__ import annotations

import sys
from pathlib import Path

# the checkout this script belongs to, not whichever rarewatch is installed: the server it
# starts runs this checkout's code, and the in-process parts must match it
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.docs import capture, render

if __name__ == "__main__":
    capture.main()
    render.render()
