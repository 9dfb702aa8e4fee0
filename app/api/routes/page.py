"""The web page at GET /: one HTML file, its script and its style, from app/api/static/, no CDN."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Response
from fastapi.responses import FileResponse

router = APIRouter(include_in_schema=False)

STATIC = Path(__file__).resolve().parent.parent / "static"
# only these files are served: a fixed list, so no path from the URL ever reaches the disk
ASSETS = {
    "page.js": "text/javascript; charset=utf-8",
    "page.css": "text/css; charset=utf-8",
}
# The page loads nothing but its own script and style and talks only to this server; the
# script builds its charts with the DOM (no inline script, no inline style sheet).
HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@router.get("/")
async def page() -> Response:
    """The page: pick a model, paste or upload a CSV, see scores, threshold and events."""
    return _file("index.html", "text/html; charset=utf-8")


@router.get("/static/{name}")
async def asset(name: str) -> Response:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(404, "no such file")
    return _file(name, media_type)


def _file(name: str, media_type: str) -> Response:
    return serve_file(STATIC / name, media_type, HEADERS)


def serve_file(path: Path, media_type: str, headers: dict[str, str]) -> Response:
    if not path.is_file():  # an install without the package data: say so rather than a 500
        raise HTTPException(404, f"the file {path.name} is not installed")
    return FileResponse(path, media_type=media_type, headers=headers)
