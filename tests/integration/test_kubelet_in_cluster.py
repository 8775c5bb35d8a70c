"""Pods on the local kubelet reach the API server as Pods in a cluster do: the kube-api-access volume holds
a token for the Pod's ServiceAccount (bound to the Pod, renewed before it expires), the cluster CA and the
namespace; KUBERNETES_SERVICE_HOST/PORT lead to the API server, so ``load_incluster_config()`` works and the
ServiceAccount's RBAC decides what the Pod may do; the host name is the Pod's. downwardAPI and projected
volumes show the Pod's fields and follow label changes."""

from __future__ import annotations

import base64
import json
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from kubernetes import client

from kubeasset.cluster.control_plane import ControlPlane
from kubeasset.cluster.kubelet import LocalKubelet
from tests.integration.conftest import Kubectl, eventually

NODE = "kubeasset-in-cluster-tests"
#: Tokens are renewed at 80% of their lifetime or at this age: short, so renewal shows within a test.
TOKEN_MAX_AGE = timedelta(seconds=3)

#: Pod-side code: what a program does with in-cluster config, printing one `key = value` line per fact.
IN_CLUSTER_PROBE = """
    import json, os, socket
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    folder = "/var/run/secrets/kubernetes.io/serviceaccount"
    print("files =", ",".join(sorted(name for name in os.listdir(folder) if not name.startswith(".."))))
    print("namespace =", open(f"{folder}/namespace").read())
    print("host =", os.environ["KUBERNETES_SERVICE_HOST"])
    print("hostname =", socket.gethostname())
    config.load_incluster_config()
    api = client.ApiClient()
    namespace = open(f"{folder}/namespace").read()
    review = client.AuthenticationV1Api(api).create_self_subject_review({"apiVersion": "authentication.k8s.io/v1",
                                                                         "kind": "SelfSubjectReview"})
    print("user =", review.status.user_info.username)
    names = [item.metadata.name for item in client.CoreV1Api(api).list_namespaced_config_map(namespace).items]
    print("configmaps =", ",".join(sorted(names)))
    try:
        client.CoreV1Api(api).list_namespaced_secret(namespace)
        print("secrets = allowed")
    except ApiException as error:
        print("secrets =", error.status)
    open("/dev/termination-log", "w").write("probe done")
"""


@pytest.fixture(scope="module")
def kubelet(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKubelet]:
    # The kubelet's folder is under /tmp, which the Pods below hide with an emptyDir: it must not matter.
    folder = tmp_path_factory.mktemp("in-cluster-kubelet")
    with LocalKubelet(
        control_plane.admin.kubeconfig, folder, NODE, restart_backoff_seconds=0.5, token_max_age=TOKEN_MAX_AGE
    ) as running:
        if not running.uses_mount_namespaces:
            pytest.skip("the service-account volume needs private mount namespaces (root)")
        yield running


@pytest.fixture
def core(api_client: client.ApiClient, kubelet: LocalKubelet) -> client.CoreV1Api:
    return client.CoreV1Api(api_client)


def _pod(name: str, script: str, **spec: Any) -> dict[str, Any]:
    container = {"name": "main", "image": "python:3.11", "command": ["python", "-c", textwrap.dedent(script)]}
    container.update(spec.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": spec.pop("labels", {"app": "probe"})},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": {"kubernetes.io/hostname": NODE},
            "containers": [container],
            **spec,
        },
    }


def _finished(core: client.CoreV1Api, namespace: str, name: str, timeout: float = 60.0) -> client.V1Pod:
    found: dict[str, client.V1Pod] = {}

    def terminal() -> bool:
        found["pod"] = core.read_namespaced_pod(name, namespace)
        return found["pod"].status.phase in ("Succeeded", "Failed")

    eventually(terminal, f"pod {name} finishing", timeout)
    return found["pod"]


def _facts(log: str) -> dict[str, str]:
    return dict(line.split(" = ", 1) for line in log.splitlines() if " = " in line)


def _reader_account(kubectl: Kubectl, namespace: str) -> None:
    """ServiceAccount `reader`, allowed to list ConfigMaps in its namespace and nothing else."""
    kubectl("create", "serviceaccount", "reader", "-n", namespace)
    kubectl("create", "role", "configmap-reader", "--verb=get,list", "--resource=configmaps", "-n", namespace)
    kubectl(
        "create", "rolebinding", "reader", "--role=configmap-reader", f"--serviceaccount={namespace}:reader",
        "-n", namespace,
    )  # fmt: skip


