"""The keys (API, admin, metrics) from X-API-Key or Authorization: Bearer, compared in constant
time, and the headers every API answer carries. Without RAREWATCH_API_KEYS the API is open;
without RAREWATCH_ADMIN_KEY model administration is refused over HTTP (SIGHUP still reloads)."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import API_HEADERS, Forbidden, Unauthorized, rarewatch_error
from app.settings import Settings
from models.errors import RarewatchError

PROTECTED_PREFIX = "/v1/"  # health, readiness and the docs stay open
METRICS_PATH = "/metrics"
# the admin routes check the admin key themselves (require_admin), and no other key opens them;
# tests/app/api/test_security.py checks that this matches exactly the routes that need it
ADMIN_PATH = re.compile(r"/v1/models/[^/]+/reload")
KEY_HEADER = "x-api-key"
SEND_A_KEY = "send a valid API key in the X-API-Key header or as Authorization: Bearer"
_RAW_API_HEADERS = [(name.lower().encode(), value.encode()) for name, value in API_HEADERS.items()]


def _digest(key: str) -> bytes:
    # equal-length digests: compare_digest's time then says nothing about a key's length either
    return hashlib.sha256(key.encode()).digest()


def _matches(presented: str | None, keys: list[bytes]) -> bool:
    if presented is None:
        return False
    digest = _digest(presented)
    # every key is compared, so the time does not tell which one (or whether any) matched
    matches = [hmac.compare_digest(digest, key) for key in keys]
    return any(matches)


class Keys:
    def __init__(
        self, api_keys: list[str], admin_key: str | None, metrics_key: str | None = None
    ) -> None:
        self._api = [_digest(key) for key in api_keys]
        self._admin = [] if admin_key is None else [_digest(admin_key)]
        self._metrics = [] if metrics_key is None else [_digest(metrics_key)]

    @classmethod
    def of(cls, settings: Settings) -> Keys:
        admin, metrics = settings.admin_key, settings.metrics_key
        return cls(
            settings.api_keys,
            None if admin is None else admin.get_secret_value(),
            None if metrics is None else metrics.get_secret_value(),
        )

    @property
    def required(self) -> bool:
        return bool(self._api)

    @property
    def admin_enabled(self) -> bool:
        return bool(self._admin)

    @property
    def metrics_guarded(self) -> bool:
        """/metrics needs a key once any API key or the metrics key is set."""
        return bool(self._api or self._metrics)

    def is_admin(self, presented: str | None) -> bool:
        return _matches(presented, self._admin)

    def is_api_key(self, presented: str | None) -> bool:
        """An API key; the admin key is not one (it opens the admin routes only)."""
        return _matches(presented, self._api)

    def may_read_metrics(self, presented: str | None) -> bool:
        # an API key already reads every name and threshold that /metrics shows, via /v1/models
        return _matches(presented, self._metrics) or self.is_api_key(presented)

    def may_read_readiness(self, headers: Headers) -> bool:
        """Whether /readyz may name the models: always without API keys (/v1/models is open
        then), else only for an API key or the metrics key. Raises Unauthorized as
        presented_key does."""
        return not self.required or self.may_read_metrics(presented_key(headers))


def presented_key(headers: Headers) -> str | None:
    """The key sent as X-API-Key or Authorization: Bearer; a request that sends both, with two
    different keys, is refused (401) rather than one of them silently winning."""
    header = headers.get(KEY_HEADER) or None
    scheme, _, token = headers.get("authorization", "").partition(" ")
    bearer = token.strip() if scheme.lower() == "bearer" and token.strip() else None
    if header is not None and bearer is not None and header != bearer:
        raise Unauthorized(
            "the X-API-Key header and the Authorization: Bearer token hold different keys; "
            "send one key, in one of them"
        )
    return header or bearer


class APIKeyMiddleware:
    """Refuses /v1 and /metrics requests without a valid key before a byte of their body is
    read; the admin routes are left to require_admin."""

    def __init__(self, app: ASGIApp, keys: Keys) -> None:
        self.app, self.keys = app, keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refusal = self._refusal(scope) if scope["type"] == "http" else None
        if refusal is not None:
            response = await rarewatch_error(Request(scope), refusal)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> RarewatchError | None:
        path: str = scope["path"]
        if path.startswith(PROTECTED_PREFIX):
            if not self.keys.required or ADMIN_PATH.fullmatch(path):
                return None
            return self._check(Headers(scope=scope), self.keys.is_api_key)
        if path == METRICS_PATH and self.keys.metrics_guarded:
            return self._check(Headers(scope=scope), self.keys.may_read_metrics)
        return None

    def _check(
        self, headers: Headers, accepts: Callable[[str | None], bool]
    ) -> RarewatchError | None:
        try:
            presented = presented_key(headers)
        except Unauthorized as conflict:
            return conflict
        if accepts(presented):
            return None
        if self.keys.is_admin(presented):
            return Forbidden("the admin key administers models and opens no other route")
        return Unauthorized(SEND_A_KEY)


class APIHeadersMiddleware:
    """Adds nosniff, and no-store unless the answer sets its own caching rule (the web page and
    the docs do), to every answer: an API answer is never cached nor read as another type."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [h for h in _RAW_API_HEADERS if h[0] not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def require_admin(request: Request) -> None:
    keys: Keys = request.app.state.keys
    if not keys.admin_enabled:
        raise Forbidden(
            "model administration over HTTP is off: set RAREWATCH_ADMIN_KEY to turn it on "
            "(or send the server SIGHUP to reload every model)"
        )
    presented = presented_key(request.headers)
    if keys.is_admin(presented):
        return
    if keys.is_api_key(presented):
        raise Forbidden("this key may call the API but not administer models; use the admin key")
    raise Unauthorized("send the admin key in the X-API-Key header or as Authorization: Bearer")


AdminDep = Annotated[None, Depends(require_admin)]
