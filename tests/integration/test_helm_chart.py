"""The Helm chart helm/kubeasset with a real helm and the local control plane: it lints, renders in cluster-wide
and namespaced mode, its values are typed, the API server accepts every rendered object (server-side dry run,
restricted Pod Security), and its RBAC grants the controller what it needs and nothing a controller of data
pipelines has no business with."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeasset.cluster.helm_binary import HelmBinary
from tests.integration.chart_support import (
    CHART,
    RBAC_KINDS,
    helm_run,
    of_kind,
    render_chart,
    service_account_kubeconfig,
    set_arguments,
)
from tests.integration.conftest import Kubectl

pytestmark = pytest.mark.helm

CONTROLLER_SA = "kubeasset"  # release "kubeasset": the full name is the release name
RUN_SA = "kubeasset-run"


def test_helm_lint_passes_in_both_modes(helm_binary: HelmBinary) -> None:
    helm_run(helm_binary, "lint", "--strict", str(CHART))
    helm_run(helm_binary, "lint", "--strict", str(CHART), *set_arguments({"watchNamespaces": ["team-a", "team-b"]}))


@pytest.mark.parametrize(
    ("values", "complaint"),
    [
        ({"replicas": 2}, "replicas"),  # a typo of replicaCount
        ({"replicaCount": "two"}, "replicaCount"),
        ({"watchNamespaces": ["Team_A"]}, "watchNamespaces"),
        ({"controller": {"logLevel": "verbose"}}, "logLevel"),
        ({"metrics": {"port": 70000}}, "port"),
        ({"image": {"pullPolicy": "Sometimes"}}, "pullPolicy"),
    ],
)
def test_the_schema_rejects_unknown_and_mistyped_values(
    helm_binary: HelmBinary, values: dict[str, Any], complaint: str
) -> None:
    rendered = helm_run(helm_binary, "template", "kubeasset", str(CHART), *set_arguments(values), check=False)
    assert rendered.returncode != 0
    assert complaint in rendered.stderr


def test_cluster_wide_rendering(helm_binary: HelmBinary) -> None:
    documents = render_chart(helm_binary)
    kinds = sorted(document["kind"] for document in documents)
    assert kinds == sorted(
        ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ClusterRole", "ClusterRoleBinding"]
        + ["Role", "RoleBinding", "Deployment", "Service"]
    )
    # The only namespaced Role is leader election's, in the release namespace.
    (role,) = of_kind(documents, "Role")
    assert role["metadata"]["namespace"] == "kubeasset-system"
    assert {rule["apiGroups"][0] for rule in role["rules"]} == {"coordination.k8s.io"}

    (deployment,) = of_kind(documents, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["args"][0] == "--all-namespaces"
    assert "--leader-elect" in container["args"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    assert {port["name"]: port["containerPort"] for port in container["ports"]} == {"health": 8080, "metrics": 9090}
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["serviceAccountName"] == CONTROLLER_SA
    # Cluster-wide without runServiceAccount.namespaces: no run ServiceAccount to hand out (it would be missing
    # in most namespaces), so run Pods keep their namespace's default one.
    assert "KUBEASSET_RUN_SERVICE_ACCOUNT" not in {item["name"] for item in container["env"]}
    assert [sa["metadata"]["name"] for sa in of_kind(documents, "ServiceAccount")] == [CONTROLLER_SA]
    (service,) = of_kind(documents, "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"


def test_namespaced_rendering_binds_roles_only_in_the_watched_namespaces(helm_binary: HelmBinary) -> None:
    documents = render_chart(helm_binary, values={"watchNamespaces": ["team-a", "team-b"], "rbac": {"crdRead": False}})
    assert of_kind(documents, "ClusterRole", "ClusterRoleBinding") == []
    bindings = {
        (binding["metadata"]["namespace"], binding["roleRef"]["name"]) for binding in of_kind(documents, "RoleBinding")
    }
    assert bindings == {
        ("team-a", "kubeasset-controller"),
        ("team-b", "kubeasset-controller"),
        ("kubeasset-system", "kubeasset-leader-election"),
    }
    (deployment,) = of_kind(documents, "Deployment")
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[:2] == ["--namespace=team-a", "--namespace=team-b"] and "--all-namespaces" not in args
    run_accounts = {
        sa["metadata"]["namespace"] for sa in of_kind(documents, "ServiceAccount") if sa["metadata"]["name"] == RUN_SA
    }
    assert run_accounts == {"team-a", "team-b"}
    environment = {
        item["name"]: item.get("value") for item in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert environment["KUBEASSET_RUN_SERVICE_ACCOUNT"] == RUN_SA


def test_cluster_wide_run_service_accounts_go_where_runs_are_declared(helm_binary: HelmBinary) -> None:
    documents = render_chart(helm_binary, values={"runServiceAccount": {"namespaces": ["data", "analytics"]}})
    run_accounts = {
        sa["metadata"]["namespace"]: sa
        for sa in of_kind(documents, "ServiceAccount")
        if sa["metadata"]["name"] == RUN_SA
    }
    assert sorted(run_accounts) == ["analytics", "data"]
    assert all(account["automountServiceAccountToken"] is False for account in run_accounts.values())
    (deployment,) = of_kind(documents, "Deployment")
    environment = {
        item["name"]: item.get("value") for item in deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert environment["KUBEASSET_RUN_SERVICE_ACCOUNT"] == RUN_SA


def test_values_switch_optional_objects(helm_binary: HelmBinary) -> None:
    documents = render_chart(
        helm_binary,
        values={
            "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
            "replicaCount": 2,
            "podDisruptionBudget": {"enabled": True},
        },
    )
    (monitor,) = of_kind(documents, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert of_kind(documents, "PodDisruptionBudget")
    without_metrics = render_chart(
        helm_binary, values={"metrics": {"enabled": False, "serviceMonitor": {"enabled": True}}}
    )
    assert of_kind(without_metrics, "Service", "ServiceMonitor") == []
    refused = helm_run(
        helm_binary,
        "template",
        "kubeasset",
        str(CHART),
        *set_arguments({"replicaCount": 2, "leaderElection": {"enabled": False}}),
        check=False,
    )
    assert refused.returncode != 0 and "leaderElection" in refused.stderr


# --- against the local control plane ------------------------------------------------------------------------


def create_namespaces(kubectl: Kubectl, *names: str, restricted: bool = False) -> None:
    for name in names:
        labels: dict[str, str] = {}
        if restricted:
            # Enforce for Pods, warn for Deployments (admission only warns about a workload's Pod template).
            labels = {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/warn": "restricted",
            }
        document = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
        kubectl("apply", "-f", "-", input=yaml.safe_dump(document))


@pytest.fixture(scope="module")
def chart_crds(kubectl: Kubectl, crds: list[dict[str, Any]]) -> None:
    """The chart's CRDs applied the way helm installs them (before the templates); same files as crds/."""
    kubectl("apply", "--server-side", "-f", str(CHART / "crds"))


