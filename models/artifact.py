"""Stored models: artifacts/NAME/VERSION/ with detector.json, weights.npz and a SHA-256 manifest.

An artifact is data, never code: the network is rebuilt from detector.json by our own code and
only weight arrays are read (numpy, allow_pickle=False). The manifest is checked before any
parser touches a file. Writes are atomic: a temporary directory renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from models.errors import ArtifactError, InvalidInput, ModelNotFound
from models.spec import DetectorSpec

SPEC_FILE = "detector.json"
WEIGHTS_FILE = "weights.npz"
MANIFEST_FILE = "manifest.json"
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


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

    def write(self, name: str, spec: DetectorSpec, weights: list[np.ndarray]) -> tuple[int, Path]:
        """Write a new version atomically; returns (version, path)."""
        folder = self.root / check_name(name)
        folder.mkdir(parents=True, exist_ok=True)
        staging = folder / f".tmp-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            _write_files(staging, spec, weights)
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

    def read(
        self, name: str, version: int | None = None
    ) -> tuple[int, DetectorSpec, list[np.ndarray]]:
        """Verify the manifest, then parse the spec and the weight arrays."""
        version, path = self.resolve(name, version)
        where = f"model {name!r} version {version}"
        verify_manifest(path, where)
        try:
            spec = DetectorSpec.model_validate_json((path / SPEC_FILE).read_bytes())
        except ValidationError as exc:
            raise ArtifactError(
                f"{where}: {SPEC_FILE} is invalid: {exc.errors()[0]['msg']}"
            ) from exc
        try:
            with np.load(path / WEIGHTS_FILE, allow_pickle=False) as arrays:
                weights = [arrays[key] for key in sorted(arrays.files)]
        except (ValueError, OSError) as exc:
            raise ArtifactError(f"{where}: {WEIGHTS_FILE} cannot be read: {exc}") from exc
        return version, spec, weights


def verify_manifest(path: Path, where: str) -> None:
    manifest_path = path / MANIFEST_FILE
    try:
        manifest = json.loads(manifest_path.read_bytes())
        files: dict[str, str] = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ArtifactError(f"{where}: {MANIFEST_FILE} is missing or unreadable") from exc
    for required in (SPEC_FILE, WEIGHTS_FILE):
        if required not in files:
            raise ArtifactError(f"{where}: {MANIFEST_FILE} does not list {required}")
    for file_name, expected in files.items():
        file_path = path / file_name
        if "/" in file_name or file_name.startswith(".") or not file_path.is_file():
            raise ArtifactError(f"{where}: {file_name} is missing")
        if sha256_of(file_path) != expected:
            raise ArtifactError(f"{where}: {file_name} does not match its SHA-256 in the manifest")


def _write_files(folder: Path, spec: DetectorSpec, weights: list[np.ndarray]) -> None:
    (folder / SPEC_FILE).write_text(spec.model_dump_json(indent=2) + "\n")
    # zero-padded keys keep the arrays in layer order when read back sorted
    arrays: dict[str, Any] = {f"{i:04d}": w for i, w in enumerate(weights)}
    np.savez(folder / WEIGHTS_FILE, **arrays)
    files = {f: sha256_of(folder / f) for f in (SPEC_FILE, WEIGHTS_FILE)}
    (folder / MANIFEST_FILE).write_text(
        json.dumps({"algorithm": "sha256", "files": files}, indent=2) + "\n"
    )
    for f in (SPEC_FILE, WEIGHTS_FILE, MANIFEST_FILE):
        with (folder / f).open("rb") as handle:
            os.fsync(handle.fileno())


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
