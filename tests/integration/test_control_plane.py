"""The local control plane behaves like a real cluster's: TLS + RBAC, service accounts, garbage collection,
namespace deletion, and it leaves no process behind."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from kubeasset.cluster.binaries import KUBERNETES_VERSION, ControlPlaneBinaries
from kubeasset.cluster.control_plane import ControlPlane
from kubeasset.errors import ClusterError
from tests.integration.conftest import eventually, processes_mentioning

pytestmark = pytest.mark.integration


def _gone(read: Callable[[], Any]) -> bool:
    try:
        read()
    except ApiException as error:
        if error.status == 404:
            return True
        raise
    return False


def test_admin_kubeconfig_reaches_the_chosen_release(api_client: client.ApiClient) -> None:
    assert client.VersionApi(api_client).get_code().git_version == KUBERNETES_VERSION
    names = {ns.metadata.name for ns in client.CoreV1Api(api_client).list_namespace().items}
    assert {"default", "kube-system", "kube-public"} <= names


def test_version_matched_kubectl_talks_to_the_plane(kubectl: Any) -> None:
    version = kubectl("version", "-o", "yaml").stdout
    assert f"gitVersion: {KUBERNETES_VERSION}" in version.split("serverVersion:")[0]  # the client
    assert f"gitVersion: {KUBERNETES_VERSION}" in version.split("serverVersion:")[1]  # the server
    assert "namespace/default" in kubectl("get", "namespaces", "-o", "name").stdout


def test_service_account_tokens_are_signed_and_rbac_denies_what_is_not_granted(
    control_plane: ControlPlane, api_client: client.ApiClient
) -> None:
    plane = control_plane
    core = client.CoreV1Api(api_client)
    token = core.create_namespaced_service_account_token(
        "default",
        "default",
        client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[])),
    ).status.token
    as_default = client.Configuration()
    as_default.host = plane.admin.server
    as_default.ssl_ca_cert = str(plane.admin.ca_file)
    as_default.api_key = {"authorization": f"Bearer {token}"}
    restricted = client.CoreV1Api(client.ApiClient(as_default))

    with pytest.raises(ApiException) as denied:
        restricted.list_namespaced_secret("default")
    assert denied.value.status == 403  # authenticated (token verified) but not authorised
    assert "system:serviceaccount:default:default" in str(denied.value.body)


def test_new_namespace_gets_its_default_service_account_and_is_deleted_completely(
    api_client: client.ApiClient,
) -> None:
    core = client.CoreV1Api(api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="kubeasset-ns-test")))
    core.create_namespaced_config_map(
        "kubeasset-ns-test", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="content"))
    )
    eventually(
        lambda: not _gone(lambda: core.read_namespaced_service_account("default", "kubeasset-ns-test")),
        "the default ServiceAccount of a new namespace",
    )
    eventually(
        lambda: not _gone(lambda: core.read_namespaced_config_map("kube-root-ca.crt", "kubeasset-ns-test")),
        "the kube-root-ca.crt ConfigMap of a new namespace",
    )

    core.delete_namespace("kubeasset-ns-test")
    eventually(lambda: _gone(lambda: core.read_namespace("kubeasset-ns-test")), "namespace deletion")


def test_deleting_an_owner_garbage_collects_its_dependents(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    owner = core.create_namespaced_config_map(namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner")))
    reference = client.V1OwnerReference(api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid)
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="dependent", owner_references=[reference])),
    )

    core.delete_namespaced_config_map("owner", namespace)

    # Generous: earlier tests (10,000 owned Assets of the large-graph test) can leave the garbage collector
    # a backlog to work through first, as on a busy real cluster.
    eventually(
        lambda: _gone(lambda: core.read_namespaced_config_map("dependent", namespace)),
        "garbage collection",
        timeout=240,
    )


def test_pods_get_service_account_admission(api_client: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(api_client)
    eventually(
        lambda: not _gone(lambda: core.read_namespaced_service_account("default", namespace)),
        "the default ServiceAccount of the test namespace",
    )
    pod = core.create_namespaced_pod(
        namespace,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name="admitted"),
            spec=client.V1PodSpec(containers=[client.V1Container(name="main", image="busybox")]),
        ),
    )
    assert pod.spec.service_account_name == "default"
    assert any(volume.projected is not None for volume in pod.spec.volumes)  # the token volume
    assert pod.status.phase == "Pending"  # no scheduler, no kubelet
    with pytest.raises(ApiException) as rejected:
        core.create_namespaced_pod(
            "no-such-namespace",
            client.V1Pod(
                metadata=client.V1ObjectMeta(name="x"),
                spec=client.V1PodSpec(containers=[client.V1Container(name="main", image="busybox")]),
            ),
        )
    assert rejected.value.status == 404  # NamespaceLifecycle


def test_stop_leaves_no_process_and_start_failure_names_the_culprit(
    tmp_path: Path, binaries: ControlPlaneBinaries
) -> None:
    plane = ControlPlane(binaries, tmp_path / "ok").start()
    pids = plane.pids
    assert set(pids) == {"etcd", "kube-apiserver", "kube-controller-manager"}
    assert len(processes_mentioning(tmp_path / "ok")) == 3
    plane.stop()
    for pid in pids.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert processes_mentioning(tmp_path / "ok") == []

    broken = ControlPlane(binaries, tmp_path / "broken", extra_apiserver_args=["--no-such-flag=1"])
    with pytest.raises(ClusterError, match="kube-apiserver exited") as failed:
        broken.start()
    assert "no-such-flag" in str(failed.value)  # the log tail tells what went wrong
    assert broken.pids == {}
    assert processes_mentioning(tmp_path / "broken") == []  # etcd, already running, was stopped too
