"""The chart installed for real on the local control plane, as the README's "Try the chart" walkthrough does
(``helm install``, or ``helm template --include-crds | kubectl apply --server-side``): the controller
Deployment's Pod run by a local kubelet with nothing but the chart's ServiceAccount token (in-cluster
config), the example manifests applied, the example run succeeding, and the run visible in the controller's
metrics. This proves the chart's RBAC is enough for the controller's real work, in cluster-wide and in
namespaced mode."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from kubeasset.cluster.control_plane import ControlPlane
from kubeasset.cluster.helm_binary import HelmBinary
from kubeasset.cluster.kubelet import LocalKubelet
from kubeasset.cluster.processes import free_loopback_port
from tests.integration.chart_support import CHART, helm_run, set_arguments
from tests.integration.conftest import REPOSITORY, Kubectl, eventually

pytestmark = pytest.mark.helm

NODE = "kubeasset-helm-install-tests"
EXAMPLES = REPOSITORY / "examples"
RELEASE = "kubeasset"  # the full name is the release name: Deployment and ServiceAccount "kubeasset"
CONTROLLER_PODS = "app.kubernetes.io/name=kubeasset,app.kubernetes.io/component=controller"


@pytest.fixture(scope="module")
def kubelet(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKubelet]:
    """The node the chart's controller Pod (pinned by the chart's nodeSelector value) and the example's Pods
    run on; the examples folder is on the Pods' PYTHONPATH, standing in for the example image."""
    folder = tmp_path_factory.mktemp("helm-install-kubelet")
    with LocalKubelet(
        control_plane.admin.kubeconfig, folder, NODE, environment={"PYTHONPATH": str(EXAMPLES)}
    ) as running:
        if not running.uses_mount_namespaces:
            pytest.skip("the controller Pod's service-account token needs private mount namespaces (root)")
        yield running


