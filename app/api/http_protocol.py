"""uvicorn's httptools protocol, reading request bodies further ahead of the app.

uvicorn stops reading a connection as soon as more than 64 KiB of its request body wait for the
app, and reads on when the app asks for the next part. A large `/detect` body (10,000 rows x 59
features is 11.6 MB of JSON) then crosses in a long series of stops and restarts, each a round
trip between the two processes through the event loop, and reading the body could take longer
than parsing it. Here reading goes on until 1 MiB waits: a few reads of the socket per pause
instead of one.

Memory stays bounded per connection (at most this much body the app has not asked for yet,
plus one read); the app then holds the whole body of each request it admitted (up to
RAREWATCH_MAX_BODY_BYTES) as before.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

BODY_READ_AHEAD_BYTES = 1024 * 1024


class BodyReadAheadProtocol(HttpToolsProtocol):
    def on_body(self, body: bytes) -> None:
        super().on_body(body)  # pauses reading past uvicorn's own 64 KiB of unread body
        # Only for the request being served: pipelined requests queued behind it keep
        # reading paused, as uvicorn has it, so that a client cannot queue up bodies.
        if not self.pipeline and len(self.cycle.body) <= BODY_READ_AHEAD_BYTES:
            self.flow.resume_reading()  # a no-op where reading was not paused
