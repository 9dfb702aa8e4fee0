"""The models served, by (name, version): every stored model found by a scan of the model
folder, loaded on first use and kept in a bounded least-recently-used set; a reload or a rescan
swaps in a new version only once it is verified (and, when it is in memory, loaded and warmed).

At start the folder is scanned: each model's newest version has its manifest checked and its
detector.json validated, and nothing is loaded, so a thousand models start in seconds. The first
request for a model loads and warms it (off the event loop; two first requests load it once);
past `max_loaded` models in memory, or past the memory budget (`max_loaded_mb`, by an estimate
of each model's size: models.loading.footprint), the least recently used one is unloaded, and
loaded again on its next request. A model whose artifact fails at its first load answers 503
model_unavailable from then on, listed with its reason, until a reload or a rescan finds a good
version.
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_right, insort
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from importlib import import_module
from importlib.util import find_spec

import numpy as np

from app.api.metrics import Metrics
from app.api.problems import ModelUnavailable, ReloadFailed
from models.artifact import NAME_PATTERN, ModelStore
from models.detector import Detector
from models.errors import ArtifactError, InvalidInput, ModelNotFound, RarewatchError
from models.loading import EngineChoice, footprint, load_detector
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


@dataclass(frozen=True, slots=True)
class Entry:
    """A model that is served: the version served by default, checked, loaded or not."""

    name: str
    version: int
    spec: DetectorSpec


class Registry:
    """Every servable model's default version (`catalog`), at most `max_loaded` of them in
    memory; `?version=` loads older ones on demand, at most `max_older` of those kept (least
    recently used goes first), so asking for many models cannot fill the memory.
    """

    def __init__(
        self,
        store: ModelStore,
        max_older: int = 2,
        engine: EngineChoice = EngineChoice.AUTO,
        max_loaded: int = 1000,
        metrics: Metrics | None = None,
        max_loaded_mb: float = 0.0,
    ) -> None:
        self.store, self.max_older, self.engine = store, max_older, engine
        self.max_loaded, self.metrics = max_loaded, metrics
        self.max_loaded_bytes = int(max_loaded_mb * 2**20)  # 0: no memory budget
        # set once the folder is scanned; cleared the moment shutdown begins (stop)
        self.serving = False
        self.stopping = False
        self._catalog: dict[str, Entry] = {}
        self._sorted: list[str] = []  # the catalog's names, for listing by pages
        self._loaded: OrderedDict[str, Detector] = OrderedDict()  # least recently used first
        self._sizes: dict[str, int] = {}  # name -> footprint of the detector in _loaded
        self.loaded_bytes = 0  # their sum: what the memory budget bounds
        self._older: OrderedDict[tuple[str, int], Detector] = OrderedDict()
        self._failed: dict[str, str] = {}  # name -> why it is not served (no paths)
        # name -> its newest stored version that failed: a rescan does not try it again
        self._refused: dict[str, int] = {}
        self._lock = threading.Lock()  # guards changes to the maps; lookups never wait for it
        self._loading: dict[tuple[str, int], threading.Lock] = {}  # one load per model at once
        self._reload_lock = threading.Lock()  # reloads and rescans one after the other

    @property
    def ready(self) -> bool:
        return self.serving and bool(self._catalog)

    def stop(self) -> None:
        """Readiness fails from now on: called the moment SIGTERM arrives, and at shutdown."""
        self.serving, self.stopping = False, True

    def scan(self) -> None:
        """Check the newest version of every stored model (manifest, detector.json) without
        loading it; a bad one is logged and listed as unavailable."""
        for name in self.store.names():
            with self._reload_lock:
                self._refresh(name)
        if (
            self._catalog
            and self.engine is not EngineChoice.TENSORFLOW
            and find_spec("onnxruntime")
        ):
            # imported now (a second or two), not by the first request's load
            for module in ("onnxruntime", "models.onnx_scoring"):
                import_module(module)
        log.info("serving %s, loaded on first use", plural(len(self._catalog), "model"))

    def rescan(self) -> None:
        """What SIGHUP and the periodic rescan do: every stored model and every served one is
        brought to its newest stored version (a model in memory is loaded and warmed before the
        swap, one not in memory is checked only); new models are found. A version refused once
        is not tried again (a newer one is, and so is the admin's reload of it)."""
        for name in sorted({*self.store.names(), *self._catalog, *self._failed}):
            with self._reload_lock:
                try:
                    if self._refused.get(name) == self._newest_stored(name):
                        continue  # refused already (logged then); a newer version is tried
                    if name in self._loaded:
                        self._reload(name)
                    else:
                        self._refresh(name)
                except RarewatchError as exc:  # broken new version, or a model gone
                    log.error("rescan: %s", exc.detail)  # noqa: TRY400 - the reason only

    def reload(self, name: str) -> Reload:
        """Serve the newest stored version of `name` once it is loaded, verified and warmed up.

        Blocking (call it off the event loop); two reloads never run at once. Requests keep
        getting the old version until the swap, one assignment; if anything fails, the old
        version stays and ReloadFailed says why.
        """
        with self._reload_lock:
            return self._reload(name)

    def _reload(self, name: str) -> Reload:
        current = self._catalog.get(name)
        version = self._newest_stored(name)
        if current is not None and current.version == version:
            return Reload(name, version, version, reloaded=False)
        try:
            detector = load_and_warm(self.store, name, version, self.engine)
        except Exception as exc:
            reason = self._reason(name, exc, version)
            self._count_failure(name)
            self._refused[name] = version
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
        self.add(detector)
        previous = None if current is None else current.version
        was = "not served before" if previous is None else f"was {previous}"
        log.info("model %r now serves version %d (%s)", name, version, was)
        return Reload(name, version, previous, reloaded=True)

    def _refresh(self, name: str) -> None:
        """Check the newest stored version of a model not in memory and serve it from now on
        (loaded on first use); on failure the version served so far stays, if any."""
        current = self._catalog.get(name)
        version = self._newest_stored(name)
        if current is not None and current.version == version:
            return
        try:
            spec = self.store.open(name, version).spec
        except Exception as exc:  # a broken artifact must not take the others down
            reason = self._reason(name, exc, version)
            self._count_failure(name)
            self._refused[name] = version
            if current is None:
                self._failed[name] = reason
                return
            raise ReloadFailed(
                f"model {name!r}: version {version} was not served ({reason}); version "
                f"{current.version} is still served"
            ) from None
        with self._lock:
            self._set_entry(Entry(name, version, spec))
            self._forget(name)  # an older version in memory; the new one loads lazily
        if current is not None:
            log.info("model %r now serves version %d (was %d)", name, version, current.version)

    def _newest_stored(self, name: str) -> int:
        try:
            versions = self.store.versions(name)
        except InvalidInput:
            versions = []
        if not versions:
            raise ModelNotFound(_not_found(name))
        return versions[-1]

    def _set_entry(self, entry: Entry) -> None:
        """Serve `entry` from now on (call with the lock held)."""
        if entry.name not in self._catalog:
            names = list(self._sorted)  # a new list: a listing in progress keeps its own
            insort(names, entry.name)
            self._sorted = names
        self._catalog[entry.name] = entry
        self._failed.pop(entry.name, None)
        self._refused.pop(entry.name, None)
        if self.metrics is not None:
            self.metrics.model_served(entry.name, entry.version, entry.spec.threshold.value)

    def _count_failure(self, name: str) -> None:
        if self.metrics is not None:
            self.metrics.model_failed(name)

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
        """Serve `detector` as its model's default version, in memory from now on."""
        with self._lock:
            self._set_entry(Entry(detector.name, detector.version, detector.spec))
            self._older.pop((detector.name, detector.version), None)
            self._keep(detector)
        if self.metrics is not None:
            self.metrics.model_loaded(detector.name)

    def _keep(self, detector: Detector) -> None:
        """Put a default version in memory, unloading the least recently used past the bound
        (call with the lock held)."""
        self._forget(detector.name)
        self._loaded[detector.name] = detector
        self._sizes[detector.name] = size = footprint(detector)
        self.loaded_bytes += size
        while len(self._loaded) > self.max_loaded or self._over_budget():
            evicted, old = self._loaded.popitem(last=False)
            self.loaded_bytes -= self._sizes.pop(evicted)
            log.info("unloaded model %r version %d (least recently used)", evicted, old.version)

    def _over_budget(self) -> bool:
        """Past the memory budget, with more than the model just loaded in memory."""
        budget = self.max_loaded_bytes
        return bool(budget) and self.loaded_bytes > budget and len(self._loaded) > 1

    def _forget(self, name: str) -> None:
        """A default version out of memory (call with the lock held)."""
        if self._loaded.pop(name, None) is not None:
            self.loaded_bytes -= self._sizes.pop(name)

    def names(self) -> list[str]:
        return list(self._sorted)

    def page(self, after: str | None, limit: int) -> tuple[list[Entry], str | None]:
        """Up to `limit` served models by name, after the name `after`; and the cursor of the
        next page (the last name listed), None on the last page."""
        names = self._sorted
        start = 0 if after is None else bisect_right(names, after)
        listed = [self._catalog[n] for n in names[start : start + limit] if n in self._catalog]
        more = start + limit < len(names)
        return listed, (listed[-1].name if more and listed else None)

    def unavailable(self) -> dict[str, str]:
        """The stored models that are not served, with the reason each failed to load."""
        return dict(sorted(self._failed.items()))

    def served(self) -> list[dict[str, str | int]]:
        """Every model served and its default version, in memory or not."""
        catalog = self._catalog
        return [{"name": n, "version": catalog[n].version} for n in self._sorted if n in catalog]

    def in_memory(self) -> list[tuple[str, int]]:
        """Every (name, version) in memory: the default versions, then older ones, least
        recently used first in each."""
        return [(d.name, d.version) for d in list(self._loaded.values())] + list(self._older)

    def entry(self, name: str) -> Entry:
        """The served model, loaded or not; ModelUnavailable or ModelNotFound when there is none."""
        entry = self._catalog.get(name)
        if entry is None:
            if name in self._failed:
                raise ModelUnavailable(f"model {name!r} failed to load; see the server log")
            raise ModelNotFound(_not_found(name))
        return entry

    def newest(self, name: str) -> Detector:
        """The default version, loaded if needed (blocking: call it off the loop)."""
        return self.get(name, None)

    def cached(self, name: str, version: int | None) -> Detector | None:
        """The detector if it is in memory; None when `get` would have to load it."""
        entry = self.entry(name)
        if version is None or version == entry.version:
            detector = self._loaded.get(name)
            if detector is not None and detector.version == entry.version:
                # the most recently used now; unloaded by a load in a thread meanwhile, it is
                # still served to this request
                with suppress(KeyError):
                    self._loaded.move_to_end(name)
                return detector
            return None
        return self._older.get((name, version))

    def get(self, name: str, version: int | None) -> Detector:
        """The detector, loading it if needed (blocking: call it off the loop). Two requests
        for a model not in memory load it once: the second waits for the first's load."""
        detector = self.cached(name, version)
        if detector is not None:
            return detector
        entry = self.entry(name)
        key = (name, entry.version if version is None else version)
        with self._load_lock(key):
            detector = self.cached(name, version)  # loaded meanwhile by the request before
            if detector is not None:
                return detector
            if key[1] == entry.version:
                return self._load_default(entry)
            return self._load_older(name, key[1])

    def _load_default(self, entry: Entry) -> Detector:
        try:
            detector = load_and_warm(self.store, entry.name, entry.version, self.engine)
        except Exception as exc:  # its own answer from now on; the others serve on
            reason = self._reason(entry.name, exc, entry.version)
            self._count_failure(entry.name)
            self._refused[entry.name] = entry.version
            with self._lock:
                if self._catalog.get(entry.name) is entry:  # not replaced by a reload meanwhile
                    del self._catalog[entry.name]
                    self._sorted = [n for n in self._sorted if n != entry.name]
                    self._failed[entry.name] = reason
            raise ModelUnavailable(
                f"model {entry.name!r} failed to load; see the server log"
            ) from None
        with self._lock:
            if self._catalog.get(entry.name) is entry:
                self._keep(detector)
        if self.metrics is not None:
            self.metrics.model_loaded(entry.name)
        return detector

    def _load_older(self, name: str, version: int) -> Detector:
        key = (name, version)
        self.check_version(name, version)
        with _unavailable_if_broken(name, version):
            detector = load_and_warm(self.store, name, version, self.engine)
        with self._lock:
            self._older[key] = detector
            while len(self._older) > self.max_older:
                evicted, _ = self._older.popitem(last=False)
                log.info("unloaded model %r version %d", *evicted)
        return detector

    @contextmanager
    def _load_lock(self, key: tuple[str, int]) -> Iterator[None]:
        """The lock of one (name, version) while it loads; dropped once no load waits on it."""
        with self._lock:
            lock = self._loading.setdefault(key, threading.Lock())
        try:
            with lock:
                yield
        finally:
            with self._lock:
                if not lock.locked():
                    self._loading.pop(key, None)

    def versions(self, name: str) -> list[int]:
        self.entry(name)
        return self.store.versions(name)

    def check_version(self, name: str, version: int) -> None:
        versions = self.versions(name)
        if version not in versions:
            listed = ", ".join(map(str, versions))
            raise ModelNotFound(f"model {name!r} has no version {version} (versions: {listed})")

    def spec(self, name: str, version: int | None) -> tuple[int, DetectorSpec]:
        """A version's description, without loading its network."""
        entry = self.entry(name)
        if version is None or version == entry.version:
            return entry.version, entry.spec
        detector = self._older.get((name, version))
        if detector is not None:
            return detector.version, detector.spec
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
