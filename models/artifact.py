"""Stored models: artifacts/NAME/VERSION/ with detector.json, weights.npz and a SHA-256 manifest.

An artifact is data, never code: the network is rebuilt from detector.json by our own code and
only weight arrays are read (numpy, allow_pickle=False); model.onnx, when present, is a graph
that ONNX Runtime evaluates, never Python. The manifest is checked before any parser touches a
file. Both JSON files are validated at this boundary (pydantic models): whatever is wrong with a
stored version, reading it raises ArtifactError with a one-line reason naming the file. Writes are
atomic: a temporary directory renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import numpy as np
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from models.errors import ArtifactError, InvalidInput, ModelNotFound
from models.spec import DetectorSpec, validation_problem

SPEC_FILE = "detector.json"
WEIGHTS_FILE = "weights.npz"
MANIFEST_FILE = "manifest.json"
ONNX_FILE = "model.onnx"  # optional: artifacts written without an exporter have none
RESERVED_FILES = (SPEC_FILE, WEIGHTS_FILE, ONNX_FILE)
EXTRA_FILE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
# what np.load and zipfile raise for a weights file that is not the arrays it should be
_UNREADABLE_WEIGHTS = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)


class Manifest(BaseModel):
    """manifest.json: every file of the version (no folders, nothing hidden) and its SHA-256."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    algorithm: Literal["sha256"] = "sha256"
    files: dict[
        Annotated[str, StringConstraints(pattern=EXTRA_FILE_PATTERN.pattern)],
        Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")],
    ]


_File = TypeVar("_File", Manifest, DetectorSpec)


def check_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name):
        raise InvalidInput(
            f"invalid model name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class StoredModel:
    """A version whose manifest has been checked and whose detector.json is valid."""

    name: str
    version: int
    path: Path
    spec: DetectorSpec
    files: dict[str, str]  # file name -> SHA-256, from the manifest

    @property
    def where(self) -> str:
        return f"model {self.name!r} version {self.version}"

    def weights(self) -> list[np.ndarray]:
        try:
            # our own handle: np.load leaves its own open when the zip is broken
            with (self.path / WEIGHTS_FILE).open("rb") as handle:
                arrays = np.load(handle, allow_pickle=False)
                if not isinstance(arrays, np.lib.npyio.NpzFile):  # one .npy array, not an archive
                    raise ArtifactError(f"{self.where}: {WEIGHTS_FILE} is not an .npz archive")
                return [arrays[key] for key in sorted(arrays.files)]
        except _UNREADABLE_WEIGHTS as exc:
            reason = " ".join(str(exc).split()) or "not a numpy .npz file"
            raise ArtifactError(f"{self.where}: {WEIGHTS_FILE} cannot be read: {reason}") from exc

    def onnx(self) -> bytes | None:
        """The ONNX graph, checked against the manifest as read; None when there is none."""
        if ONNX_FILE not in self.files:
            return None
        try:
            data = (self.path / ONNX_FILE).read_bytes()
        except OSError as exc:
            raise ArtifactError(f"{self.where}: {ONNX_FILE} is missing or unreadable") from exc
        if hashlib.sha256(data).hexdigest() != self.files[ONNX_FILE]:
            raise ArtifactError(f"{self.where}: {ONNX_FILE} does not match its SHA-256")
        return data


class ModelStore:
    """The folder of models (RAREWATCH_MODEL_DIR): names, versions, atomic writes, checked reads."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(
            p.name
            for p in self.root.iterdir()
            if NAME_PATTERN.fullmatch(p.name) and self.versions(p.name)
        )

    def versions(self, name: str) -> list[int]:
        folder = self.root / check_name(name)
        if not folder.is_dir():
            return []
        return sorted(int(p.name) for p in folder.iterdir() if p.name.isdigit() and p.is_dir())

    def resolve(self, name: str, version: int | None = None) -> tuple[int, Path]:
        """The version asked for, or the newest; ModelNotFound when there is none."""
        versions = self.versions(name)
        if not versions:
            raise ModelNotFound(f"no model named {name!r} in {self.root}")
        if version is None:
            version = versions[-1]
        elif version not in versions:
            raise ModelNotFound(
                f"model {name!r} has no version {version} "
                f"(versions: {', '.join(map(str, versions))})"
            )
        return version, self.root / name / str(version)

    def write(
        self,
        name: str,
        spec: DetectorSpec,
        weights: list[np.ndarray],
        onnx: bytes | None = None,
        extra_files: dict[str, bytes] | None = None,
    ) -> tuple[int, Path]:
        """Write a new version atomically; returns (version, path).

        `extra_files` (a training report, say) are stored and listed in the manifest too; they
        are for people, never read back by rarewatch.
        """
        folder = self.root / check_name(name)
        folder.mkdir(parents=True, exist_ok=True)
        staging = folder / f".tmp-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            _write_files(staging, spec, weights, onnx, extra_files or {})
            version = (self.versions(name) or [0])[-1] + 1
            while True:  # another writer may take a version between our look and our rename
                target = folder / str(version)
                try:
                    os.rename(staging, target)
                except OSError:
                    if not target.exists():
                        raise
                    version += 1
                    continue
                _fsync_dir(folder)
                return version, target
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def open(self, name: str, version: int | None = None) -> StoredModel:
        """Check the manifest, then parse and validate detector.json."""
        version, path = self.resolve(name, version)
        where = f"model {name!r} version {version}"
        files = verify_manifest(path, where)
        spec = read_validated(DetectorSpec, path / SPEC_FILE, where)
        return StoredModel(name, version, path, spec, files)

    def read(
        self, name: str, version: int | None = None
    ) -> tuple[int, DetectorSpec, list[np.ndarray]]:
        """Version, spec and weight arrays, after the manifest check."""
        stored = self.open(name, version)
        return stored.version, stored.spec, stored.weights()


def read_validated(model: type[_File], path: Path, where: str) -> _File:
    """A JSON file of the artifact parsed and validated; any fault is ArtifactError in one line
    (not JSON, not UTF-8, empty, wrong types, missing or extra keys, numbers out of range)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"{where}: {path.name} is missing or unreadable") from exc
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        location, message = validation_problem(exc)
        raise ArtifactError(f"{where}: {path.name} is invalid at {location}: {message}") from None


