"""Load at twice the measured capacity, with reloads injected, against a real `rarewatch serve`.

    python -m bench.load.run [--seconds 40] [--model-dir DIR] [--write docs/reliability.md]

1. Capacity: wrk with 8 connections for 5 s on `POST /v1/models/article/detect/last` (one window
   of 5 x 59); every answer must be 200 (8 is under the admission bound).
2. Overload: wrk for --seconds (at most 45) with enough connections, each pausing 100 ms
   between its answer and its next request, to offer twice that capacity (a 3 s probe first
   sets the number of connections, since wrk is a closed loop). A third of the way in, a good new
   version is written and the server gets SIGHUP; two thirds in, a broken one (a byte of its
   weights flipped) and SIGHUP again. Every status is counted by a wrk Lua script.
3. Pass: at least 85 % of the capacity still answered 200, only 200/429/503 (503s carry
   Retry-After), no socket errors, the good version served at the end, RSS growth under 10 % over
   the overload (from the end of the probe, when as many
   connections are open, to the end).

Everything runs on 127.0.0.1; the server is always stopped. Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from app.settings import Settings
from bench.load.common import article_store, check_lines, last_window_body, publish, serving
from bench.perf.fixtures import ARTICLE
from models.artifact import WEIGHTS_FILE, ModelStore

START, END = "<!-- load:start -->", "<!-- load:end -->"
CAPACITY_S, CAPACITY_CONNECTIONS = 5, 8
PROBE_S, MAX_CONNECTIONS = 3, 2000
MAX_SECONDS = 45  # + 5 s capacity + 3 s probe: the whole load stays under a minute
ALLOWED = {200, 429, 503}
MAX_RSS_GROWTH = 0.10
MIN_SERVED_SHARE = 0.85  # of the capacity, still answered 200 under overload
DETECT_LAST = f"/v1/models/{ARTICLE.name}/detect/last"

LUA = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("{body}", "rb")
wrk.body = f:read("*all")
f:close()
local threads = {{}}
function setup(thread) table.insert(threads, thread) end
function init(args) counts = {{}} end
function delay() return {delay_ms} end
function response(status, headers, body)
  local key = tostring(status)
  if status == 503 and headers["retry-after"] == nil and headers["Retry-After"] == nil then
    key = "503-without-retry-after"
  end
  counts[key] = (counts[key] or 0) + 1
end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("counts")) do io.write("status ", status, " ", n, "\\n") end
  end
  io.write("latency-p50-us ", latency:percentile(50), "\\n")
  io.write("latency-p99-us ", latency:percentile(99), "\\n")
  io.write("duration-us ", summary.duration, "\\n")
  local e = summary.errors
  io.write("socket-errors ", e.connect + e.read + e.write + e.timeout, "\\n")
end
"""


@dataclass(frozen=True)
class Run:
    connections: int
    delay_ms: int
    seconds: float
    statuses: dict[str, int]
    p50_ms: float
    p99_ms: float
    socket_errors: int

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def count(self, status: int) -> int:
        return self.statuses.get(str(status), 0)