def _example_manifests(namespace: str) -> list[dict[str, Any]]:
    """examples/manifests, with the example's Pods pinned to this module's kubelet (in a test session other
    kubelets may be running; on the README's one-node cluster nothing needs pinning)."""
    documents = []
    for path in sorted((EXAMPLES / "manifests").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not document:
                continue
            document["metadata"]["namespace"] = namespace
            if document["kind"] == "CodeLocation":
                document["spec"].setdefault("pod", {})["nodeSelector"] = {"kubernetes.io/hostname": NODE}
            documents.append(document)
    return documents


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - a loopback http URL built here
        return answer.status, answer.read().decode()


def _samples(metrics_text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    found = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


@pytest.mark.parametrize("mode", ["cluster-wide", "namespaced"])
def test_the_installed_chart_runs_the_example_job_with_only_its_service_account(
    helm_binary: HelmBinary, kubectl: Kubectl, kubeconfig: Path, kubelet: LocalKubelet, mode: str
) -> None:
    suffix = uuid.uuid4().hex[:6]
    release_namespace, shop = f"kubeasset-system-{suffix}", f"shop-{suffix}"
    health_port, metrics_port = free_loopback_port(), free_loopback_port()
    values: dict[str, Any] = {
        "nodeSelector": {"kubernetes.io/hostname": NODE},
        # the controller Pod shares the host's network here: ports nobody else uses
        "health": {"port": health_port},
        "metrics": {"port": metrics_port},
        "leaderElection": {"enabled": True},
    }
    if mode == "namespaced":
        values["watchNamespaces"] = [shop]
    else:
        values["runServiceAccount"] = {"namespaces": [shop]}
    kubectl("create", "namespace", shop)
    helm_kubeconfig = ["--kubeconfig", str(kubeconfig)]
    rest: list[dict[str, Any]] = []
    try:
        if mode == "cluster-wide":
            # The README's first way: helm install (CRDs from crds/ first, then the release; --wait for it).
            helm_run(
                helm_binary,
                "install", RELEASE, str(CHART), "--namespace", release_namespace, "--create-namespace",
                "--wait", "--timeout=100s", *helm_kubeconfig, *set_arguments(values),
            )  # fmt: skip
        else:
            # The README's second way, without a release: render with the CRDs, apply server-side, await the rollout.
            rendered = helm_run(
                helm_binary,
                "template", RELEASE, str(CHART), "--namespace", release_namespace, "--include-crds",
                *set_arguments(values),
            ).stdout  # fmt: skip
            documents = [document for document in yaml.safe_load_all(rendered) if document]
            assert sum(document["kind"] == "CustomResourceDefinition" for document in documents) == 6
            rest = [document for document in documents if document["kind"] != "CustomResourceDefinition"]
            kubectl("create", "namespace", release_namespace)
            kubectl("apply", "--server-side", "-f", "-", input=rendered)
            kubectl(
                "rollout", "status", f"deployment/{RELEASE}", "-n", release_namespace, "--timeout=120s", timeout=130
            )

        kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(_example_manifests(shop)))
        kubectl("wait", "--for=condition=Ready", "codelocation/shop", "-n", shop, "--timeout=120s", timeout=130)
        kubectl(
            "wait", "--for=jsonpath={.status.phase}=Succeeded", "assetrun/sales-job-first-run", "-n", shop,
            "--timeout=180s", timeout=190,
        )  # fmt: skip

        # The controller that did it is the chart's Pod, acting as the chart's ServiceAccount.
        pods = json.loads(kubectl("get", "pods", "-n", release_namespace, "-o", "json", "-l", CONTROLLER_PODS).stdout)[
            "items"
        ]
        (pod,) = pods
        assert pod["spec"]["serviceAccountName"] == RELEASE
        assert pod["spec"]["nodeName"] == NODE
        assert any(v.get("projected") for v in pod["spec"]["volumes"])  # the kube-api-access token volume
        lease = json.loads(
            kubectl("get", "lease", "kubeasset-controller", "-n", release_namespace, "-o", "json").stdout
        )
        assert lease["spec"]["holderIdentity"].startswith(pod["metadata"]["name"] + "_")
        run = json.loads(kubectl("get", "assetrun", "sales-job-first-run", "-n", shop, "-o", "json").stdout)
        assert run["status"]["podName"]
        assert {asset["state"] for asset in run["status"]["assets"]} == {"Materialized"}

        status, _ = _get(f"http://127.0.0.1:{health_port}/readyz")
        assert status == 200
        succeeded = (("job", "sales-job"), ("namespace", shop), ("phase", "Succeeded"))

        def counted() -> bool:
            return _samples(_get(f"http://127.0.0.1:{metrics_port}/metrics")[1], "kubeasset_runs").get(succeeded) == 1

        eventually(counted, "kubeasset_runs counting the succeeded sales-job run", 30)
        text = _get(f"http://127.0.0.1:{metrics_port}/metrics")[1]
        durations = _samples(text, "kubeasset_run_duration_seconds_count")
        assert durations.get(succeeded) == 1
        logs = kubectl("logs", f"deployment/{RELEASE}", "-n", release_namespace).stdout
        # `kubectl logs` reaches the Pod through the kubelet; the chart's port setting reached the controller
        assert f"serving health on 0.0.0.0:{health_port}" in logs
    finally:
        # The controller goes first (it must not outlive its permissions), then everything else.
        kubectl("delete", "deployment", RELEASE, "-n", release_namespace, "--ignore-not-found", check=False)
        kubectl(
            "wait", "--for=delete", "pod", "-l", CONTROLLER_PODS, "-n", release_namespace, "--timeout=60s",
            check=False, timeout=70,
        )  # fmt: skip
        if mode == "cluster-wide":
            helm_run(helm_binary, "uninstall", RELEASE, "--namespace", release_namespace, *helm_kubeconfig, check=False)
        else:
            kubectl(
                "delete", "--ignore-not-found", "--wait=false", "-f", "-", input=yaml.safe_dump_all(rest), check=False
            )
        kubectl("delete", "namespace", "--wait=false", release_namespace, shop, check=False)
