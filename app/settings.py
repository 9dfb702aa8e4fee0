"""Settings from the environment (RAREWATCH_ prefix), one object handed to whoever needs it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from models.loading import EngineChoice

# comma-separated in the environment (RAREWATCH_API_KEYS=k1,k2), a list in code
CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAREWATCH_", extra="ignore")

    model_dir: Path = Path("artifacts")
    # `rarewatch serve` binds here unless --host / --port say otherwise
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # a larger request body is refused with 413 before it is parsed
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1)
    # per request, checked on the parsed body before it is validated (413 past them): rows of a
    # series, values per row (or features of `series`), windows sent to /windows
    max_rows: int = Field(default=100_000, ge=1)
    max_features: int = Field(default=1_000, ge=1)
    max_windows: int = Field(default=10_000, ge=1)
    # overload: at most this many detection requests are parsed and scored at once; up to
    # max_queued_requests more wait (or are still being received); past both, 503 with
    # Retry-After at once. Health and model descriptions bypass the bound.
    max_concurrent_inferences: int = Field(default=4, ge=1)
    max_queued_requests: int = Field(default=16, ge=0)
    retry_after_s: int = Field(default=1, ge=1)
    # how long a detection request may wait for an inference slot (503 past it); scoring
    # itself is bounded by the row and window limits
    request_timeout_s: float = Field(default=30.0, gt=0)
    # --- connections, slow senders and Host names (docs/reliability.md, "Slow senders") ---
    # a request's headers must be in this long after its first byte (or after the connection
    # opened): past it the connection is closed, so idle and half-sent ones cannot pile up
    header_timeout_s: float = Field(default=10.0, gt=0)
    # an idle connection between two requests is closed after this (uvicorn's keep-alive)
    keep_alive_timeout_s: int = Field(default=5, ge=1)
    # a detection request's body must be in this long after its headers (408 past it); it is
    # read before the request takes a place in the queue, so a slow sender holds none
    body_timeout_s: float = Field(default=10.0, gt=0)
    # connections one client address may hold open at once; past it, a new one is closed at
    # once (file descriptors are the server's, and one client must not take them all)
    max_connections_per_client: int = Field(default=1024, ge=1)
    # detection bodies one client address may have arriving at once (503 past it)
    max_body_reads_per_client: int = Field(default=8, ge=1)
    # bytes that all the bodies still arriving may hold together (503 past it); never less
    # than max_body_bytes, so that a body of the largest size can always be read
    max_reading_bytes: int = Field(default=64 * 1024 * 1024, ge=1)
    # Host header names served besides loopback names and, when `host` is not a loopback
    # address, IP addresses and names without a dot (which a DNS-rebinding page cannot use);
    # "*" serves any name. Other names get 400 (app/api/hosts.py).
    allowed_hosts: CommaList = []
    # addresses of reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed;
    # none by default ("*": any, only where nothing but the proxy can reach the server)
    trusted_proxies: CommaList = []
    # on SIGTERM readiness fails at once; requests in flight get this long to complete
    shutdown_grace_s: int = Field(default=30, ge=0)
    # optional: when set, /v1 routes need one of these keys (X-API-Key or Authorization: Bearer)
    api_keys: CommaList = Field(default=[], repr=False)
    # model administration (reload) needs this key, and it opens nothing else; without one
    # reloading is refused over HTTP (SIGHUP still reloads)
    admin_key: SecretStr | None = None
    # a key that opens /metrics only (the scraper's, least privilege); /metrics needs it or an
    # API key once either is set (docs/reliability.md)
    metrics_key: SecretStr | None = None
    # browser origins allowed by CORS; none by default (credentials are never allowed)
    cors_origins: CommaList = []
    # true: a detection request naming a column that is not a model feature is refused (422
    # feature_mismatch) unless it says `strict: false`; false: such columns are ignored and
    # listed in the answer's ignored_columns
    strict_columns: bool = False
    # how many of a window's largest feature contributions a detection result lists
    top_features: int = Field(default=3, ge=1)
    # every model's newest version is checked at start and loaded on its first request; at
    # most this many are kept in memory, the least recently used unloaded first (and loaded
    # again on its next request)
    max_loaded_models: int = Field(default=1000, ge=1)
    # MiB that the models in memory may take together, by an estimate of each (its weights twice
    # plus an engine's overhead, models.loading.footprint); past it the least recently used are
    # unloaded as past max_loaded_models (the one just loaded always stays). 0: no memory budget
    max_loaded_models_mb: float = Field(default=0.0, ge=0)
    # older versions asked for with ?version= are loaded on demand and at most this many of
    # them are kept
    max_older_versions: int = Field(default=2, ge=0)
    # seconds between two rescans of the model folder (new models, new versions), as on
    # SIGHUP; 0: only on SIGHUP
    rescan_interval_s: float = Field(default=0.0, ge=0)
    # auto: ONNX Runtime for artifacts that carry an ONNX graph (and onnxruntime is installed),
    # else the traced TensorFlow function; onnx or tensorflow force one
    engine: EngineChoice = EngineChoice.AUTO
    # a line per request on stdout (uvicorn's access log). Off by default: at dashboard-refresh
    # rates it costs about a tenth of /detect/last's throughput (docs/benchmarks.md), and
    # /metrics already counts every request by route, status and latency. Errors are logged
    # either way.
    access_log: bool = False
    # MiB of freed memory the serving process keeps for its next request instead of giving it
    # back to the OS (glibc only; 0: glibc's defaults). Without it some server processes
    # faulted in fresh pages on every large /detect request (app/api/memory.py).
    keep_freed_memory_mb: int = Field(default=64, ge=0)

    @field_validator("api_keys", "cors_origins", "allowed_hosts", "trusted_proxies", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("admin_key", "metrics_key", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value
