"""The Host header allow-list: a request naming a host the server does not answer for gets 400.

A DNS-rebinding page reaches a server on the victim's machine or network under the attacker's
own domain name, so the browser sends that name as Host. Which names are served by default
depends on where the server listens:
- bound to a loopback address (127.0.0.1, ::1, localhost: `rarewatch serve`'s default), only a
  client on the same machine can connect, and it names the server as a loopback address,
  `localhost` or a `*.localhost` name (which resolve to loopback by definition, RFC 6761);
- bound to another address (0.0.0.0 in the container), clients also use the machine's IP
  addresses and names without a dot (a container's service name, as Prometheus scrapes it),
  which no DNS-rebinding page can send either.
Any other name must be listed in RAREWATCH_ALLOWED_HOSTS ("*": every name). Health endpoints
are no exception: the probes send an address or a service name, and /readyz and /metrics say
what is loaded.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.problems import HostNotAllowed, problem

LOOPBACK_NAME = "localhost"


class Hosts:
    def __init__(self, allowed: list[str], bound_to: str) -> None:
        self.any = "*" in allowed
        self.names = frozenset(name.lower() for name in allowed)
        self.loopback_only = is_loopback(bound_to)
        # a client sends a handful of distinct values: the verdict is kept per raw header
        self.allows = lru_cache(maxsize=256)(self._allows)

    def _allows(self, host: bytes) -> bool:
        name = host_name(host.decode("latin-1").lower())
        if self.any or name in self.names:
            return True
        if is_loopback(name):
            return True
        return not self.loopback_only and ("." not in name or _address(name) is not None)

    @property
    def served(self) -> str:
        """The names served, as the refusal states them."""
        if self.loopback_only:
            return "loopback addresses, localhost and RAREWATCH_ALLOWED_HOSTS"
        return "IP addresses, names without a dot and RAREWATCH_ALLOWED_HOSTS"


def host_name(host: str) -> str:
    """The Host header without its port (and an IPv6 address without its brackets)."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if ":" in host else host


def is_loopback(name: str) -> bool:
    """Whether a host name or address (no port) can only mean this machine."""
    name = name.lower()
    if name == LOOPBACK_NAME or name.endswith("." + LOOPBACK_NAME):
        return True
    address = _address(name.strip("[]"))
    return address is not None and address.is_loopback


def _address(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


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
                    f"are {self.hosts.served}"
                )
                await problem(refused.code, refused.detail)(scope, receive, send)
                return
        await self.app(scope, receive, send)
