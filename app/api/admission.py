"""Overload protection: a bound on concurrent inferences and on the requests waiting for one.

A detection request is admitted when it arrives (before its body is read) and takes an
inference slot to be parsed, validated, scored and shaped. Past `max_concurrent + max_queued`
admitted requests, the next one is refused at once with 503 and Retry-After: the queue never
grows past its bound, so neither does the latency of the requests in it. Everything runs on the
event loop, so the counts need no lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager

from app.api.problems import Overloaded, RequestTimeout
from app.settings import Settings


class Admission:
    def __init__(
        self, max_concurrent: int, max_queued: int, retry_after_s: int, timeout_s: float = 30.0
    ) -> None:
        self.max_concurrent, self.max_queued = max_concurrent, max_queued
        self.retry_after_s, self.timeout_s = retry_after_s, timeout_s
        self.admitted = 0  # running + waiting (or still being received)
        self.running = 0
        self.refused = 0  # since start, for the log and the load benchmark
        self._slots = asyncio.Semaphore(max_concurrent)

    @classmethod
    def of(cls, settings: Settings) -> Admission:
        return cls(
            settings.max_concurrent_inferences,
            settings.max_queued_requests,
            settings.retry_after_s,
            settings.request_timeout_s,
        )

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Count the request in, or refuse it at once when running + waiting is at the bound."""
        if self.admitted >= self.max_concurrent + self.max_queued:
            self.refused += 1
            raise Overloaded(
                f"the service is at its bound of {self.max_concurrent} concurrent and "
                f"{self.max_queued} queued detection requests; retry after "
                f"{self.retry_after_s} s",
                self.retry_after_s,
            )
        self.admitted += 1
        try:
            # Let every request that has arrived meanwhile reach this check before this one is
            # served: a request scored on the event loop (/detect/last) never suspends, so
            # without this the backlog would wait in the loop's queue, unseen and unbounded.
            await asyncio.sleep(0)
            yield
        finally:
            self.admitted -= 1

    async def receive(self, body: Awaitable[bytes]) -> bytes:
        """The request body, unless it takes longer than the time bound to arrive."""
        try:
            async with asyncio.timeout(self.timeout_s):
                return await body
        except TimeoutError:
            raise RequestTimeout(
                f"the request body did not arrive within {self.timeout_s:g} s"
            ) from None

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """One of the `max_concurrent` inference slots; an admitted request waits its turn, but
        no longer than the time bound (then 503, as for a full queue)."""
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._slots.acquire()
        except TimeoutError:
            self.refused += 1
            raise Overloaded(
                f"no inference slot came free within {self.timeout_s:g} s; retry after "
                f"{self.retry_after_s} s",
                self.retry_after_s,
            ) from None
        self.running += 1
        try:
            yield
        finally:
            self.running -= 1
            self._slots.release()
