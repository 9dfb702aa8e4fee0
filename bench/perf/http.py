"""HTTP load on 127.0.0.1: start a server, drive it with wrk for a bounded time, read its RSS."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Server:
    url: str
    pid: int

    def rss_mb(self) -> float:
        """Resident memory of the server process, from /proc."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        kib = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]
        return kib / 1024

    def minor_faults(self) -> int:
        """Pages the server process has faulted in so far (fresh memory touched), from /proc."""
        return int(self._stat()[7])

    def cpu_s(self) -> float:
        """CPU seconds the server process has used so far (user + system, all threads)."""
        fields = self._stat()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def _stat(self) -> list[str]:
        """/proc/PID/stat's fields after the command name (which may hold spaces)."""
        return Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()


def wait_until_idle(
    servers: Iterable[Server],
    idle_share: float = 0.05,
    window_s: float = 0.25,
    timeout_s: float = 30,
) -> bool:
    """Wait until the servers together use under `idle_share` of a core over `window_s`; False
    when they were still busy after `timeout_s` (the measurement then goes ahead anyway).

    A server can still be working after its load ends (the naive server finishes the requests
    queued in its thread pool, TensorFlow on both cores): the next
    measurement would share the cores with it.
    """
    servers = list(servers)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        before = sum(server.cpu_s() for server in servers)
        time.sleep(window_s)
        if sum(server.cpu_s() for server in servers) - before < idle_share * window_s:
            return True
    return False


@contextmanager
def running(
    command: Sequence[str],
    port: int,
    ready_path: str,
    timeout_s: float = 180,
    env: Mapping[str, str] | None = None,
    poll_s: float = 0.3,
) -> Iterator[Server]:
    """Start `command` (a server on `port`), wait until `ready_path` answers 200 (asked every
    `poll_s`), stop it after. `env`: variables set for the server on top of this process's
    environment."""
    log = tempfile.TemporaryFile()  # noqa: SIM115 - outlives this block: read if the server dies
    process = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"server exited: {log.read().decode()[-2000:]}")
            try:
                if httpx.get(url + ready_path, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{command[0]} not ready after {timeout_s}s")
            time.sleep(poll_s)
        yield Server(url, process.pid)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


@dataclass(frozen=True)
class LoadResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int  # non-2xx answers and socket errors


def median_round(runs: Sequence[LoadResult]) -> LoadResult:
    """The round with the median requests/s (the lower one of an even count), its latencies
    with it; errors are those of every round, so that none is hidden by the choice."""
    ordered = sorted(runs, key=lambda run: run.requests_per_s)
    middle = ordered[(len(ordered) - 1) // 2]
    return dataclasses.replace(middle, errors=sum(run.errors for run in runs))


def wrk_post(
    url: str, body: bytes, concurrency: int, seconds: int, paths: Sequence[str] = ()
) -> LoadResult:
    """wrk with one thread and `concurrency` connections POSTing `body` for `seconds`; to
    `url`, or to each of `paths` (on `url`'s server) in turn."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed: apt-get install wrk")
    with tempfile.TemporaryDirectory() as folder:
        body_path = Path(folder) / "body.json"
        body_path.write_bytes(body)
        script = Path(folder) / "post.lua"
        script.write_text(
            'wrk.method = "POST"\n'
            'wrk.headers["Content-Type"] = "application/json"\n'
            f'local f = io.open("{body_path}", "rb")\n'
            "wrk.body = f:read('*all')\nf:close()\n" + _rotating(paths)
        )
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{concurrency}",
                f"-d{seconds}s",
                "--latency",
                "-s",
                str(script),
                url,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + 60,
        ).stdout
    return LoadResult(
        requests_per_s=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_latency_ms(out, "50%"),
        p99_ms=_latency_ms(out, "99%"),
        requests=int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        errors=_errors(out),
    )


def wrk_post_costed(
    server: Server, url: str, body: bytes, concurrency: int, seconds: int
) -> tuple[LoadResult, float]:
    """wrk_post to `url` on `server`, and the server's CPU seconds per request over the run
    (user + system, from /proc): what a request costs the server, which other work on a shared
    machine changes far less than the requests/s."""
    before = server.cpu_s()
    result = wrk_post(url, body, concurrency, seconds)
    return result, (server.cpu_s() - before) / max(result.requests, 1)


def _rotating(paths: Sequence[str]) -> str:
    """A wrk request function sending each request to the next of `paths` ('' for none)."""
    if not paths:
        return ""
    listed = ", ".join(f'"{path}"' for path in paths)
    return (
        f"local paths = {{{listed}}}\nlocal at = 0\n"
        "request = function()\n  at = at % #paths + 1\n"
        '  return wrk.format("POST", paths[at])\nend\n'
    )


def _latency_ms(out: str, percentile: str) -> float:
    value, unit = re.search(rf"{percentile}\s+([\d.]+)(us|ms|s)\b", out).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def _errors(out: str) -> int:
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return (int(non_2xx.group(1)) if non_2xx else 0) + (
        sum(int(n) for n in socket.groups()) if socket else 0
    )
