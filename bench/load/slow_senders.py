"""A normal client's latency while 20, then 200, senders trickle their bodies into a real
`rarewatch serve`, beside its latency without them.

    python -m bench.load.slow_senders [--seconds 12] [--model-dir DIR] [--write docs/reliability.md]

Each trickling sender connects from a loopback address of its own (127.0.1.N, so that the bound
per client address does not come into it), announces a detection body of 1914 bytes, sends `{`
and then a space a second; when the server closes its connection (408 after
RAREWATCH_BODY_TIMEOUT_S) it connects again, as the attack in issue 22 did. Meanwhile one
normal client (127.0.0.1, keep-alive) sends `POST /detect/last` with one window, one request
after the other, for --seconds per phase. Default settings.

Pass: the normal client got only 200s in every phase. Everything runs on 127.0.0.1; the server
is always stopped. Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import selectors
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import numpy as np

from bench.load.common import article_store, check_lines, last_window_body, publish, serving
from bench.perf.fixtures import ARTICLE
from models.artifact import ModelStore

START, END = "<!-- slow-senders:start -->", "<!-- slow-senders:end -->"
DETECT_LAST = f"/v1/models/{ARTICLE.name}/detect/last"
TRICKLE_HEAD = (
    f"POST {DETECT_LAST} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    "Content-Length: 1914\r\n\r\n{"
).encode()
SENDERS = (0, 20, 200)
MAX_SECONDS = 30


class Tricklers:
    """`n` trickling senders on one thread, each from its own loopback address, reconnecting
    whenever the server closes them; `answers` counts the statuses they got."""

    def __init__(self, port: int, n: int) -> None:
        self.port, self.n = port, n
        self.answers: Counter[str] = Counter()
        self.connects = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Tricklers:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _open(self, i: int) -> socket.socket | None:
        try:
            sock = socket.create_connection(
                ("127.0.0.1", self.port), timeout=5, source_address=(f"127.0.1.{1 + i}", 0)
            )
            sock.sendall(TRICKLE_HEAD)
        except OSError:
            self.answers["connect failed"] += 1
            return None
        sock.setblocking(False)
        self.connects += 1
        return sock

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        for i in range(self.n):
            if (sock := self._open(i)) is not None:
                selector.register(sock, selectors.EVENT_READ, i)
        next_byte = time.monotonic() + 1
        while not self._stop.is_set():
            for key, _ in selector.select(timeout=0.1):
                sock, i = key.fileobj, key.data
                assert isinstance(sock, socket.socket)
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if data.startswith(b"HTTP/1.1 "):
                    self.answers[data.split(b" ", 2)[1].decode()] += 1
                if not data:  # closed by the server: come back, as the attacker did
                    selector.unregister(sock)
                    sock.close()
                    if (again := self._open(i)) is not None:
                        selector.register(again, selectors.EVENT_READ, i)
            if time.monotonic() >= next_byte:
                next_byte += 1
                for key in list(selector.get_map().values()):
                    # one closed meanwhile is reconnected by the select above
                    with contextlib.suppress(OSError):
                        key.fileobj.send(b" ")  # type: ignore[union-attr]
        for key in list(selector.get_map().values()):
            key.fileobj.close()  # type: ignore[union-attr]
        selector.close()


@dataclass(frozen=True)
class Phase:
    senders: int
    statuses: dict[int, int]
    latencies_ms: list[float]
    trickler_answers: dict[str, int]
    connects: int

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q))


def normal_client(url: str, body: bytes, seconds: float) -> tuple[dict[int, int], list[float]]:
    """One client sending one request after the other for `seconds`: statuses and latencies."""
    statuses: Counter[int] = Counter()
    latencies = []
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=url, timeout=60) as client:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            status = client.post(DETECT_LAST, content=body, headers=headers).status_code
            latencies.append(1e3 * (time.perf_counter() - started))
            statuses[status] += 1
    return dict(statuses), latencies


def measure(store: ModelStore, seconds: int) -> tuple[list[str], bool]:
    body = last_window_body()
    phases = []
    with serving(store) as server:
        normal_client(server.url, body, 1)  # warm: the first requests are not measured
        for senders in SENDERS:
            with Tricklers(urlsplit(server.url).port or 0, senders) as tricklers:
                time.sleep(1 if senders else 0)  # every sender connected and sending
                statuses, latencies = normal_client(server.url, body, seconds)
            phases.append(
                Phase(senders, statuses, latencies, dict(tricklers.answers), tricklers.connects)
            )
    checks = {
        f"only 200s for the normal client with {p.senders} trickling senders": set(p.statuses)
        == {200}
        for p in phases
    }
    lines = [
        f"Model: `{ARTICLE.label}` on ONNX Runtime, default settings (body timeout 10 s, "
        "header timeout 10 s). The normal client: `POST " + DETECT_LAST + f"` with one window "
        f"({len(body)} bytes), one request after the other for {seconds} s per phase.",
        "",
        "| trickling senders | normal requests | statuses | p50 ms | p99 ms | max ms "
        "| senders' connections | answers the senders got |",
        "|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for p in phases:
        lines.append(
            f"| {p.senders} | {sum(p.statuses.values()):,} | {p.statuses} "
            f"| {p.percentile(50):.2f} | {p.percentile(99):.2f} | {max(p.latencies_ms):.1f} "
            f"| {p.connects:,} | {p.trickler_answers or '-'} |"
        )
    lines += ["", *check_lines(checks)]
    return lines, all(checks.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=12, help=f"per phase, <= {MAX_SECONDS}")
    parser.add_argument("--model-dir", type=Path, help="reuse (or train into) this folder")
    parser.add_argument("--write", type=Path, help="replace the slow-senders section of this file")
    args = parser.parse_args()
    if not 1 <= args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be within 1..{MAX_SECONDS}")
    with article_store(args.model_dir) as store:
        lines, passed = measure(store, args.seconds)
    section = ((START, END), "## Slow senders\n\n")
    publish("bench.load.slow_senders", lines, passed, args.write, section, "clients")


if __name__ == "__main__":
    main()
