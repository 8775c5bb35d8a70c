"""The local control plane behaves like a real cluster's: TLS + RBAC, service accounts, garbage collection,
namespace deletion, and it leaves no process behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from kubeasset.cluster.binaries import KUBERNETES_VERSION, ensure_binaries
from kubeasset.cluster.control_plane import ControlPlane
from kubeasset.errors import ClusterError

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    with ControlPlane(ensure_binaries(), tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.fixture(scope="module")
def api(plane: ControlPlane) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(plane.admin.kubeconfig))


def _eventually(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:.0f}s")
        time.sleep(0.25)


def _gone(read: Callable[[], Any]) -> bool:
    try:
        read()
    except ApiException as error:
        if error.status == 404:
            return True
        raise
    return False


@pytest.mark.timeout(3600)  # the first test may wait for a cold build of the binaries
def test_admin_kubeconfig_reaches_the_chosen_release(api: client.ApiClient) -> None:
    assert client.VersionApi(api).get_code().git_version == KUBERNETES_VERSION
    names = {ns.metadata.name for ns in client.CoreV1Api(api).list_namespace().items}
    assert {"default", "kube-system", "kube-public"} <= names


def test_service_account_tokens_are_signed_and_rbac_denies_what_is_not_granted(
    plane: ControlPlane, api: client.ApiClient
) -> None:
    core = client.CoreV1Api(api)
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
    api: client.ApiClient,
) -> None:
    core = client.CoreV1Api(api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="kubeasset-ns-test")))
    core.create_namespaced_config_map(
        "kubeasset-ns-test", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="content"))
    )
    _eventually(
        lambda: not _gone(lambda: core.read_namespaced_service_account("default", "kubeasset-ns-test")),
        "the default ServiceAccount of a new namespace",
    )
    _eventually(
        lambda: not _gone(lambda: core.read_namespaced_config_map("kube-root-ca.crt", "kubeasset-ns-test")),
        "the kube-root-ca.crt ConfigMap of a new namespace",
    )

    core.delete_namespace("kubeasset-ns-test")
    _eventually(lambda: _gone(lambda: core.read_namespace("kubeasset-ns-test")), "namespace deletion")


def test_deleting_an_owner_garbage_collects_its_dependents(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    owner = core.create_namespaced_config_map("default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="owner")))
    reference = client.V1OwnerReference(api_version="v1", kind="ConfigMap", name="owner", uid=owner.metadata.uid)
    core.create_namespaced_config_map(
        "default",
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="dependent", owner_references=[reference])),
    )

    core.delete_namespaced_config_map("owner", "default")

    _eventually(lambda: _gone(lambda: core.read_namespaced_config_map("dependent", "default")), "garbage collection")


def test_pods_get_service_account_admission(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    pod = core.create_namespaced_pod(
        "default",
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


def _processes_mentioning(folder: Path) -> list[str]:
    """Command lines of live processes that name ``folder`` (every control-plane program does)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # not a process, or it ended while listing
        if str(folder) in command:
            found.append(command)
    return found


def test_stop_leaves_no_process_and_start_failure_names_the_culprit(tmp_path: Path) -> None:
    binaries = ensure_binaries()
    plane = ControlPlane(binaries, tmp_path / "ok").start()
    pids = plane.pids
    assert set(pids) == {"etcd", "kube-apiserver", "kube-controller-manager"}
    assert len(_processes_mentioning(tmp_path / "ok")) == 3
    plane.stop()
    for pid in pids.values():
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert _processes_mentioning(tmp_path / "ok") == []

    broken = ControlPlane(binaries, tmp_path / "broken", extra_apiserver_args=["--no-such-flag=1"])
    with pytest.raises(ClusterError, match="kube-apiserver exited") as failed:
        broken.start()
    assert "no-such-flag" in str(failed.value)  # the log tail tells what went wrong
    assert broken.pids == {}
    assert _processes_mentioning(tmp_path / "broken") == []  # etcd, already running, was stopped too


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_cluster_up_serves_until_interrupted_then_cleans_up(tmp_path: Path, stop_signal: signal.Signals) -> None:
    ensure_binaries()  # a cold build must not count against the start-up wait below
    command = "from kubeasset.cli.cluster_commands import cluster; cluster()"
    folder = tmp_path / "up"
    with subprocess.Popen(
        [sys.executable, "-c", command, "up", "--dir", str(folder)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as up:
        assert up.stdout is not None
        first_line = up.stdout.readline()  # printed once the cluster is ready
        assert first_line.startswith("export KUBECONFIG="), up.stderr.read() if up.stderr else ""
        kubeconfig = first_line.strip().split("=", 1)[1]
        api = config.new_client_from_config(config_file=kubeconfig)
        assert client.VersionApi(api).get_code().git_version == KUBERNETES_VERSION

        up.send_signal(stop_signal)
        assert up.wait(timeout=60) == 0
    assert _processes_mentioning(folder) == []
