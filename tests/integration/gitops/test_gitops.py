"""GitOps on the real API server with the real controller: objects applied the way Argo CD and Flux apply them
(server-side apply, one field manager), then the README's exact `kubectl wait` commands, Flux's kstatus (the
real cli-utils library) and the README's Argo CD / Flux health checks on what the controller wrote, and proof
that the controller never owned a field of those objects outside their status."""

from __future__ import annotations

import json
import re
import shlex
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from kubeasset.cluster.kstatus_binary import compute_kstatus
from kubeasset.controller.operator import ControllerThread
from tests.integration.conftest import REPOSITORY, Kubectl
from tests.integration.gitops.conftest import NODE
from tests.unit.docs.health_checks import argocd_health, flux_health, readme_block

pytestmark = pytest.mark.kstatus

GROUP, VERSION = "kubeasset.dev", "v1alpha1"
FIELD_MANAGER = "gitops-test"  # what Argo CD (argocd-controller) or Flux (kustomize-controller) would be
GITOPS_CODE = Path(__file__).parent / "gitops_code"


@dataclass(frozen=True)
class Scene:
    namespace: str
    kubectl: Kubectl

    def get(self, plural: str, name: str) -> dict[str, Any]:
        output = self.kubectl(
            "get", f"{plural}.{GROUP}", name, "-n", self.namespace, "-o", "json", "--show-managed-fields"
        ).stdout
        found: dict[str, Any] = json.loads(output)
        return found

    def wait(self, *args: str, timeout: int = 120) -> None:
        self.kubectl("wait", *args, "-n", self.namespace, f"--timeout={timeout}s", timeout=timeout + 30)


def _location(name: str, module: str, folder: Path, storage: Path) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "CodeLocation",
        "metadata": {"name": name},
        "spec": {
            "image": "kubeasset-example:test",
            "module": module,
            "workingDirectory": str(folder),
            "pod": {"nodeSelector": {"kubernetes.io/hostname": NODE}},
            "storage": {"url": str(storage / name)},
        },
    }


def _manifests(storage: Path) -> list[dict[str, Any]]:
    def job(name: str, location: str, selection: str) -> dict[str, Any]:
        spec = {"codeLocation": location, "selection": selection}
        return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "AssetJob", "metadata": {"name": name}, "spec": spec}

    def run(name: str, job_name: str) -> dict[str, Any]:
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "AssetRun",
            "metadata": {"name": name},
            "spec": {"job": job_name},
        }

    return [
        # The README's names: codelocation/shop and assetrun/sales-now (the example code location and job).
        _location("shop", "shop", REPOSITORY / "examples", storage),
        job("sales-job", "shop", "group:sales"),
        run("sales-now", "sales-job"),
        _location("broken", "gitops_assets", GITOPS_CODE, storage),
        job("bad-job", "broken", "group:bad"),
        run("bad-now", "bad-job"),
        _location("missing", "no_such_module", GITOPS_CODE, storage),
    ]


