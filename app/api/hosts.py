"""The Host header allow-list: a request naming a host the server does not answer for gets 400.

A DNS-rebinding page reaches a server on the victim's machine or network under the attacker's
own domain name, so the browser sends that name as Host. IP addresses and names without a dot
(`localhost`, a container's service name) cannot be such a name and are always served, which
keeps health checks, Prometheus scrapes and `curl 127.0.0.1:8000` working; any other name must
be listed in RAREWATCH_ALLOWED_HOSTS ("*": every name). Health endpoints are no exception: they
send an IP address or a service name anyway, and /readyz and /metrics say what is loaded.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.problems import HostNotAllowed, problem


class Hosts:
    def __init__(self, allowed: list[str]) -> None:
        self.any = "*" in allowed
        self.names = frozenset(name.lower() for name in allowed)
        # a client sends a handful of distinct values: the verdict is kept per raw header
        self.allows = lru_cache(maxsize=256)(self._allows)

    def _allows(self, host: bytes) -> bool:
        name = host_name(host.decode("latin-1").lower())
        return self.any or name in self.names or "." not in name or _is_address(name)


def host_name(host: str) -> str:
    """The Host header without its port (and an IPv6 address without its brackets)."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if ":" in host else host


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class AllowedHostsMiddleware:
    """Refuses a request whose Host header is not allowed, before anything else sees it. A
    request without a Host header (HTTP/1.0) is served: no browser sends one."""

    def __init__(self, app: ASGIApp, hosts: Hosts) -> None:
        self.app, self.hosts = app, hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = next((value for name, value in scope["headers"] if name == b"host"), None)
            if host is not None and not self.hosts.allows(host):
                # the answer never repeats the name sent
                refused = HostNotAllowed(
                    "the Host header names a host this server does not answer for; its names "
                    "are IP addresses, names without a dot and RAREWATCH_ALLOWED_HOSTS"
                )
                await problem(refused.code, refused.detail)(scope, receive, send)
                return
        await self.app(scope, receive, send)