@pytest.mark.parametrize("mode", ["cluster-wide", "namespaced"])
def test_rendered_manifests_pass_a_server_side_dry_run(
    helm_binary: HelmBinary, kubectl: Kubectl, chart_crds: None, mode: str
) -> None:
    suffix = uuid.uuid4().hex[:6]
    release_namespace, watched = f"kubeasset-{suffix}", [f"team-a-{suffix}", f"team-b-{suffix}"]
    create_namespaces(kubectl, release_namespace, restricted=True)
    create_namespaces(kubectl, *watched)
    values: dict[str, Any] = {"watchNamespaces": watched} if mode == "namespaced" else {}
    values["podDisruptionBudget"] = {"enabled": True}
    documents = render_chart(helm_binary, release=f"ka-{suffix}", namespace=release_namespace, values=values)
    applied = kubectl(
        "apply", "--server-side", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(documents), check=False
    )
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.count("(server dry run)") == len(documents)
    kubectl("delete", "namespace", "--wait=false", release_namespace, *watched)


def test_the_controller_pod_is_admitted_under_the_restricted_pod_security_standard(
    helm_binary: HelmBinary, kubectl: Kubectl
) -> None:
    # PodSecurity enforces on Pods (it only warns about a Deployment's template), so the template is sent
    # as a Pod into a namespace that enforces "restricted".
    namespace = f"kubeasset-pss-{uuid.uuid4().hex[:6]}"
    create_namespaces(kubectl, namespace, restricted=True)
    documents = render_chart(helm_binary, release="kubeasset", namespace=namespace)
    # The ServiceAccount admission plugin wants the Pod's ServiceAccount to exist.
    kubectl("apply", "-f", "-", input=yaml.safe_dump_all(of_kind(documents, "ServiceAccount")))
    (deployment,) = of_kind(documents, "Deployment")
    template = deployment["spec"]["template"]
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "controller", "namespace": namespace, "labels": template["metadata"]["labels"]},
        "spec": template["spec"],
    }
    admitted = kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(pod), check=False)
    assert admitted.returncode == 0, admitted.stderr
    # The check has teeth: the same Pod without the chart's securityContext is refused.
    bare = {
        **pod,
        "spec": {
            **pod["spec"],
            "securityContext": {},
            "containers": [
                {key: value for key, value in container.items() if key != "securityContext"}
                for container in pod["spec"]["containers"]
            ],
        },
    }
    refused = kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump(bare), check=False)
    assert refused.returncode != 0 and "PodSecurity" in refused.stderr
    kubectl("delete", "namespace", "--wait=false", namespace)


