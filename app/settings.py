"""Settings from the environment (RAREWATCH_ prefix), one object handed to whoever needs it."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.loading import EngineChoice


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAREWATCH_", extra="ignore")

    model_dir: Path = Path("artifacts")
    # `rarewatch serve` binds here unless --host / --port say otherwise
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # a larger request body is refused with 413 before it is parsed
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1)
    # how many of a window's largest feature contributions a detection result lists
    top_features: int = Field(default=3, ge=1)
    # the newest version of every model is loaded at start; older versions asked for with
    # ?version= are loaded on demand and at most this many of them are kept
    max_older_versions: int = Field(default=2, ge=0)
    # auto: ONNX Runtime for artifacts that carry an ONNX graph (and onnxruntime is installed),
    # else the traced TensorFlow function; onnx or tensorflow force one
    engine: EngineChoice = EngineChoice.AUTO
