"""Optional API keys and the admin key, from X-API-Key or Authorization: Bearer, compared in
constant time. Without RAREWATCH_API_KEYS the API is open; without RAREWATCH_ADMIN_KEY model
administration is refused over HTTP (SIGHUP still reloads)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Annotated

from fastapi import Depends, Request
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.problems import Forbidden, Unauthorized, rarewatch_error
from app.settings import Settings

PROTECTED_PREFIX = "/v1/"  # health, readiness, metrics and the docs stay open
KEY_HEADER = "x-api-key"


def _digest(key: str) -> bytes:
    # equal-length digests: compare_digest's time then says nothing about a key's length either
    return hashlib.sha256(key.encode()).digest()


class Keys:
    def __init__(self, api_keys: list[str], admin_key: str | None) -> None:
        self._api = [_digest(key) for key in api_keys]
        self._admin = None if admin_key is None else _digest(admin_key)

    @classmethod
    def of(cls, settings: Settings) -> Keys:
        admin = settings.admin_key
        return cls(settings.api_keys, None if admin is None else admin.get_secret_value())

    @property
    def required(self) -> bool:
        return bool(self._api)

    @property
    def admin_enabled(self) -> bool:
        return self._admin is not None

    def is_admin(self, presented: str | None) -> bool:
        if presented is None or self._admin is None:
            return False
        return hmac.compare_digest(_digest(presented), self._admin)

    def is_api_key(self, presented: str | None) -> bool:
        if presented is None:
            return False
        digest = _digest(presented)
        # every key is compared, so the time does not tell which one (or whether any) matched
        matches = [hmac.compare_digest(digest, key) for key in self._api]
        return any(matches) or self.is_admin(presented)


def presented_key(headers: Headers) -> str | None:
    key = headers.get(KEY_HEADER)
    if key:
        return key
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


class APIKeyMiddleware:
    """Refuses /v1 requests without a valid key before a byte of their body is read."""

    def __init__(self, app: ASGIApp, keys: Keys) -> None:
        self.app, self.keys = app, keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and self.keys.required
            and scope["path"].startswith(PROTECTED_PREFIX)
            and not self.keys.is_api_key(presented_key(Headers(scope=scope)))
        ):
            missing = Unauthorized(
                "send a valid API key in the X-API-Key header or as Authorization: Bearer"
            )
            response = await rarewatch_error(Request(scope), missing)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


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
    if presented is not None and keys.is_api_key(presented):
        raise Forbidden("this key may call the API but not administer models; use the admin key")
    raise Unauthorized("send the admin key in the X-API-Key header or as Authorization: Bearer")


AdminDep = Annotated[None, Depends(require_admin)]
