"""The loaded detectors by (name, version): each model's newest version, older ones on demand."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from app.problems import ModelUnavailable
from models.artifact import NAME_PATTERN, ModelStore
from models.detector import Detector
from models.errors import ArtifactError, ModelNotFound
from models.loading import EngineChoice, load_detector
from models.spec import DetectorSpec

log = logging.getLogger("rarewatch.registry")


class Registry:
    """Loads every model's newest version at start; `?version=` loads older ones lazily.

    At most `max_older` versions besides the newest are kept (least recently used goes first),
    so asking for many old versions cannot fill the memory.
    """

    def __init__(
        self, store: ModelStore, max_older: int = 2, engine: EngineChoice = EngineChoice.AUTO
    ) -> None:
        self.store, self.max_older, self.engine = store, max_older, engine
        self.ready = False
        self._newest: dict[str, Detector] = {}
        self._older: OrderedDict[tuple[str, int], Detector] = OrderedDict()
        self._failed: dict[str, str] = {}
        self._lock = threading.Lock()  # one load at a time; lookups never wait for it

    def load_all(self) -> None:
        """Load and warm the newest version of every stored model; a bad one is logged, skipped."""
        for name in self.store.names():
            try:
                self.add(load_and_warm(self.store, name, None, self.engine))
            except Exception as exc:  # a broken artifact must not take the others down
                detail = getattr(exc, "detail", None) or f"{type(exc).__name__}: {exc}"
                log.error("model %r is not served: %s", name, detail)
                self._failed[name] = detail
        log.info("serving %d model(s)", len(self._newest))

    def add(self, detector: Detector) -> None:
        self._newest[detector.name] = detector

    def names(self) -> list[str]:
        return sorted(self._newest)

    def unavailable(self) -> list[str]:
        return sorted(self._failed)

    def loaded_models(self) -> list[dict[str, str | int]]:
        return [{"name": d.name, "version": d.version} for d in self._newest.values()]

    def in_memory(self) -> list[tuple[str, int]]:
        """Every (name, version) in memory: the newest ones, then older ones, least recent first."""
        return [(d.name, d.version) for d in self._newest.values()] + list(self._older)

    def newest(self, name: str) -> Detector:
        detector = self._newest.get(name)
        if detector is None:
            if name in self._failed:
                raise ModelUnavailable(f"model {name!r} failed to load; see the server log")
            raise ModelNotFound(_not_found(name))
        return detector

    def cached(self, name: str, version: int | None) -> Detector | None:
        """The detector if it is in memory; None when `get` would have to load it."""
        newest = self.newest(name)
        if version is None or version == newest.version:
            return newest
        return self._older.get((name, version))

    def get(self, name: str, version: int | None) -> Detector:
        """The detector, loading an older version if needed (blocking: call it off the loop)."""
        detector = self.cached(name, version)
        if detector is not None:
            return detector
        assert version is not None
        with self._lock:
            key = (name, version)
            if key not in self._older:
                self.check_version(name, version)
                with _unavailable_if_broken(name, version):
                    self._older[key] = load_and_warm(self.store, name, version, self.engine)
                while len(self._older) > self.max_older:
                    evicted, _ = self._older.popitem(last=False)
                    log.info("unloaded model %r version %d", *evicted)
            self._older.move_to_end(key)
            return self._older[key]

    def versions(self, name: str) -> list[int]:
        self.newest(name)
        return self.store.versions(name)

    def check_version(self, name: str, version: int) -> None:
        versions = self.versions(name)
        if version not in versions:
            listed = ", ".join(map(str, versions))
            raise ModelNotFound(f"model {name!r} has no version {version} (versions: {listed})")

    def spec(self, name: str, version: int | None) -> tuple[int, DetectorSpec]:
        """A version's description, without loading its network when it is not in memory."""
        detector = self.cached(name, version)
        if detector is not None:
            return detector.version, detector.spec
        assert version is not None
        self.check_version(name, version)
        with _unavailable_if_broken(name, version):
            return version, self.store.open(name, version).spec


def load_and_warm(
    store: ModelStore, name: str, version: int | None, engine: EngineChoice = EngineChoice.AUTO
) -> Detector:
    """Load a model and run the whole scoring path once: the first request is not the slow one."""
    detector = load_detector(store, name, version, engine)
    normal_row = np.asarray(detector.spec.scaler.mean)
    detector.detect(np.tile(normal_row, (detector.lookback + 1, 1)))
    log.info(
        "loaded model %r version %d (%s engine)",
        detector.name,
        detector.version,
        detector.engine.name,
    )
    return detector


@contextmanager
def _unavailable_if_broken(name: str, version: int) -> Iterator[None]:
    """A broken stored version: the details (paths included) go to the log, not to the client."""
    try:
        yield
    except ArtifactError as exc:
        log.error("model %r version %d is not served: %s", name, version, exc.detail)
        raise ModelUnavailable(
            f"model {name!r} version {version} failed to load; see the server log"
        ) from None


def _not_found(name: str) -> str:
    if NAME_PATTERN.fullmatch(name):
        return f"no model named {name!r}"
    return "no model has that name (names are 1-64 letters, digits, '.', '_' or '-')"