def test_a_pod_uses_in_cluster_config_with_its_service_account_token_and_rbac(
    core: client.CoreV1Api, namespace: str, kubectl: Kubectl
) -> None:
    _reader_account(kubectl, namespace)
    spec = {
        "serviceAccountName": "reader",
        # an emptyDir over /tmp hides the host's /tmp, where the kubelet keeps this Pod's files
        "volumes": [{"name": "tmp", "emptyDir": {}}],
        "container": {"volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]},
    }
    core.create_namespaced_pod(namespace, _pod("probe", IN_CLUSTER_PROBE, **spec))

    pod = _finished(core, namespace, "probe")

    log = core.read_namespaced_pod_log("probe", namespace)
    assert pod.status.phase == "Succeeded", log
    facts = _facts(log)
    assert facts["files"] == "ca.crt,namespace,token"
    assert facts["namespace"] == namespace
    assert facts["host"] == "127.0.0.1"
    assert facts["hostname"] == "probe"  # the Pod's name, as in a container
    assert facts["user"] == f"system:serviceaccount:{namespace}:reader"
    assert "kube-root-ca.crt" in facts["configmaps"].split(",")
    assert facts["secrets"] == "403"  # the Role grants ConfigMaps only
    assert pod.status.container_statuses[0].state.terminated.message == "probe done"


def test_the_token_is_bound_to_the_pod_and_renewed_before_it_expires(
    core: client.CoreV1Api, namespace: str, kubectl: Kubectl
) -> None:
    _reader_account(kubectl, namespace)
    script = """
        import base64, json, time
        from kubernetes import client, config

        path = "/var/run/secrets/kubernetes.io/serviceaccount/token"

        def claims(token):
            payload = token.split(".")[1]
            return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))

        first = open(path).read()
        deadline = time.monotonic() + 30
        while open(path).read() == first and time.monotonic() < deadline:
            time.sleep(0.2)
        second = open(path).read()
        print("renewed =", second != first)
        print("claims =", json.dumps(claims(second)))
        config.load_incluster_config()
        namespace = claims(second)["kubernetes.io"]["namespace"]
        names = [i.metadata.name for i in client.CoreV1Api().list_namespaced_config_map(namespace).items]
        print("new token works =", "kube-root-ca.crt" in names)
    """
    created = core.create_namespaced_pod(namespace, _pod("renew", script, serviceAccountName="reader"))

    pod = _finished(core, namespace, "renew")

    log = core.read_namespaced_pod_log("renew", namespace)
    assert pod.status.phase == "Succeeded", log
    facts = _facts(log)
    assert facts["renewed"] == "True"
    assert facts["new token works"] == "True"
    bound = json.loads(facts["claims"])["kubernetes.io"]
    assert bound["pod"] == {"name": "renew", "uid": created.metadata.uid}
    assert bound["serviceaccount"]["name"] == "reader"


def test_without_automount_there_is_no_token_but_the_api_server_is_known(
    core: client.CoreV1Api, namespace: str
) -> None:
    script = """
        import os
        print("token =", os.path.exists("/var/run/secrets/kubernetes.io/serviceaccount/token"))
        print("port =", os.environ["KUBERNETES_SERVICE_PORT"])
    """
    core.create_namespaced_pod(namespace, _pod("plain", script, automountServiceAccountToken=False))

    pod = _finished(core, namespace, "plain")

    log = core.read_namespaced_pod_log("plain", namespace)
    assert pod.status.phase == "Succeeded", log
    facts = _facts(log)
    assert facts["token"] == "False"
    server = core.api_client.configuration.host
    assert server.endswith(f":{facts['port']}")


def test_downward_api_and_projected_volumes_show_the_pod_and_follow_its_labels(
    core: client.CoreV1Api, namespace: str
) -> None:
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "settings"}, "data": {"region": "eu"}})
    core.create_namespaced_secret(
        namespace, {"metadata": {"name": "password"}, "data": {"value": base64.b64encode(b"s3cret").decode()}}
    )
    script = """
        import time
        print("name =", open("/etc/podinfo/name").read())
        print("cpu =", open("/etc/podinfo/cpu_millis").read())
        print("region =", open("/etc/bundle/config/region").read())
        print("secret =", open("/etc/bundle/password").read())
        print("bundle namespace =", open("/etc/bundle/namespace").read())
        deadline = time.monotonic() + 30
        while 'stage="two"' not in open("/etc/podinfo/labels").read() and time.monotonic() < deadline:
            time.sleep(0.2)
        print("labels =", open("/etc/podinfo/labels").read().replace(chr(10), ";"))
    """
    downward = {
        "items": [
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {
                "path": "cpu_millis",
                "resourceFieldRef": {"containerName": "main", "resource": "limits.cpu", "divisor": "1m"},
            },
        ]
    }
    projected = {
        "sources": [
            {"configMap": {"name": "settings", "items": [{"key": "region", "path": "config/region"}]}},
            {"secret": {"name": "password", "items": [{"key": "value", "path": "password"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
        ]
    }
    spec = {
        "labels": {"app": "probe", "stage": "one"},
        "volumes": [{"name": "podinfo", "downwardAPI": downward}, {"name": "bundle", "projected": projected}],
        "container": {
            "resources": {"limits": {"cpu": "250m", "memory": "64Mi"}},
            "volumeMounts": [
                {"name": "podinfo", "mountPath": "/etc/podinfo"},
                {"name": "bundle", "mountPath": "/etc/bundle"},
            ],
        },
    }
    core.create_namespaced_pod(namespace, _pod("info", script, **spec))
    eventually(lambda: core.read_namespaced_pod("info", namespace).status.phase == "Running", "pod info running", 30)
    core.patch_namespaced_pod("info", namespace, {"metadata": {"labels": {"stage": "two"}}})

    pod = _finished(core, namespace, "info")

    log = core.read_namespaced_pod_log("info", namespace)
    assert pod.status.phase == "Succeeded", log
    facts = _facts(log)
    assert (facts["name"], facts["cpu"], facts["region"], facts["secret"]) == ("info", "250", "eu", "s3cret")
    assert facts["bundle namespace"] == namespace
    assert facts["labels"] == 'app="probe";stage="two"'


def test_a_container_without_command_waits_with_a_clear_reason(core: client.CoreV1Api, namespace: str) -> None:
    body = _pod("entrypoint", "")
    del body["spec"]["containers"][0]["command"]
    core.create_namespaced_pod(namespace, body)
    found: dict[str, Any] = {}

    def waiting() -> bool:
        statuses = core.read_namespaced_pod("entrypoint", namespace).status.container_statuses or []
        found["state"] = statuses[0].state.waiting if statuses else None
        return found["state"] is not None and found["state"].reason == "CreateContainerError"

    eventually(waiting, "the container waiting with CreateContainerError", 30)
    assert "has no command" in found["state"].message
    assert "image's entrypoint" in found["state"].message
