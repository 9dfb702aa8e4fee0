"""Settings from the environment (RAREWATCH_ prefix), one object handed to whoever needs it."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAREWATCH_", extra="ignore")

    model_dir: Path = Path("artifacts")
