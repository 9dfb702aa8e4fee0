"""What one overload refusal costs inside the app: the ASGI app called directly, no socket.

    python -m bench.perf.refusal [--calls 20000]
    PYTHONPATH=/other/checkout python -P bench/perf/refusal.py   # that checkout's app

create_app with an empty model folder and its admission queue marked full, then a /detect/last
POST sent straight to the app `--calls` times (after 2,000 unmeasured): microseconds per
refusal. uvicorn's own share of a request (parsing, the task, the write) is not in it.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from typing import Any

from app.api.main import create_app
from app.settings import Settings

BODY = b'{"values": [[1.0, 2.0, 3.0]]}'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(Settings(model_dir=folder))
        admission = app.state.admission
        admission.admitted = admission.max_concurrent + admission.max_queued  # full
        statuses: list[int] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": BODY, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        def scope() -> dict[str, Any]:
            path = "/v1/models/article/detect/last"
            return {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "POST",
                "scheme": "http",
                "path": path,
                "raw_path": path.encode(),
                "query_string": b"",
                "root_path": "",
                "headers": [
                    (b"host", b"127.0.0.1:8000"),
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(BODY)).encode()),
                ],
                "client": ("127.0.0.1", 50000),
                "server": ("127.0.0.1", 8000),
                "state": {},
            }

        async def refusals(n: int) -> float:
            started = time.perf_counter()
            for _ in range(n):
                await app(scope(), receive, send)
            return time.perf_counter() - started

        asyncio.run(refusals(2_000))
        seconds = asyncio.run(refusals(args.calls))
    assert set(statuses) == {503}, set(statuses)
    print(f"{seconds / args.calls * 1e6:.1f} us per refusal ({args.calls:,} calls)")


if __name__ == "__main__":
    main()
