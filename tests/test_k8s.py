"""deploy/k8s agrees with what it deploys: the Dockerfile's images, user, port and paths, the
settings' names, the app's probe routes, the CLI's arguments; and it validates offline."""

from __future__ import annotations

import argparse
import importlib.util
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.api.main import create_app
from app.cli.main import build_parser
from app.settings import Settings
from scripts.k8s_render import render, validate

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "deploy" / "k8s"
FOLDERS = [K8S / name for name in ("base", "train", "overlays/example", "overlays/example-train")]
PREFIX = Settings.model_config["env_prefix"]
SECRET = "rarewatch-keys"

Resource = dict[str, Any]


def dockerfile_stages() -> dict[str, list[tuple[str, str]]]:
    """Each stage's instructions (name, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    stages: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        instruction, _, arguments = line.strip().partition(" ")
        if instruction.upper() == "FROM":
            current = stages.setdefault(arguments.split()[-1], [])
        current.append((instruction.upper(), arguments.strip()))
    return stages


def image_env(stage: str) -> dict[str, str]:
    """ENV of a target stage and of the stages it is built FROM, nearest last."""
    stages = dockerfile_stages()
    instructions = stages[stage]
    parent = instructions[0][1].split()[0]
    env = image_env(parent) if parent in stages else {}
    for instruction, arguments in instructions:
        if instruction == "ENV":
            env.update(re.findall(r"(\w+)=(\S+)", arguments))
    return env


def instruction(stage: str, name: str) -> str:
    return next(args for inst, args in dockerfile_stages()[stage] if inst == name)


def compose_service(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"][name]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def base() -> list[Resource]:
    """The API and its volumes (deploy/k8s/base) with the training Job (deploy/k8s/train)."""
    return render(K8S / "base") + render(K8S / "train")


def one(resources: list[Resource], kind: str) -> Resource:
    [resource] = [r for r in resources if r["kind"] == kind]
    return resource


def pod(resources: list[Resource], kind: str) -> dict[str, Any]:
    return one(resources, kind)["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def container(resources: list[Resource], kind: str) -> dict[str, Any]:
    [only] = pod(resources, kind)["containers"]
    return only  # type: ignore[no-any-return]


def settings_env(resources: list[Resource]) -> dict[str, str]:
    return one(resources, "ConfigMap")["data"]  # type: ignore[no-any-return]


def mounts(resources: list[Resource], kind: str) -> dict[str, dict[str, Any]]:
    """Each volume's mount in the pod's container, with the volume's own definition."""
    volumes = {v["name"]: v for v in pod(resources, kind)["volumes"]}
    return {
        m["mountPath"]: {**m, "volume": volumes[m["name"]]}
        for m in container(resources, kind)["volumeMounts"]
    }


def test_the_images_are_the_dockerfile_targets_that_compose_builds(base: list[Resource]) -> None:
    for kind, service, target in (("Deployment", "api", "serve"), ("Job", "trainer", "train")):
        compose = compose_service(service)
        assert compose["build"]["target"] == target
        assert target in dockerfile_stages()
        assert container(base, kind)["image"] == compose["image"] == f"rarewatch:{target}"


def test_the_overlay_moves_both_images_to_its_registry_keeping_their_tags() -> None:
    overlay = render(K8S / "overlays" / "example") + render(K8S / "overlays" / "example-train")
    assert container(overlay, "Deployment")["image"] == "registry.example.com/rarewatch:serve"
    assert container(overlay, "Job")["image"] == "registry.example.com/rarewatch:train"
    assert {r["metadata"]["namespace"] for r in overlay} == {"rarewatch"}


def test_the_port_is_the_one_the_image_exposes_and_the_settings_bind(base: list[Resource]) -> None:
    [port] = container(base, "Deployment")["ports"]
    exposed = int(instruction("serve", "EXPOSE"))
    assert port["containerPort"] == exposed == int(image_env("serve")["RAREWATCH_PORT"])
    assert int(settings_env(base)["RAREWATCH_PORT"]) == exposed
    assert settings_env(base)["RAREWATCH_HOST"] == image_env("serve")["RAREWATCH_HOST"]
    [service_port] = one(base, "Service")["spec"]["ports"]
    assert service_port["targetPort"] == port["name"]
    [rule] = one(base, "NetworkPolicy")["spec"]["ingress"]
    assert [p["port"] for p in rule["ports"]] == [port["name"]]