@pytest.fixture(scope="module")
def scene(
    kubectl: Kubectl,
    api_client: client.ApiClient,
    gitops_controller: ControllerThread,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Scene]:
    namespace = f"gitops-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    storage = tmp_path_factory.mktemp("gitops-storage")
    documents = "---\n".join(yaml.safe_dump(manifest) for manifest in _manifests(storage))
    kubectl("apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "-n", namespace, "-f", "-", input=documents)
    yield Scene(namespace, kubectl)
    core.delete_namespace(namespace)


def _readme_wait_commands() -> list[list[str]]:
    """The `kubectl wait` lines of the README's GitOps section, split as a shell would split them."""
    text = (REPOSITORY / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## GitOps") : text.index("## Troubleshooting")]
    lines = [line.strip() for line in section.splitlines() if line.strip().startswith("kubectl wait ")]
    return [shlex.split(line) for line in lines]


def test_the_readmes_kubectl_wait_commands_work_on_a_real_code_location_and_run(scene: Scene) -> None:
    commands = _readme_wait_commands()
    assert [command[2] for command in commands] == [
        "--for=condition=Ready",
        "--for=jsonpath={.status.phase}=Succeeded",
    ]
    assert [command[3] for command in commands] == ["codelocation/shop", "assetrun/sales-now"]
    for command in commands:
        # Exactly the README's command (its own --timeout kept), in the test's namespace.
        timeout = int(re.fullmatch(r"--timeout=(\d+)m", command[-1]).group(1)) * 60  # type: ignore[union-attr]
        result = scene.kubectl(*command[1:], "-n", scene.namespace, timeout=min(timeout, 240))
        assert "condition met" in result.stdout
    assert scene.get("assetruns", "sales-now")["status"]["phase"] == "Succeeded"


@pytest.fixture(scope="module")
def settled(scene: Scene) -> dict[str, dict[str, Any]]:
    """Every object of the scene once the controller has reached a final word on it."""
    scene.wait("--for=condition=Ready", "codelocation/shop")
    scene.wait("--for=jsonpath={.status.phase}=Succeeded", "assetrun/sales-now")
    scene.wait("--for=jsonpath={.status.phase}=Failed", "assetrun/bad-now")
    scene.wait("--for=condition=Ready=False", "codelocation/missing")
    scene.wait("--for=condition=Ready", "assetjob/sales-job")
    return {
        "shop": scene.get("codelocations", "shop"),
        "missing": scene.get("codelocations", "missing"),
        "sales-job": scene.get("assetjobs", "sales-job"),
        "sales-now": scene.get("assetruns", "sales-now"),
        "bad-now": scene.get("assetruns", "bad-now"),
    }


def test_flux_kstatus_reads_ready_and_a_runs_outcome(
    settled: dict[str, dict[str, Any]], kstatus_probe: Path
) -> None:
    results = {result.name: result for result in compute_kstatus(kstatus_probe, list(settled.values()))}
    assert (results["shop"].status, results["shop"].message) == ("Current", "Resource is Ready")
    assert results["sales-job"].status == "Current"
    # Ready=False is InProgress to kstatus (never Failed), with kubeasset's message: Flux waits until its timeout.
    missing_ready = next(c for c in settled["missing"]["status"]["conditions"] if c["type"] == "Ready")
    assert missing_ready["reason"] == "ImportError"
    assert (results["missing"].status, results["missing"].message) == ("InProgress", missing_ready["message"])
    # A run carries kstatus's own conditions: none once it succeeded (Current), Stalled once it failed.
    assert results["sales-now"].status == "Current"
    stalled = next(c for c in settled["bad-now"]["status"]["conditions"] if c["type"] == "Stalled")
    assert (results["bad-now"].status, results["bad-now"].message) == ("Failed", stalled["message"])
    assert stalled["reason"] == "AssetsFailed"


def test_kstatus_waits_for_an_unobserved_generation_and_for_discovery(
    settled: dict[str, Any], kstatus_probe: Path
) -> None:
    stale = json.loads(json.dumps(settled["shop"]))
    stale["metadata"]["generation"] = stale["status"]["observedGeneration"] + 1
    # The same object as while discovery runs (Ready=Unknown, reason Discovering).
    discovering = json.loads(json.dumps(settled["shop"]))
    for condition in discovering["status"]["conditions"]:
        if condition["type"] == "Ready":
            condition.update(status="Unknown", reason="Discovering", message="discovering")
    results = compute_kstatus(kstatus_probe, [stale, discovering])
    assert [result.status for result in results] == ["InProgress", "InProgress"]
    assert results[1].message == "discovering"


def test_the_readmes_argocd_and_flux_health_checks_on_real_objects(settled: dict[str, dict[str, Any]]) -> None:
    assert argocd_health(settled["shop"])[0] == "Healthy"
    assert argocd_health(settled["sales-job"])[0] == "Healthy"
    status, message = argocd_health(settled["missing"])
    assert status == "Degraded" and message.startswith("ImportError: ")
    assert argocd_health(settled["sales-now"])[0] == "Healthy"
    status, message = argocd_health(settled["bad-now"])
    assert status == "Degraded" and message.startswith("AssetsFailed: ")
    assert flux_health(settled["sales-now"]) == {"current"}
    assert flux_health(settled["bad-now"]) == {"failed"}


def test_the_controller_never_owns_a_field_outside_status_of_applied_objects(
    settled: dict[str, dict[str, Any]],
) -> None:
    # Server-side apply records every writer of every field: a controller that patched spec, labels,
    # annotations or finalizers of these objects would own fields a GitOps tool then fights over.
    for name, obj in settled.items():
        writers = obj["metadata"]["managedFields"]
        assert any(entry["manager"] == FIELD_MANAGER for entry in writers), name
        assert any(entry.get("subresource") == "status" for entry in writers), f"{name}: no status writer seen"
        for entry in writers:
            if entry["manager"] != FIELD_MANAGER:
                assert entry.get("subresource") == "status", f"{name}: {entry['manager']} wrote {entry['fieldsV1']}"
        assert not obj["metadata"].get("finalizers"), name
    # The applier's own view is unchanged: a re-apply of the same documents would be a no-op diff.
    assert settled["shop"]["spec"]["module"] == "shop"


def test_the_readmes_argocd_cm_is_a_configmap_kubectl_accepts(scene: Scene) -> None:
    config_map = yaml.safe_load(readme_block("argocd-cm"))
    config_map["metadata"]["namespace"] = scene.namespace
    scene.kubectl("apply", "--dry-run=server", "-f", "-", input=json.dumps(config_map))