@pytest.fixture(scope="module")
def namespaced_rbac(helm_binary: HelmBinary, kubectl: Kubectl, chart_crds: None) -> Iterator[dict[str, str]]:
    """The RBAC objects of a namespaced-mode release really applied: release namespace, two watched ones and
    one the controller does not watch."""
    suffix = uuid.uuid4().hex[:6]
    names = {
        "release": f"kubeasset-{suffix}",
        "watched": f"team-a-{suffix}",
        "also_watched": f"team-b-{suffix}",
        "unwatched": f"other-{suffix}",
    }
    create_namespaces(kubectl, *names.values())
    documents = render_chart(
        helm_binary,
        namespace=names["release"],
        values={"watchNamespaces": [names["watched"], names["also_watched"]]},
    )
    rbac = yaml.safe_dump_all(of_kind(documents, *RBAC_KINDS))
    kubectl("apply", "--server-side", "-f", "-", input=rbac)
    yield names
    kubectl("delete", "--ignore-not-found", "--wait=false", "-f", "-", input=rbac)
    kubectl("delete", "namespace", "--wait=false", *names.values())


def can_i(kubectl: Kubectl, account: str, namespace: str | None, *request: str) -> bool:
    scope = ["-n", namespace] if namespace else []
    answer = kubectl("auth", "can-i", *request, *scope, f"--as={account}", check=False)
    assert answer.stdout.strip() in ("yes", "no"), answer.stderr
    return answer.stdout.strip() == "yes"


def test_the_controller_may_do_its_work_in_the_watched_namespaces_only(
    kubectl: Kubectl, namespaced_rbac: dict[str, str]
) -> None:
    controller = f"system:serviceaccount:{namespaced_rbac['release']}:{CONTROLLER_SA}"
    watched, unwatched = namespaced_rbac["watched"], namespaced_rbac["unwatched"]
    for namespace in (watched, namespaced_rbac["also_watched"]):
        assert can_i(kubectl, controller, namespace, "create", "pods")
        assert can_i(kubectl, controller, namespace, "delete", "pods")
        assert can_i(kubectl, controller, namespace, "get", "pods", "--subresource=log")
        assert can_i(kubectl, controller, namespace, "watch", "codelocations.kubeasset.dev")
        assert can_i(kubectl, controller, namespace, "patch", "assetruns.kubeasset.dev", "--subresource=status")
        assert can_i(kubectl, controller, namespace, "create", "assetruns.kubeasset.dev")
        assert can_i(kubectl, controller, namespace, "create", "assets.kubeasset.dev")
        assert can_i(kubectl, controller, namespace, "create", "events")
    # What it must not: anything outside the watched namespaces, secrets, user-owned specs, cluster objects.
    assert not can_i(kubectl, controller, unwatched, "create", "pods")
    assert not can_i(kubectl, controller, unwatched, "list", "codelocations.kubeasset.dev")
    assert not can_i(kubectl, controller, watched, "get", "secrets")
    assert not can_i(kubectl, controller, watched, "get", "configmaps")
    assert not can_i(kubectl, controller, watched, "update", "codelocations.kubeasset.dev")
    assert not can_i(kubectl, controller, watched, "patch", "assetjobs.kubeasset.dev")
    assert not can_i(kubectl, controller, watched, "create", "pods", "--subresource=exec")
    assert not can_i(kubectl, controller, None, "list", "namespaces")
    assert not can_i(kubectl, controller, None, "list", "nodes")
    assert not can_i(kubectl, controller, None, "create", "customresourcedefinitions")
    # kopf's read-only scan of CRDs.
    assert can_i(kubectl, controller, None, "watch", "customresourcedefinitions")


