"""`rarewatch serve`: one uvicorn worker serving create_app(settings); `--demo` trains one first.

On SIGTERM (or SIGINT) readiness fails at once; uvicorn then stops accepting connections, lets
the requests in flight complete within RAREWATCH_SHUTDOWN_GRACE_S, and exits.
"""

from __future__ import annotations

import copy
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.util import find_spec
from types import FrameType
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from app.settings import Settings
from models.errors import InvalidInput, RarewatchError
from models.spec import validation_problem

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from app.api.registry import Registry

STARTUP_FAILURE = 3  # uvicorn's exit status when the app cannot start
DEMO_MODEL = "demo"
DEMO_DATA_FILE = "demo.csv"  # written next to the models, for trying `rarewatch score` on it


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Run the API until interrupted: one worker, since replicas scale better than workers here."""
    import uvicorn.config

    from app.api.main import create_app
    from app.api.memory import keep_freed_memory

    keep_freed_memory(settings.keep_freed_memory_mb)

    log_config = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    # rarewatch's own lines (models loaded or refused, error ids) in uvicorn's format
    log_config["loggers"]["rarewatch"] = {
        "handlers": ["default"],
        "level": "INFO",
        "propagate": False,
    }
    settings = listening_on(settings, host, port)
    app = create_app(settings)
    config = server_config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=log_config,
        access_log=settings.access_log,
    )
    server = graceful_server(config, app.state.registry)
    server.run()
    if not server.started:  # as uvicorn.run: the app failed to start
        sys.exit(STARTUP_FAILURE)


def listening_on(settings: Settings, host: str | None, port: int | None) -> Settings:
    """The settings with `serve --host/--port` in them, which win: the app is built knowing
    where it really listens (the Host allow-list's default depends on it)."""
    update = {"host": host or settings.host, "port": settings.port if port is None else port}
    try:
        return Settings.model_validate({**settings.model_dump(), **update})
    except ValidationError as exc:
        where, message = validation_problem(exc)
        raise InvalidInput(f"--{where}: {message}") from None


def server_config(app: FastAPI, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for create_app's `app`, from its settings: `rarewatch serve`'s
    and the in-thread server's alike, so that tests serve what users run. `options` are
    uvicorn.Config's (where to listen, logging)."""
    import uvicorn

    from app.api.http_protocol import protocol_for

    settings: Settings = app.state.settings
    return uvicorn.Config(
        app,
        workers=1,
        http=protocol_for(settings),
        timeout_keep_alive=settings.keep_alive_timeout_s,
        # X-Forwarded-For and -Proto are believed from the trusted proxies only
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=settings.trusted_proxies or None,
        timeout_graceful_shutdown=settings.shutdown_grace_s,
        **options,
    )


def graceful_server(config: uvicorn.Config, registry: Registry) -> uvicorn.Server:
    """uvicorn's Server, but readiness fails the moment the exit signal arrives, before the
    connections are drained (uvicorn's lifespan shutdown only runs after them)."""
    import uvicorn

    class GracefulServer(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            registry.stop()
            super().handle_exit(sig, frame)

    return GracefulServer(config)


def ensure_demo_model(settings: Settings, train_flags: Sequence[str] = ()) -> None:
    """Train the demo model on rarewatch's demo data unless the model folder already has one.

    `rarewatch demo-data` and `rarewatch train` do it in child processes, so the server never
    imports pandas or TensorFlow and does not keep them resident while it serves. `train_flags`
    are added to train's (tests ask for a small model)."""
    from models.artifact import ModelStore

    store = ModelStore(settings.model_dir)
    if DEMO_MODEL in store.names():
        _say(f"demo model found in {store.root}; not training it again")
        return
    missing = [m for m in ("pandas", "tensorflow", "keras") if find_spec(m) is None]
    if missing:  # a serve-only install has neither pandas nor TensorFlow
        raise InvalidInput(
            f"training the demo model needs the train extra ({missing[0]} is missing): "
            "pip install 'rarewatch[train]'"
        )
    data_path = store.root / DEMO_DATA_FILE
    store.root.mkdir(parents=True, exist_ok=True)
    _run_cli(["--model-dir", str(store.root), "demo-data", str(data_path)])
    _say(f"training the demo model on {data_path}; well under a minute on two cores")
    started = time.monotonic()
    trained = _run_cli(
        [
            *("--model-dir", str(store.root), "train", str(data_path), "--name", DEMO_MODEL),
            *("--time-column", "timestamp", "--label-column", "label", *train_flags),
        ]
    )
    _say(f"{trained.strip()} ({time.monotonic() - started:.0f}s)")


def _run_cli(args: list[str]) -> str:
    """`rarewatch ARGS` in a child process; its stdout. Its stderr (progress, errors) is ours."""
    child = subprocess.run(
        [sys.executable, "-m", "app.cli", *args], stdout=subprocess.PIPE, text=True, check=False
    )
    if child.returncode != 0:
        raise RarewatchError(
            f"`rarewatch {args[2]}` for the demo model failed (exit {child.returncode})"
        )
    return child.stdout


def _say(line: str) -> None:
    print(f"rarewatch serve: {line}", file=sys.stderr, flush=True)


@contextmanager
def serving_in_thread(app: FastAPI, start_timeout_s: float = 60.0) -> Iterator[str]:
    """`app` served by uvicorn in a thread on a port the OS picked; yields its URL and stops it
    after. For tests and tools that need a real server in-process (the port is bound before the
    server starts, so no other process can take it meanwhile)."""
    import socket
    import threading

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    config = server_config(app, log_level="warning", access_log=False)
    server = graceful_server(config, app.state.registry)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + start_timeout_s
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the in-thread server did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=start_timeout_s)
        sock.close()
        if thread.is_alive():
            raise RuntimeError("the in-thread server did not stop")
