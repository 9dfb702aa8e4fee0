"""Render deploy/k8s's Kustomize folders offline and validate them with kubernetes-validate.

There is no kubectl or kustomize here, so this renders the small part of Kustomize the folders
use: `resources` (files and folders), `namespace`, `images` (newName / newTag / digest) and
`patches` that are JSON 6902 operations on a target picked by kind and name. Anything else in a
kustomization.yaml is refused rather than rendered differently from Kustomize.

    .venv/bin/python -m scripts.k8s_render deploy/k8s/overlays/example       # the YAML stream
    .venv/bin/python -m scripts.k8s_render --validate deploy/k8s/base deploy/k8s/overlays/example

--validate checks every resource against the Kubernetes versions in KUBERNETES_VERSIONS with
kubernetes-validate's strict schemas (shipped in its package: no network), and exits 1 on a
fault, 2 on a folder it cannot render.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from models.wording import plural

KUSTOMIZATION = "kustomization.yaml"
KNOWN_KEYS = {"apiVersion", "kind", "resources", "namespace", "images", "patches"}
# an older release that clusters still run and the newest one the tool ships schemas for
KUBERNETES_VERSIONS = ("1.35.0", "1.37.0")
# kinds that Kustomize's `namespace` leaves alone (the cluster-scoped ones a deployment may carry)
CLUSTER_SCOPED = {
    "Namespace",
    "PersistentVolume",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "CustomResourceDefinition",
    "PriorityClass",
    "IngressClass",
}

Resource = dict[str, Any]


class RenderError(Exception):
    """A kustomization this renderer cannot render as Kustomize would."""


def render(folder: Path) -> list[Resource]:
    """The resources a Kustomize folder stands for, transformed as its kustomization says."""
    path = folder / KUSTOMIZATION
    if not path.is_file():
        raise RenderError(f"{folder}: no {KUSTOMIZATION}")
    spec = yaml.safe_load(path.read_text()) or {}
    unknown = sorted(set(spec) - KNOWN_KEYS)
    if unknown:
        raise RenderError(f"{path}: {', '.join(unknown)} not supported by this renderer")
    resources: list[Resource] = []
    for entry in spec.get("resources", []):
        target = folder / entry
        if target.is_dir():
            resources += render(target)
        elif target.is_file():
            resources += [doc for doc in yaml.safe_load_all(target.read_text()) if doc]
        else:
            raise RenderError(f"{path}: resource {entry!r} does not exist")
    for patch in spec.get("patches", []):
        _patch(resources, patch, path)
    if "namespace" in spec:
        for resource in resources:
            if resource["kind"] not in CLUSTER_SCOPED:
                resource["metadata"]["namespace"] = spec["namespace"]
    for image in spec.get("images", []):
        for container in _containers(resources):
            container["image"] = _retag(container["image"], image)
    return resources


def _patch(resources: list[Resource], patch: dict[str, Any], path: Path) -> None:
    target, text = patch.get("target") or {}, patch.get("patch")
    if set(patch) != {"target", "patch"} or set(target) - {"kind", "name"} or "kind" not in target:
        raise RenderError(f"{path}: a patch needs `target` (kind, name) and an inline `patch`")
    operations = yaml.safe_load(text)
    if not isinstance(operations, list):
        raise RenderError(f"{path}: only JSON 6902 patches (a list of operations) are supported")
    chosen = [
        r
        for r in resources
        if r["kind"] == target["kind"]
        and target.get("name", r["metadata"]["name"]) == r["metadata"]["name"]
    ]
    if not chosen:
        raise RenderError(f"{path}: no resource matches the patch target {target}")
    for resource in chosen:
        for operation in operations:
            _apply(resource, operation, path)


def _apply(document: Resource, operation: dict[str, Any], path: Path) -> None:
    """One RFC 6902 add, replace or remove (RFC 6901 pointers; `-` appends to a list)."""
    op, pointer = operation.get("op"), operation.get("path", "")
    if op not in {"add", "replace", "remove"} or not pointer.startswith("/"):
        raise RenderError(f"{path}: unsupported patch operation {operation}")
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]
    parent: Any = document
    try:
        for part in parents:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if op == "add":
                parent.insert(index, copy.deepcopy(operation["value"]))
            elif op == "replace":
                parent[index] = copy.deepcopy(operation["value"])
            else:
                del parent[index]
        elif op == "add" or (op == "replace" and last in parent):
            parent[last] = copy.deepcopy(operation["value"])
        else:
            del parent[last]
    except (KeyError, IndexError, ValueError, TypeError):
        raise RenderError(f"{path}: {op} {pointer}: no such place in the resource") from None


def _containers(node: Any) -> Iterator[dict[str, Any]]:
    """Every container and init container in any pod template below `node`."""
    if isinstance(node, list):
        for item in node:
            yield from _containers(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in {"containers", "initContainers"}:
                yield from value
            else:
                yield from _containers(value)


def _retag(reference: str, image: dict[str, str]) -> str:
    """Kustomize's `images` entry applied to one image reference, if its name matches."""
    name, separator, suffix = reference, "", ""
    for mark in ("@", ":"):
        if mark in reference.rpartition("/")[2]:
            cut = reference.rindex(mark)
            name, separator, suffix = reference[:cut], mark, reference[cut + 1 :]
            break
    if name != image["name"]:
        return reference
    name = image.get("newName", name)
    if "digest" in image:
        return f"{name}@{image['digest']}"
    if "newTag" in image:
        return f"{name}:{image['newTag']}"
    return f"{name}{separator}{suffix}"


def validate(
    resources: Sequence[Resource], versions: Sequence[str] = KUBERNETES_VERSIONS
) -> list[str]:
    """Faults found by kubernetes-validate's strict schemas: one line each, none when valid.

    A kind without a schema is a fault too (the command-line tool only warns about it)."""
    from kubernetes_validate import utils

    faults = []
    for resource in resources:
        for version in versions:
            where = f"{resource['kind']}/{resource['metadata']['name']} (Kubernetes {version})"
            try:
                utils.validate(resource, version, strict=True)
            except utils.ValidationError as exc:
                at = ".".join(str(part) for part in exc.path)
                faults.append(f"{where}: {at}: {exc.message}")
            except utils.SchemaNotFoundError as exc:
                faults.append(f"{where}: {exc.message}")
    return faults


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="Kustomize folders")
    parser.add_argument(
        "--validate", action="store_true", help="validate with kubernetes-validate --strict"
    )
    args = parser.parse_args(argv)
    try:
        rendered = {folder: render(folder) for folder in args.folders}
    except (RenderError, yaml.YAMLError, OSError) as exc:
        print(f"k8s_render: {exc}".splitlines()[0], file=sys.stderr)
        return 2
    if not args.validate:
        print(
            yaml.safe_dump_all([r for rs in rendered.values() for r in rs], sort_keys=False), end=""
        )
        return 0
    faults = [f"{folder}: {fault}" for folder, rs in rendered.items() for fault in validate(rs)]
    for fault in faults:
        print(fault, file=sys.stderr)
    count = sum(len(rs) for rs in rendered.values())
    versions = ", ".join(KUBERNETES_VERSIONS)
    checked = plural(count, "resource")
    print(f"{checked} checked against Kubernetes {versions}: {plural(len(faults), 'fault')}")
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
