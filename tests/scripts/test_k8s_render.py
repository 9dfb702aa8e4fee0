"""scripts/k8s_render.py renders the Kustomize subset it knows as Kustomize does, refuses the
rest, and its command line says what is wrong in one line."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from scripts.k8s_render import RenderError, _retag, main, render, validate

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "initContainers": [{"name": "init", "image": "tools:1"}],
                "containers": [
                    {"name": "web", "image": "web:serve", "args": ["a", "b"]},
                    {"name": "side", "image": "registry.local:5000/web"},
                ],
            },
        },
    },
}
NAMESPACE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}}


def write(folder: Path, kustomization: dict[str, object], *documents: dict[str, object]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    if documents:
        (folder / "all.yaml").write_text(yaml.safe_dump_all(documents))
    return folder


def base(tmp_path: Path) -> Path:
    return write(tmp_path / "base", {"resources": ["all.yaml"]}, DEPLOYMENT, NAMESPACE)


def test_an_overlay_sets_the_namespace_of_namespaced_resources_only(tmp_path: Path) -> None:
    overlay = write(tmp_path / "overlay", {"resources": ["../base"], "namespace": "prod"})
    base(tmp_path)
    deployment, namespace = render(overlay)
    assert deployment["metadata"]["namespace"] == "prod"
    assert "namespace" not in namespace["metadata"]


@pytest.mark.parametrize(
    ("reference", "image", "expected"),
    [
        ("web:serve", {"name": "web", "newName": "r.io/web"}, "r.io/web:serve"),
        ("web:serve", {"name": "web", "newTag": "1.2"}, "web:1.2"),
        ("web", {"name": "web", "newName": "r.io/web", "newTag": "1.2"}, "r.io/web:1.2"),
        ("web@sha256:ab", {"name": "web", "newName": "r.io/web"}, "r.io/web@sha256:ab"),
        ("web:serve", {"name": "web", "digest": "sha256:cd"}, "web@sha256:cd"),
        (
            "registry.local:5000/web",
            {"name": "registry.local:5000/web", "newTag": "2"},
            "registry.local:5000/web:2",
        ),
        ("webber:serve", {"name": "web", "newName": "r.io/web"}, "webber:serve"),
        (
            "registry.local:5000/web",
            {"name": "registry.local", "newTag": "2"},
            "registry.local:5000/web",
        ),
    ],
)
def test_images_rename_and_retag_only_the_image_they_name(
    reference: str, image: dict[str, str], expected: str
) -> None:
    assert _retag(reference, image) == expected


def test_images_reach_init_containers_and_every_container(tmp_path: Path) -> None:
    base(tmp_path)
    images = [{"name": "web", "newName": "r.io/web"}, {"name": "tools", "newTag": "2"}]
    overlay = write(tmp_path / "overlay", {"resources": ["../base"], "images": images})
    spec = render(overlay)[0]["spec"]["template"]["spec"]
    assert [c["image"] for c in spec["initContainers"]] == ["tools:2"]
    assert [c["image"] for c in spec["containers"]] == ["r.io/web:serve", "registry.local:5000/web"]


def test_json6902_patches_add_replace_and_remove_on_their_target_only(tmp_path: Path) -> None:
    base(tmp_path)
    operations = [
        {"op": "add", "path": "/spec/replicas", "value": 3},
        {"op": "replace", "path": "/spec/template/spec/containers/0/args", "value": ["c"]},
        {"op": "add", "path": "/spec/template/spec/containers/0/args/-", "value": "d"},
        {"op": "remove", "path": "/spec/template/spec/containers/1"},
        {"op": "add", "path": "/metadata/annotations", "value": {"a/b": "1"}},
        {"op": "replace", "path": "/metadata/annotations/a~1b", "value": "2"},
    ]
    patch = {"target": {"kind": "Deployment", "name": "web"}, "patch": yaml.safe_dump(operations)}
    overlay = write(tmp_path / "overlay", {"resources": ["../base"], "patches": [patch]})
    deployment, namespace = render(overlay)
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["spec"]["containers"] == [
        {"name": "web", "image": "web:serve", "args": ["c", "d"]}
    ]
    assert deployment["metadata"]["annotations"] == {"a/b": "2"}
    assert namespace == NAMESPACE


@pytest.mark.parametrize(
    ("kustomization", "complaint"),
    [
        ({"resources": ["../base"], "commonLabels": {"a": "b"}}, "commonLabels not supported"),
        ({"resources": ["missing.yaml"]}, "does not exist"),
        (
            {
                "resources": ["../base"],
                "patches": [{"target": {"kind": "Deployment"}, "patch": "spec: {replicas: 2}"}],
            },
            "only JSON 6902 patches",
        ),
        ({"resources": ["../base"], "patches": [{"path": "patch.yaml"}]}, "an inline `patch`"),
        (
            {
                "resources": ["../base"],
                "patches": [{"target": {"kind": "Service"}, "patch": "[]"}],
            },
            "no resource matches",
        ),
        (
            {
                "resources": ["../base"],
                "patches": [
                    {
                        "target": {"kind": "Deployment"},
                        "patch": "[{op: replace, path: /spec/nothing/here, value: 1}]",
                    }
                ],
            },
            "no such place",
        ),
        (
            {
                "resources": ["../base"],
                "patches": [{"target": {"kind": "Deployment"}, "patch": "[{op: move, path: /a}]"}],
            },
            "unsupported patch operation",
        ),
    ],
)
def test_what_it_cannot_render_as_kustomize_would_is_refused(
    tmp_path: Path, kustomization: dict[str, object], complaint: str
) -> None:
    base(tmp_path)
    with pytest.raises(RenderError, match=complaint):
        render(write(tmp_path / "overlay", kustomization))


def test_the_command_prints_the_rendered_stream(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(base(tmp_path))]) == 0
    assert list(yaml.safe_load_all(capsys.readouterr().out)) == [DEPLOYMENT, NAMESPACE]


def test_the_command_says_in_one_line_why_a_folder_does_not_render(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("k8s_render: ")
    assert error.count("\n") == 1


@pytest.mark.skipif(
    importlib.util.find_spec("kubernetes_validate") is None,
    reason="kubernetes-validate is not installed (pip install -e '.[container]')",
)
def test_validation_names_the_resource_and_the_field_at_fault(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert validate([DEPLOYMENT, NAMESPACE], ["1.35.0"]) == []
    typo = yaml.safe_load(yaml.safe_dump(DEPLOYMENT))
    typo["spec"]["template"]["spec"]["containers"][0]["imagePolicy"] = "Always"
    unknown = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "g"}}
    faults = validate([typo, unknown], ["1.35.0"])
    assert len(faults) == 2
    assert faults[0].startswith(
        "Deployment/web (Kubernetes 1.35.0): spec.template.spec.containers.0"
    )
    assert "'imagePolicy' was unexpected" in faults[0]
    assert faults[1].startswith("Gadget/g (Kubernetes 1.35.0): ")
    # the command exits 1 on a fault, and says so
    write(tmp_path / "bad", {"resources": ["all.yaml"]}, typo)
    assert main(["--validate", str(tmp_path / "bad")]) == 1
    captured = capsys.readouterr()
    assert captured.out.endswith(": 2 faults\n")  # one per Kubernetes version
    assert "'imagePolicy' was unexpected" in captured.err