def test_the_probes_ask_the_apps_health_routes_on_the_containers_port(
    base: list[Resource], tmp_path: Path
) -> None:
    api = container(base, "Deployment")
    routes = create_app(Settings(model_dir=tmp_path)).openapi()["paths"]
    probes = {
        name: api[name]["httpGet"] for name in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes["readinessProbe"]["path"] == "/readyz"
    assert probes["livenessProbe"]["path"] == probes["startupProbe"]["path"] == "/healthz"
    for probe in probes.values():
        assert probe["path"] in routes
        assert probe["port"] == api["ports"][0]["name"]
    # the image's own HEALTHCHECK asks readiness too
    assert "/readyz" in instruction("serve", "HEALTHCHECK")


def test_every_rarewatch_variable_is_a_setting_and_the_settings_accept_the_values(
    base: list[Resource], monkeypatch: pytest.MonkeyPatch
) -> None:
    named = set(settings_env(base))
    for kind in ("Deployment", "Job"):
        named |= {e["name"] for e in container(base, kind).get("env", [])}
    ours = {name for name in named if name.startswith(PREFIX)}
    assert ours == named - {"RAY_USAGE_STATS_ENABLED"}
    fields = {PREFIX + field.upper() for field in Settings.model_fields}
    assert ours <= fields, f"not settings: {sorted(ours - fields)}"
    # and what compose hands the API (its other RAREWATCH_ names only fill in compose's file)
    assert set(compose_service("api")["environment"]) <= fields
    for name, value in settings_env(base).items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert str(settings.model_dir) == settings_env(base)["RAREWATCH_MODEL_DIR"]


def test_the_api_keys_come_from_the_secret_the_readme_creates(base: list[Resource]) -> None:
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in container(base, "Deployment")["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert set(refs) == {"RAREWATCH_API_KEYS", "RAREWATCH_ADMIN_KEY", "RAREWATCH_METRICS_KEY"}
    assert {ref["name"] for ref in refs.values()} == {SECRET}
    assert not refs["RAREWATCH_API_KEYS"].get("optional", False)
    readme = (ROOT / "README.md").read_text()
    # the command with its continuation lines
    [command] = re.findall(rf"kubectl [^\n]*create secret generic {SECRET}(?:.*\\\n)*.*", readme)
    literal_keys = {
        word.split("=")[1] for word in shlex.split(command.replace("\\\n", " ")) if "=" in word
    }
    assert literal_keys == {ref["key"] for ref in refs.values()}


def test_both_pods_run_as_the_dockerfiles_user_without_privileges(base: list[Resource]) -> None:
    uid = int(re.search(r"--uid (\d+)", instruction("base", "RUN"))[1])  # type: ignore[index]
    for kind, target in (("Deployment", "serve"), ("Job", "train")):
        assert instruction(target, "USER") == f"{uid}:{uid}"
        spec = pod(base, kind)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] == spec["securityContext"]["runAsGroup"] == uid
        assert spec["automountServiceAccountToken"] is False
        # a Service named rarewatch would set RAREWATCH_PORT=tcp://...: not a port number
        assert spec["enableServiceLinks"] is False
        context = container(base, kind)["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]
        # HOME is where the libraries keep their caches: a writable volume
        assert "emptyDir" in mounts(base, kind)[image_env(target)["HOME"]]["volume"]


def test_the_grace_period_covers_the_pause_and_the_servers_shutdown_grace(
    base: list[Resource],
) -> None:
    spec = pod(base, "Deployment")
    pause = container(base, "Deployment")["lifecycle"]["preStop"]["sleep"]["seconds"]
    grace = int(settings_env(base)["RAREWATCH_SHUTDOWN_GRACE_S"])
    margin = spec["terminationGracePeriodSeconds"] - pause - grace
    assert 0 < margin <= 10


def test_compose_gives_the_api_its_shutdown_grace_before_killing_it() -> None:
    grace = Settings.model_fields["shutdown_grace_s"].default
    assert "RAREWATCH_SHUTDOWN_GRACE_S" not in compose_service("api")["environment"]
    stop = compose_service("api")["stop_grace_period"]
    assert stop.endswith("s")
    assert 0 < int(stop.removesuffix("s")) - grace <= 10


def test_the_job_writes_the_models_volume_the_replicas_read_where_the_settings_say(
    base: list[Resource],
) -> None:
    model_dir = settings_env(base)["RAREWATCH_MODEL_DIR"]
    assert (
        model_dir
        == image_env("serve")["RAREWATCH_MODEL_DIR"]
        == image_env("train")["RAREWATCH_MODEL_DIR"]
    )
    served = mounts(base, "Deployment")[model_dir]
    assert served["readOnly"] is True
    assert served["volume"]["persistentVolumeClaim"]["readOnly"] is True
    job_env = {e["name"]: e.get("value") for e in container(base, "Job")["env"]}
    written = mounts(base, "Job")[job_env["RAREWATCH_MODEL_DIR"]]
    assert not written.get("readOnly", False)
    claim = served["volume"]["persistentVolumeClaim"]["claimName"]
    assert written["volume"]["persistentVolumeClaim"]["claimName"] == claim
    [volume] = [
        r for r in base if r["kind"] == "PersistentVolumeClaim" and r["metadata"]["name"] == claim
    ]
    assert "ReadOnlyMany" in volume["spec"]["accessModes"]


def test_the_job_runs_train_fleet_through_the_train_images_entrypoint(base: list[Resource]) -> None:
    assert instruction("train", "ENTRYPOINT") == '["rarewatch"]'
    args = container(base, "Job")["args"]
    assert args[0] == "train-fleet"
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    if "train-fleet" not in commands.choices:
        pytest.skip("this checkout has no `rarewatch train-fleet` yet (issue 20, item 1)")
    build_parser().parse_args(args)  # exits 2 on an argument train-fleet does not take


def test_the_service_budget_autoscaler_and_policy_pick_the_deployments_pods(
    base: list[Resource],
) -> None:
    deployment = one(base, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"] == labels
    assert "replicas" not in deployment["spec"]  # the autoscaler's
    assert one(base, "Service")["spec"]["selector"] == labels
    assert one(base, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == labels
    assert one(base, "NetworkPolicy")["spec"]["podSelector"]["matchLabels"] == labels
    target = one(base, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert "resources" in container(base, "Deployment")
    assert set(container(base, "Deployment")["resources"]) == {"requests", "limits"}


@pytest.mark.skipif(
    importlib.util.find_spec("kubernetes_validate") is None,
    reason="kubernetes-validate is not installed (pip install -e '.[container]'); "
    "scripts/container-check installs it and validates the manifests",
)
@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.relative_to(K8S).as_posix())
def test_kubernetes_validate_strict_accepts_the_rendered_manifests(folder: Path) -> None:
    assert validate(render(folder)) == []
