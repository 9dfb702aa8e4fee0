"""The loaded detectors by (name, version): each model's newest version, older ones on demand,
and the reload that swaps in a new version only once it is loaded, verified and warmed up."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from app.api.problems import ModelUnavailable, ReloadFailed
from models.artifact import NAME_PATTERN, ModelStore
from models.detector import Detector
from models.errors import ArtifactError, InvalidInput, ModelNotFound, RarewatchError
from models.loading import EngineChoice, load_detector
from models.spec import DetectorSpec
from models.wording import plural

log = logging.getLogger("rarewatch.registry")

MAX_REASON_TEXT = 300  # a failure's reason, as /readyz and GET /v1/models show it


@dataclass(frozen=True, slots=True)
class Reload:
    name: str
    version: int  # served now
    previous_version: int | None  # served before; None when the model was not served
    reloaded: bool  # False when the newest stored version was already the one served


class Registry:
    """Loads every model's newest version at start; `?version=` loads older ones lazily.

    At most `max_older` versions besides the newest are kept (least recently used goes first),
    so asking for many old versions cannot fill the memory.
    """

    def __init__(
        self, store: ModelStore, max_older: int = 2, engine: EngineChoice = EngineChoice.AUTO
    ) -> None:
        self.store, self.max_older, self.engine = store, max_older, engine
        # set once the models are warmed up; cleared the moment shutdown begins (stop)
        self.serving = False
        self.stopping = False
        self._newest: dict[str, Detector] = {}
        self._older: OrderedDict[tuple[str, int], Detector] = OrderedDict()
        self._failed: dict[str, str] = {}  # name -> why it is not served (no paths)
        self._lock = threading.Lock()  # one load at a time; lookups never wait for it
        self._reload_lock = threading.Lock()  # reloads one after the other

    @property
    def ready(self) -> bool:
        return self.serving and bool(self._newest)

    def stop(self) -> None:
        """Readiness fails from now on: called the moment SIGTERM arrives, and at shutdown."""
        self.serving, self.stopping = False, True

    def load_all(self) -> None:
        """Load and warm the newest version of every stored model; a bad one is logged, skipped."""
        for name in self.store.names():
            try:
                self.add(load_and_warm(self.store, name, None, self.engine))
            except Exception as exc:  # a broken artifact must not take the others down
                self._failed[name] = self._reason(name, exc)
        log.info("serving %s", plural(len(self._newest), "model"))

    def reload(self, name: str) -> Reload:
        """Serve the newest stored version of `name` once it is loaded, verified and warmed up.

        Blocking (call it off the event loop); two reloads never run at once. Requests keep
        getting the old version until the swap, one assignment; if anything fails, the old
        version stays and ReloadFailed says why.
        """
        with self._reload_lock:
            current = self._newest.get(name)
            try:
                versions = self.store.versions(name)
            except InvalidInput:
                versions = []
            if not versions:
                raise ModelNotFound(_not_found(name))
            version = versions[-1]
            if current is not None and current.version == version:
                return Reload(name, version, version, reloaded=False)
            try:
                detector = load_and_warm(self.store, name, version, self.engine)
            except Exception as exc:
                reason = self._reason(name, exc, version)
                if current is None:
                    self._failed[name] = reason
                kept = (
                    "the model is not served"
                    if current is None
                    else f"version {current.version} is still served"
                )
                raise ReloadFailed(
                    f"model {name!r}: version {version} was not loaded ({reason}); {kept}"
                ) from None
            with self._lock:
                self._older.pop((name, version), None)
                self._newest[name] = detector
            self._failed.pop(name, None)
            previous = None if current is None else current.version
            was = "not served before" if previous is None else f"was {previous}"
            log.info("model %r now serves version %d (%s)", name, version, was)
            return Reload(name, version, previous, reloaded=True)

    def reload_names(self) -> list[str]:
        """What SIGHUP reloads: every stored model, and every served one (kept if it vanished)."""
        return sorted({*self.store.names(), *self._newest, *self._failed})

    def _reason(self, name: str, exc: Exception, version: int | None = None) -> str:
        """Why a model failed to load: logged in full, returned without the model folder's path.

        A stored version's defects are ArtifactError (models/artifact.py, models/loading.py),
        with their reason; anything else is a bug, whose traceback goes to the log only."""
        which = "" if version is None else f" version {version}"
        if isinstance(exc, RarewatchError):
            detail = exc.detail
            log.error("model %r%s is not served: %s", name, which, detail)
        else:
            detail = f"model {name!r}{which}: an unexpected error; see the server log"
            log.error("model %r%s is not served", name, which, exc_info=exc)
        roots = {str(self.store.root.resolve()), str(self.store.root.absolute())}
        for root in sorted(roots, key=len, reverse=True):  # longest first: no partial replaces
            detail = detail.replace(root, "$RAREWATCH_MODEL_DIR")
        return detail[:MAX_REASON_TEXT]

    def add(self, detector: Detector) -> None:
        self._newest[detector.name] = detector

    def names(self) -> list[str]:
        return sorted(self._newest)

    def unavailable(self) -> dict[str, str]:
        """The stored models that are not served, with the reason each failed to load."""
        return dict(sorted(self._failed.items()))

    def loaded_models(self) -> list[dict[str, str | int]]:
        return [{"name": d.name, "version": d.version} for d in list(self._newest.values())]

    def in_memory(self) -> list[tuple[str, int]]:
        """Every (name, version) in memory: the newest ones, then older ones, least recent first."""
        return [(d.name, d.version) for d in list(self._newest.values())] + list(self._older)

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
        log.error(  # noqa: TRY400 - the artifact's fault in one line, not a traceback
            "model %r version %d is not served: %s", name, version, exc.detail
        )
        raise ModelUnavailable(
            f"model {name!r} version {version} failed to load; see the server log"
        ) from None


def _not_found(name: str) -> str:
    if NAME_PATTERN.fullmatch(name):
        return f"no model named {name!r}"
    return "no model has that name (names are 1-64 letters, digits, '.', '_' or '-')"
