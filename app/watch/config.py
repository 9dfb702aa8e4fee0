"""The watch's configuration (watch.yaml): read, validated, checked against the stored models."""

from __future__ import annotations

import re
import ssl
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from models.errors import InvalidInput

if TYPE_CHECKING:
    from models.artifact import ModelStore
    from models.detector import Detector

# Prometheus answers at most this many points per series and query (its own limit)
MAX_POINTS = 11_000
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


def seconds(value: Any) -> Any:
    """A duration as Prometheus writes one (`15s`, `1m30s`, `7d`) or a number of seconds."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return value  # pydantic says what is wrong with it
    if not isinstance(value, str):
        return float(value)
    text = value.strip()
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"expected a duration like 15s, 5m or 1h30m, got {value!r}")
    return sum(float(number) * _UNITS[unit] for number, unit in parts)


Seconds = Annotated[float, BeforeValidator(seconds), Field(gt=0)]


class FlagsKept(StrEnum):
    """How long a flagged row stays out of the refits."""

    # until the next fit that succeeds: the "flagged since the last fit"
    UNTIL_FIT = "until_fit"
    # as long as it is inside the fit window, whichever version flagged it: a long fault the
    # version in use stopped flagging is not learned as normal by the fits after it
    IN_FIT_WINDOW = "in_fit_window"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BasicAuth(_Strict):
    username: str = Field(min_length=1)
    password: SecretStr


class Connection(_Strict):
    """How to reach an HTTP endpoint: its URL, credentials, CA and timeout."""

    url: str = Field(pattern=r"^https?://\S+$")
    bearer_token: SecretStr | None = None
    basic_auth: BasicAuth | None = None
    ca_file: Path | None = None  # a private CA for an https url
    timeout_s: Seconds = 10.0

    @model_validator(mode="after")
    def _one_credential(self) -> Self:
        if self.bearer_token is not None and self.basic_auth is not None:
            raise ValueError("give bearer_token or basic_auth, not both")
        return self

    @field_validator("ca_file")
    @classmethod
    def _a_ca(cls, path: Path | None) -> Path | None:
        # loaded here, so that a bad file is refused by its key at start, not by a traceback
        # once the models are loaded and the reader's client made
        if path is None:
            return path
        if not path.is_file():
            raise ValueError(f"{str(path)!r} is not a file")
        try:
            ssl.create_default_context(cafile=str(path))
        except ssl.SSLError:
            raise ValueError(f"{str(path)!r} holds no PEM certificate") from None
        except OSError as exc:
            raise ValueError(f"{str(path)!r} cannot be read ({exc.strerror})") from None
        return path


class PrometheusConfig(Connection):
    """Prometheus's base URL, e.g. http://prometheus:9090."""


class RemoteWriteConfig(Connection):
    """Where the scores are also written, e.g. http://prometheus:9090/api/v1/write."""

    labels: dict[str, str] = Field(
        default_factory=dict, description="added to every series written, e.g. {source: watch}"
    )


class WatchedModel(_Strict):
    model: str = Field(min_length=1)
    queries: dict[str, str] | None = Field(
        default=None, description="one PromQL query per feature: {feature: query}"
    )
    query: str | None = Field(default=None, description="one query whose label picks the feature")
    feature_label: str | None = None
    keep: dict[str, str] = Field(
        default_factory=dict, description="label selectors: only series with these labels count"
    )
    step: Seconds
    infer_every: Seconds
    fit_every: Seconds | None = None
    fit_window: Seconds | None = None
    fit_timeout: Seconds | None = Field(
        default=None, description="how long one fit may run before it is stopped (fit_every)"
    )
    keep_versions: int = Field(default=5, ge=1)
    flags_kept: FlagsKept = Field(
        default=FlagsKept.UNTIL_FIT,
        description="rows flagged anomalous stay out of the refits until the next fit "
        "(until_fit) or as long as they are inside fit_window (in_fit_window)",
    )

    @model_validator(mode="after")
    def _one_query_form(self) -> Self:
        if (self.queries is None) == (self.query is None):
            raise ValueError("give either queries (one per feature) or query with feature_label")
        if self.query is not None and not self.feature_label:
            raise ValueError("query needs feature_label (the label that names the feature)")
        if self.queries is not None and self.feature_label is not None:
            raise ValueError("feature_label goes with query, not with queries")
        if (self.fit_every is None) != (self.fit_window is None):
            raise ValueError("fit_every and fit_window go together")
        if self.fit_timeout is not None and self.fit_every is None:
            raise ValueError("fit_timeout goes with fit_every and fit_window")
        if self.fit_window is not None and self.fit_window / self.step > MAX_POINTS:
            raise ValueError(
                f"fit_window is more than {MAX_POINTS} steps (Prometheus's limit per query)"
            )
        return self


class Listen(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(default=9108, ge=0, le=65535)


class WatchConfig(_Strict):
    prometheus: PrometheusConfig
    models: list[WatchedModel] = Field(min_length=1)
    listen: Listen = Listen()
    remote_write: RemoteWriteConfig | None = None
    top_features: int = Field(default=3, ge=1, description="feature shares exported per model")

    @model_validator(mode="after")
    def _names_once(self) -> Self:
        names = [watched.model for watched in self.models]
        if len(set(names)) != len(names):
            raise ValueError("each model is watched once")
        return self


def read_config(path: Path) -> WatchConfig:
    """The config in `path`; any fault is InvalidInput naming the file and the key."""
    import yaml

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = "" if mark is None else f" at line {mark.line + 1}"
        raise InvalidInput(f"{path}: not valid YAML{where}") from None
    try:
        return WatchConfig.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        key = key_path(error["loc"])
        raise InvalidInput(f"{path}: {key or 'the file'}: {_message(error['msg'])}") from None


def key_path(loc: tuple[int | str, ...]) -> str:
    """pydantic's location as the config writes it: `models[0].step`."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _message(msg: str) -> str:
    return msg.removeprefix("Value error, ")


def load_watched(config: WatchConfig, store: ModelStore) -> list[Detector]:
    """Each watched model loaded as the server loads it, in the config's order; a model that is
    not stored, or whose queries do not name exactly its features, is InvalidInput naming the
    key."""
    from models.loading import load_detector

    detectors = []
    for i, watched in enumerate(config.models):
        key = f"models[{i}]"
        if watched.model not in store.names():
            raise InvalidInput(f"{key}.model: no model {watched.model!r} in {store.root}")
        detector = load_detector(store, watched.model)
        if watched.queries is not None and set(watched.queries) != set(detector.features):
            missing = sorted(set(detector.features) - set(watched.queries))
            extra = sorted(set(watched.queries) - set(detector.features))
            said = "; ".join(
                part
                for part in (
                    missing and f"missing {', '.join(missing)}",
                    extra and f"not features of the model: {', '.join(extra)}",
                )
                if part
            )
            raise InvalidInput(
                f"{key}.queries: must name exactly the features of {watched.model!r} "
                f"({', '.join(detector.features)}): {said}"
            )
        detectors.append(detector)
    return detectors
