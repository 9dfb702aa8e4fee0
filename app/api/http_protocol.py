"""uvicorn's httptools protocol as rarewatch serves it: bodies read further ahead of the app, a
header timeout, and a connection closed after an answer sent before its request arrived whole.

Read-ahead: uvicorn stops reading a connection as soon as more than 64 KiB of its request body
wait for the app, and reads on when the app asks for the next part. A large `/detect` body
(10,000 rows x 59 features is 11.6 MB of JSON) then crosses in a long series of stops and
restarts, each a round trip between the two processes through the event loop, and reading the
body could take longer than parsing it. Here reading goes on until 1 MiB waits: a few reads of
the socket per pause instead of one. Memory stays bounded per connection (at most this much
body the app has not asked for yet, plus one read).

Header timeout: uvicorn closes a connection left idle after an answer (keep-alive), but not one
that never sends a request, or sends half its headers. Here a request's headers must be in
`header_timeout_s` after its first byte (the first request's: after the connection opened).

Connections per client: at most `max_connections_per_client` open at once from one address;
past it a new connection is closed before anything is read from it (a load tool or a proxy
that needs more gets a higher setting).

Unfinished requests: when the app answers before the whole request body has arrived (a 408, a
413, a refusal before reading), the rest of the connection is that body's remainder, not a next
request, so the answer says `Connection: close`. The connection then lingers: it stops
reading requests but drains what the client still sends, for at most LINGER_S, because closing
a socket while bytes arrive makes the kernel reset it, and the client may lose the answer.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import ClassVar

from uvicorn._types import (
    ASGI3Application,
    ASGIReceiveCallable,
    ASGISendCallable,
    ASGISendEvent,
    Scope,
)
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from app.settings import Settings

BODY_READ_AHEAD_BYTES = 1024 * 1024
# long enough for a client to finish sending a body it had begun, short enough that a client
# that never will does not hold the connection
LINGER_S = 5.0


class ServingProtocol(HttpToolsProtocol):
    header_timeout_s: ClassVar[float] = Settings.model_fields["header_timeout_s"].default
    max_connections_per_client: ClassVar[int] = Settings.model_fields[
        "max_connections_per_client"
    ].default
    # open connections by client address, shared by every connection of one server
    open_by_client: ClassVar[Counter[str]] = Counter()

    _client: str | None = None  # the address this connection is counted under
    _header_timer: asyncio.TimerHandle | None = None
    _linger_timer: asyncio.TimerHandle | None = None
    lingering = False  # answered a request before it arrived whole: reading no more requests

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        client = str(peer[0]) if isinstance(peer, tuple) and peer else None
        if client is not None:
            if self.open_by_client[client] >= self.max_connections_per_client:
                transport.abort()  # over the bound: refused before anything is read
                return
            self.open_by_client[client] += 1
            self._client = client
        self._arm_header_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._client is not None:
            self.open_by_client[self._client] -= 1
            if not self.open_by_client[self._client]:
                del self.open_by_client[self._client]
            self._client = None
        self._cancel_header_timer()
        if self._linger_timer is not None:
            self._linger_timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if not self.lingering:  # a lingering connection drains its client's bytes unread
            super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:  # not the connection's first request
            self._arm_header_timer()

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        super().on_body(body)  # pauses reading past uvicorn's own 64 KiB of unread body
        # Only for the request being served: pipelined requests queued behind it keep
        # reading paused, as uvicorn has it, so that a client cannot queue up bodies.
        if not self.pipeline and len(self.cycle.body) <= BODY_READ_AHEAD_BYTES:
            self.flow.resume_reading()  # a no-op where reading was not paused

    def on_response_complete(self) -> None:
        if self.lingering:  # no next request on this connection, and no keep-alive
            self.server_state.total_requests += 1
            return
        super().on_response_complete()

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: ASGI3Application) -> None:
        super()._start_asgi_task(cycle, self._closing_if_unfinished(cycle, app))

    def _closing_if_unfinished(
        self, cycle: RequestResponseCycle, app: ASGI3Application
    ) -> ASGI3Application:
        """`app`, whose answer closes the connection if it starts before the request's body
        has arrived whole (the body's remainder would be read as the next request)."""

        async def app_closing_if_unfinished(
            scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
        ) -> None:
            async def send_closing_if_unfinished(message: ASGISendEvent) -> None:
                if message["type"] == "http.response.start" and cycle.more_body:
                    cycle.keep_alive = False  # uvicorn writes `connection: close`, then closes
                    cycle.transport = LingeringTransport(self)
                await send(message)

            await app(scope, receive, send_closing_if_unfinished)

        return app_closing_if_unfinished

    def linger(self) -> None:
        """Close once the client has stopped sending, or after LINGER_S: the answer is
        flushed and the write side shut at once, and what still arrives is dropped."""
        transport = self.transport
        if transport.is_closing() or self.lingering:
            return
        self.lingering = True
        self._cancel_header_timer()
        self.flow.resume_reading()
        if transport.can_write_eof():
            transport.write_eof()
        # the client's end of the stream closes it sooner (eof_received returns None)
        self._linger_timer = self.loop.call_later(LINGER_S, transport.close)

    def _arm_header_timer(self) -> None:
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_late)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_late(self) -> None:
        """No request, or half of one, within the header timeout: close the connection. A
        request still being served (the late one is pipelined behind it) gets its answer
        first, and the connection closes after it."""
        self._header_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.keep_alive = False
        elif not self.transport.is_closing():
            self.transport.close()


class LingeringTransport(asyncio.Transport):
    """The connection's transport as an unfinished request's answer sees it: closing it
    lingers (ServingProtocol.linger)."""

    def __init__(self, protocol: ServingProtocol) -> None:
        super().__init__()
        self.protocol = protocol

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.protocol.transport.write(data)

    def is_closing(self) -> bool:
        return self.protocol.transport.is_closing()

    def close(self) -> None:
        self.protocol.linger()


def protocol_for(settings: Settings) -> type[ServingProtocol]:
    """The protocol class uvicorn is given, with the header timeout and the connection
    bound from `settings`, and its own count of connections by client."""

    class ConfiguredProtocol(ServingProtocol):
        header_timeout_s = settings.header_timeout_s
        max_connections_per_client = settings.max_connections_per_client
        open_by_client: ClassVar[Counter[str]] = Counter()

    return ConfiguredProtocol
