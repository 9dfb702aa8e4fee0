"""Swagger UI at /docs and ReDoc at /redoc, their scripts served from the package, no CDN.

FastAPI's own pages load their scripts from a CDN and are blank without internet; this is its
self-hosting recipe, with the files that the fastapi-offline package ships.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)

from app.api.routes.page import serve_file

router = APIRouter(include_in_schema=False)

STATIC = Path(fastapi_offline.__file__).resolve().parent / "static"

ASSETS_PATH = "/docs/static"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "public, max-age=86400"}
# The pages may load from this server only: ReDoc's sidebar asks a CDN for a logo, and Swagger
# UI an online validator for a badge, and the browser refuses both. The inline parts are
# FastAPI's page templates, which hold nothing from a request.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# Swagger UI sends the document to an online validator when not served from localhost
SWAGGER_PARAMETERS = {"validatorUrl": None}


@router.get("/docs")
async def swagger_ui(request: Request) -> Response:
    assets = _assets(request)
    return _viewer(
        request,
        get_swagger_ui_html,
        "Swagger UI",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon.png",
        oauth2_redirect_url=_root(request) + "/docs/oauth2-redirect",
        swagger_ui_parameters=SWAGGER_PARAMETERS,
    )


@router.get("/docs/oauth2-redirect")
async def swagger_ui_redirect() -> Response:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc(request: Request) -> Response:
    assets = _assets(request)
    return _viewer(
        request,
        get_redoc_html,
        "ReDoc",
        redoc_js_url=f"{assets}/redoc.standalone.js",
        redoc_favicon_url=f"{assets}/favicon.png",
        with_google_fonts=False,
    )


@router.get(ASSETS_PATH + "/{name}")
async def asset(name: str) -> Response:
    media_type = ASSETS.get(name)  # a fixed list: no path from the URL ever reaches the disk
    if media_type is None:
        raise HTTPException(404, "no such file")
    return serve_file(STATIC / name, media_type, HEADERS)


def _same_origin(page: Response) -> Response:
    page.headers.update(PAGE_HEADERS)
    return page


def _viewer(
    request: Request, render: Callable[..., Response], name: str, **assets: Any
) -> Response:
    """A documentation viewer's page for this server's OpenAPI document, same-origin only."""
    openapi_url = _root(request) + str(request.app.openapi_url)
    page = render(openapi_url=openapi_url, title=f"{request.app.title} - {name}", **assets)
    return _same_origin(page)


def _assets(request: Request) -> str:
    return _root(request) + ASSETS_PATH


def _root(request: Request) -> str:
    # behind a proxy that mounts the app under a prefix, as FastAPI's own pages do
    return str(request.scope.get("root_path", "")).rstrip("/")