def test_leader_election_touches_one_lease_in_the_release_namespace(
    kubectl: Kubectl, namespaced_rbac: dict[str, str]
) -> None:
    controller = f"system:serviceaccount:{namespaced_rbac['release']}:{CONTROLLER_SA}"
    release = namespaced_rbac["release"]
    assert can_i(kubectl, controller, release, "create", "leases.coordination.k8s.io")
    assert can_i(kubectl, controller, release, "update", "leases.coordination.k8s.io/kubeasset-controller")
    assert not can_i(kubectl, controller, release, "update", "leases.coordination.k8s.io/someone-elses-lease")
    assert not can_i(kubectl, controller, namespaced_rbac["watched"], "create", "leases.coordination.k8s.io")
    # Nor may it run Pods in its own namespace: it is not watched.
    assert not can_i(kubectl, controller, release, "create", "pods")


def test_the_run_service_account_may_do_nothing(kubectl: Kubectl, namespaced_rbac: dict[str, str]) -> None:
    watched = namespaced_rbac["watched"]
    run = f"system:serviceaccount:{watched}:{RUN_SA}"
    for request in (("get", "pods"), ("create", "pods"), ("list", "assetruns.kubeasset.dev"), ("get", "secrets")):
        assert not can_i(kubectl, run, watched, *request)
    account = yaml.safe_load(kubectl("get", "serviceaccount", RUN_SA, "-n", watched, "-o", "yaml").stdout)
    assert account["automountServiceAccountToken"] is False


def test_a_token_kubeconfig_of_the_controller_acts_with_exactly_the_charts_rights(
    kubectl: Kubectl, kubeconfig: Path, namespaced_rbac: dict[str, str], tmp_path: Path
) -> None:
    token_kubeconfig = service_account_kubeconfig(
        kubectl, kubeconfig, namespaced_rbac["release"], CONTROLLER_SA, tmp_path / "controller.kubeconfig"
    )
    as_controller = [f"--kubeconfig={token_kubeconfig}"]
    listed = kubectl(*as_controller, "get", "assetruns", "-n", namespaced_rbac["watched"], check=False)
    assert listed.returncode == 0, listed.stderr
    forbidden = kubectl(*as_controller, "get", "secrets", "-n", namespaced_rbac["watched"], check=False)
    assert forbidden.returncode != 0 and "forbidden" in forbidden.stderr.lower()
    identity = kubectl(*as_controller, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    assert identity.stdout == f"system:serviceaccount:{namespaced_rbac['release']}:{CONTROLLER_SA}"


@pytest.fixture(scope="module")
def cluster_wide_rbac(helm_binary: HelmBinary, kubectl: Kubectl, chart_crds: None) -> Iterator[str]:
    """The RBAC objects of a cluster-wide release really applied; yields the release namespace."""
    suffix = uuid.uuid4().hex[:6]
    release_namespace = f"kubeasset-cw-{suffix}"
    create_namespaces(kubectl, release_namespace)
    documents = render_chart(helm_binary, release=f"cw-{suffix}", namespace=release_namespace)
    rbac = yaml.safe_dump_all(of_kind(documents, *RBAC_KINDS))
    kubectl("apply", "--server-side", "-f", "-", input=rbac)
    yield f"cw-{suffix}"
    kubectl("delete", "--ignore-not-found", "--wait=false", "-f", "-", input=rbac)
    kubectl("delete", "namespace", "--wait=false", release_namespace)


def test_cluster_wide_mode_reaches_every_namespace_but_still_no_secrets(
    kubectl: Kubectl, cluster_wide_rbac: str, namespace: str
) -> None:
    release = cluster_wide_rbac
    controller = f"system:serviceaccount:kubeasset-{release}:{release}-kubeasset"
    assert can_i(kubectl, controller, namespace, "create", "pods")
    assert can_i(kubectl, controller, namespace, "watch", "assetschedules.kubeasset.dev")
    assert can_i(kubectl, controller, None, "list", "pods", "--all-namespaces")
    assert not can_i(kubectl, controller, namespace, "get", "secrets")
    assert not can_i(kubectl, controller, namespace, "create", "deployments.apps")
    assert not can_i(kubectl, controller, None, "delete", "namespaces")