def wrk(
    url: str, body: bytes, connections: int, delay_ms: int, seconds: int
) -> subprocess.Popen[str]:
    """Start wrk (one thread) in the background; `finish` reads its counts."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install wrk")
    folder = Path(tempfile.mkdtemp(prefix="rarewatch-load-"))
    (folder / "body.json").write_bytes(body)
    script = folder / "load.lua"
    script.write_text(LUA.format(body=folder / "body.json", delay_ms=delay_ms))
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "-s", str(script), url]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen[str], connections: int, delay_ms: int) -> Run:
    out, _ = process.communicate(timeout=MAX_SECONDS + 60)
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed: {out[-2000:]}")

    def number(name: str) -> float:
        return float(re.search(rf"^{name} ([\d.]+)$", out, re.M).group(1))  # type: ignore[union-attr]

    statuses = {m[1]: int(m[2]) for m in re.finditer(r"^status (\S+) (\d+)$", out, re.M)}
    return Run(
        connections=connections,
        delay_ms=delay_ms,
        seconds=number("duration-us") / 1e6,
        statuses=statuses,
        p50_ms=number("latency-p50-us") / 1e3,
        p99_ms=number("latency-p99-us") / 1e3,
        socket_errors=int(number("socket-errors")),
    )


def overload_shape(capacity: float, latency_ms: float, bound: int) -> tuple[int, int]:
    """Connections and pause (ms) that offer 2 x capacity. Each connection sends one request
    every pause + latency; a long pause (100 ms) next to the latency makes the offered rate
    depend little on how slow the server gets, and the latency expected under overload is the
    one at capacity plus a full admission queue (`bound` requests) served at capacity."""
    pause_ms = 100
    expected_ms = latency_ms + 1e3 * bound / capacity
    return math.ceil(2 * capacity * (pause_ms + expected_ms) / 1e3), pause_ms


def inject(store: ModelStore, pid: int, broken: bool) -> int:
    """Write a new version of the article model (broken: one byte of its weights flipped) and
    send SIGHUP; returns the version written."""
    stored = store.open(ARTICLE.name)
    version, path = store.write(ARTICLE.name, stored.spec, stored.weights(), stored.onnx())
    if broken:
        weights = path / WEIGHTS_FILE
        data = bytearray(weights.read_bytes())
        data[len(data) // 2] ^= 0xFF
        weights.write_bytes(bytes(data))
    os.kill(pid, signal.SIGHUP)
    return version


def served_version(url: str) -> int:
    models = httpx.get(url + "/readyz", timeout=10).json()["models"]
    return int(next(m["version"] for m in models if m["name"] == ARTICLE.name))


def measure(store: ModelStore, seconds: int) -> tuple[list[str], bool]:
    """Run the capacity and the overload phases; the report's lines and whether all passed."""
    body = last_window_body()
    with serving(store) as server:
        url = server.url + DETECT_LAST
        rss_ready = server.rss_mb()
        capacity_run = finish(
            wrk(url, body, CAPACITY_CONNECTIONS, 0, CAPACITY_S), CAPACITY_CONNECTIONS, 0
        )
        capacity = capacity_run.count(200) / capacity_run.seconds
        rss_warm = server.rss_mb()
        settings = Settings()
        bound = settings.max_concurrent_inferences + settings.max_queued_requests
        connections, delay_ms = overload_shape(capacity, capacity_run.p50_ms, bound)
        # wrk is a closed loop: a short probe says how many connections offer 2x in fact
        probe = finish(wrk(url, body, connections, delay_ms, PROBE_S), connections, delay_ms)
        connections = min(MAX_CONNECTIONS, math.ceil(connections * 2.2 * capacity / probe.rate))
        rss_loaded = server.rss_mb()  # hundreds of connections open: the baseline for growth
        load = wrk(url, body, connections, delay_ms, seconds)
        time.sleep(seconds / 3)
        good = inject(store, server.pid, broken=False)
        time.sleep(seconds / 3)
        broken = inject(store, server.pid, broken=True)
        overload = finish(load, connections, delay_ms)
        rss_end = server.rss_mb()
        version_at_end = served_version(server.url)
        after = httpx.post(url, content=body, headers={"content-type": "application/json"})
    growth = rss_end / rss_loaded - 1
    served_share = overload.count(200) / overload.seconds / capacity
    other = {k: n for k, n in overload.statuses.items() if k not in {str(s) for s in ALLOWED}}
    checks = {
        "capacity phase all 200": set(capacity_run.statuses) == {"200"},
        "offered at least 1.8x capacity": overload.rate >= 1.8 * capacity,
        "only 200/429/503, 503s with Retry-After": not other
        and not set(probe.statuses)
        - {
            "200",
            "503",
        },
        f"at least {MIN_SERVED_SHARE:.0%} of the capacity served": served_share >= MIN_SERVED_SHARE,
        "no 500": overload.count(500) == 0,
        "no socket errors": overload.socket_errors == 0 and capacity_run.socket_errors == 0,
        f"good version {good} served, broken {broken} refused": version_at_end == good,
        "a request after the load is served": after.status_code == 200,
        "RSS growth under 10 %": growth < MAX_RSS_GROWTH,
    }
    lines = [
        f"Model: `{ARTICLE.label}` on ONNX Runtime, default settings (4 concurrent inferences, "
        "16 queued). Request: `POST " + DETECT_LAST + f"` with one window ({len(body)} bytes).",
        "",
        "| phase | connections | pause ms | seconds | requests | offered req/s | 200/s "
        "| 200 | 503 | other | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    phases = (("capacity", capacity_run), ("probe", probe), ("2x capacity + reloads", overload))
    for name, run in phases:
        others = sum(n for k, n in run.statuses.items() if k not in {"200", "503"})
        lines.append(
            f"| {name} | {run.connections} | {run.delay_ms} | {run.seconds:.0f} | {run.requests:,} "
            f"| {run.rate:,.0f} | {run.count(200) / run.seconds:,.0f} | {run.count(200):,} "
            f"| {run.count(503):,} | {others:,} | {run.p50_ms:.2f} | {run.p99_ms:.2f} |"
        )
    lines += [
        "",
        f"Measured capacity: **{capacity:,.0f} requests/s**; offered under overload: "
        f"**{overload.rate:,.0f} requests/s ({overload.rate / capacity:.1f}x)**, of which "
        f"{overload.count(200) / overload.seconds:,.0f}/s were served "
        f"(**{served_share:.0%} of the capacity**) and the rest refused with 503 + Retry-After "
        "at once.",
        "",
        f"Statuses under overload: {dict(sorted(overload.statuses.items()))}; socket errors: "
        f"{overload.socket_errors}.",
        "",
        f"RSS: {rss_ready:.0f} MB ready, {rss_warm:.0f} MB after the capacity phase, "
        f"{rss_loaded:.0f} MB after the probe (hundreds of connections open: the baseline), "
        f"{rss_end:.0f} MB after the overload and both reloads: {growth:+.1%}.",
        "",
        f"Faults injected during the overload: at {seconds / 3:.0f} s version {good} written and "
        f"SIGHUP (reloaded: served at the end); at {2 * seconds / 3:.0f} s version {broken} with "
        f"one byte of {WEIGHTS_FILE} flipped and SIGHUP (refused by its manifest, version {good} "
        f"kept serving). Version served at the end: {version_at_end}.",
        "",
        *check_lines(checks),
    ]
    return lines, all(checks.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=40, help=f"overload time, <= {MAX_SECONDS}")
    parser.add_argument(
        "--model-dir",
        type=Path,
        help="reuse (or train into) this folder; article versions after 1 are deleted",
    )
    parser.add_argument("--write", type=Path, help="replace the load section of this file")
    args = parser.parse_args()
    if not 3 <= args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be within 3..{MAX_SECONDS}")
    with article_store(args.model_dir) as store:
        # earlier runs added versions: start from the first
        for version in store.versions(ARTICLE.name)[1:]:
            shutil.rmtree(store.root / ARTICLE.name / str(version))
        lines, passed = measure(store, args.seconds)
    section = ((START, END), "## Load at twice the capacity\n\n")
    publish("bench.load.run", lines, passed, args.write, section, "wrk")


if __name__ == "__main__":
    main()
