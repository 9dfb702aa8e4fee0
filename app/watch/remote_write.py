"""Prometheus remote write of the watch's series: the protobuf WriteRequest encoded by hand (five
small messages; no generated code), snappy-compressed, POSTed after each tick."""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable

import httpx
from prometheus_client import CollectorRegistry

from app.watch.config import RemoteWriteConfig
from app.watch.prometheus import http_client

logger = logging.getLogger(__name__)

# Prometheus's staleness marker: a series that was written and is gone gets this NaN, so a
# dropped score ends at once there too instead of lingering for the lookback delta
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]
Series = tuple[tuple[str, str], ...]  # labels, sorted by name, __name__ among them


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte, number = number & 0x7F, number >> 7
        if number:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def encode(samples: Iterable[tuple[Series, float]], timestamp_ms: int) -> bytes:
    """WriteRequest{timeseries: [TimeSeries{labels: [Label{name, value}], samples: [Sample{value,
    timestamp}]}]}, one sample per series."""
    request = bytearray()
    for labels, value in samples:
        series = b"".join(
            _field(1, _field(1, name.encode()) + _field(2, text.encode())) for name, text in labels
        )
        sample = b"\x09" + struct.pack("<d", value) + b"\x10" + _varint(timestamp_ms)
        request += _field(1, series + _field(2, sample))
    return bytes(request)


class RemoteWriter:
    def __init__(self, config: RemoteWriteConfig, registry: CollectorRegistry) -> None:
        headers = {
            "Content-Encoding": "snappy",
            "Content-Type": "application/x-protobuf",
            "X-Prometheus-Remote-Write-Version": "0.1.0",
        }
        self._client = http_client(config, headers)
        self._url, self._labels, self._registry = config.url, config.labels, registry
        self._written: dict[str, set[Series]] = {}  # per model: the series written last time

    async def aclose(self) -> None:
        await self._client.aclose()

    async def write(self, model: str, timestamp: float) -> str | None:
        """`model`'s series as they are now (and a staleness marker for each one written last
        time and gone since); None, or why the write failed (never raised: the tick goes on)."""
        now = self._samples(model)
        gone = self._written.get(model, set()) - set(now)
        samples = [*now.items(), *((series, STALE_NAN) for series in gone)]
        import cramjam

        body = bytes(cramjam.snappy.compress_raw(encode(samples, round(timestamp * 1000))))
        try:
            answer = await self._client.post(self._url, content=body)
        except httpx.TransportError as exc:
            return f"the remote write endpoint cannot be reached ({exc!r})"
        if answer.status_code >= 300:
            return f"the remote write endpoint answered HTTP {answer.status_code}"
        self._written[model] = set(now)
        return None

    def _samples(self, model: str) -> dict[Series, float]:
        samples = {}
        for family in self._registry.collect():
            for sample in family.samples:
                if sample.labels.get("model") != model or sample.name.endswith("_created"):
                    continue
                labels = {**self._labels, **sample.labels, "__name__": sample.name}
                samples[tuple(sorted(labels.items()))] = float(sample.value)
        return samples