def verify_manifest(path: Path, where: str) -> dict[str, str]:
    files = read_validated(Manifest, path / MANIFEST_FILE, where).files
    for required in (SPEC_FILE, WEIGHTS_FILE):
        if required not in files:
            raise ArtifactError(f"{where}: {MANIFEST_FILE} does not list {required}")
    for file_name, expected in files.items():
        file_path = path / file_name  # a plain name (Manifest's pattern): never outside `path`
        if not file_path.is_file():
            raise ArtifactError(f"{where}: {file_name} is missing")
        try:
            actual = sha256_of(file_path)
        except OSError as exc:
            raise ArtifactError(f"{where}: {file_name} cannot be read") from exc
        if actual != expected:
            raise ArtifactError(f"{where}: {file_name} does not match its SHA-256 in the manifest")
    return files


def _write_files(
    folder: Path,
    spec: DetectorSpec,
    weights: list[np.ndarray],
    onnx: bytes | None,
    extra_files: dict[str, bytes],
) -> None:
    (folder / SPEC_FILE).write_text(spec.model_dump_json(indent=2) + "\n")
    written = [SPEC_FILE, WEIGHTS_FILE]
    if onnx is not None:
        (folder / ONNX_FILE).write_bytes(onnx)
        written.append(ONNX_FILE)
    for name, data in extra_files.items():
        if name in (*RESERVED_FILES, MANIFEST_FILE) or not EXTRA_FILE_PATTERN.fullmatch(name):
            raise InvalidInput(f"{name!r} cannot be stored in an artifact")
        (folder / name).write_bytes(data)
        written.append(name)
    # zero-padded keys keep the arrays in layer order when read back sorted
    arrays: dict[str, Any] = {f"{i:04d}": w for i, w in enumerate(weights)}
    np.savez(folder / WEIGHTS_FILE, **arrays)
    files = {f: sha256_of(folder / f) for f in written}
    (folder / MANIFEST_FILE).write_text(
        json.dumps({"algorithm": "sha256", "files": files}, indent=2) + "\n"
    )
    for f in (*written, MANIFEST_FILE):
        with (folder / f).open("rb") as handle:
            os.fsync(handle.fileno())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
