"""Overload protection: bodies are received first, then a bound on the requests queued and scored.

A detection request's body is received before the request counts against the queue, within
its own deadline (408 past it), so a slow sender holds no place there: the bodies still arriving
are bounded per client address and by the bytes they hold together (503 past either). Then the
request is admitted and takes an inference slot to be parsed, validated, scored and shaped.
Past `max_concurrent + max_queued` admitted requests, the next one is refused at once with 503
and Retry-After: the queue never grows past its bound, so neither does the latency of the
requests in it. Everything runs on the event loop, so the counts need no lock.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.api.problems import Overloaded, RequestTimeout
from app.settings import Settings


class Admission:
    def __init__(
        self, max_concurrent: int, max_queued: int, retry_after_s: int, timeout_s: float = 30.0
    ) -> None:
        self.max_concurrent, self.max_queued = max_concurrent, max_queued
        self.retry_after_s, self.timeout_s = retry_after_s, timeout_s
        self.admitted = 0  # running + waiting
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

    @property
    def full(self) -> bool:
        """Running + waiting is at the bound: the next detection request is refused."""
        return self.admitted >= self.max_concurrent + self.max_queued

    def overloaded(self) -> Overloaded:
        """The refusal of a request that finds the queue full (always the same answer)."""
        return Overloaded(
            f"the service is at its bound of {self.max_concurrent} concurrent and "
            f"{self.max_queued} queued detection requests; retry after {self.retry_after_s} s",
            self.retry_after_s,
        )

    def check(self) -> None:
        """Refuse at once when running + waiting is at the bound: before a body is received,
        so that an overloaded server does not read bodies only to refuse them (most refusals
        are answered earlier still, before routing: app.api.front)."""
        if self.full:
            self.refused += 1
            raise self.overloaded()

    @asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Count the request in, or refuse it at once when running + waiting is at the bound."""
        self.check()
        self.admitted += 1
        try:
            # Let every request that has arrived meanwhile reach this check before this one is
            # served: a request scored on the event loop (/detect/last) never suspends, so
            # without this the backlog would wait in the loop's queue, unseen and unbounded.
            await asyncio.sleep(0)
            yield
        finally:
            self.admitted -= 1

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """One of the `max_concurrent` inference slots; an admitted request waits its turn, but
        no longer than the time bound (then 503, as for a full queue)."""
        try:
            if self._slots.locked():  # a wait: bounded in time
                async with asyncio.timeout(self.timeout_s):
                    await self._slots.acquire()
            else:  # a free slot is taken at once: no timer to arm and cancel
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


class Reception:
    """The detection bodies still arriving: at most `per_client` at once from one client
    address, holding at most `max_bytes` together, each within `timeout_s` of its headers."""

    def __init__(
        self, per_client: int, max_bytes: int, timeout_s: float, retry_after_s: int
    ) -> None:
        self.per_client, self.max_bytes = per_client, max_bytes
        self.timeout_s, self.retry_after_s = timeout_s, retry_after_s
        self.by_client: Counter[str] = Counter()  # bodies arriving, by client address
        self.held = 0  # bytes received so far by the bodies still arriving

    @classmethod
    def of(cls, settings: Settings) -> Reception:
        return cls(
            settings.max_body_reads_per_client,
            max(settings.max_reading_bytes, settings.max_body_bytes),
            settings.body_timeout_s,
            settings.retry_after_s,
        )

    @property
    def arriving(self) -> int:
        return self.by_client.total()

    @asynccontextmanager
    async def receiving(self, client: str) -> AsyncIterator[Held]:
        """One body from `client` being received, within the time bound (408 past it); what it
        holds counts against the bound on bytes until it is in (or refused)."""
        if self.by_client[client] >= self.per_client:
            raise Overloaded(
                f"this client already has {self.per_client} request bodies arriving, the "
                f"bound per client; retry after {self.retry_after_s} s",
                self.retry_after_s,
            )
        self.by_client[client] += 1
        held = Held(self)
        try:
            async with asyncio.timeout(self.timeout_s):
                yield held
        except TimeoutError:
            raise RequestTimeout(
                f"the request body did not arrive within {self.timeout_s:g} s"
            ) from None
        finally:
            self.held -= held.size
            self.by_client[client] -= 1
            if not self.by_client[client]:
                del self.by_client[client]  # the counter holds only clients with bodies arriving


class Held:
    """The bytes one arriving body holds, counted against the reception's bound."""

    def __init__(self, reception: Reception) -> None:
        self.reception, self.size = reception, 0

    def add(self, n_bytes: int) -> None:
        reception = self.reception
        if reception.held + n_bytes > reception.max_bytes:
            raise Overloaded(
                f"the request bodies arriving hold {reception.max_bytes} bytes together, the "
                f"bound; retry after {reception.retry_after_s} s",
                reception.retry_after_s,
            )
        reception.held += n_bytes
        self.size += n_bytes
