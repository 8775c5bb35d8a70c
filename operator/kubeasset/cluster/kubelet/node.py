"""The local node's API objects: the Node (addresses, kubelet port, capacity, Ready and pressure
conditions) and its heartbeat Lease in kube-node-lease, as a kubelet registers and renews them."""

from __future__ import annotations

import os
import platform
from datetime import UTC, datetime
from typing import Any

from kubeasset.cluster.kubelet.kube_client import JsonObject, KubeClient
from kubeasset.cluster.kubelet.status import format_time
from kubeasset.errors import KubeletError

LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_SECONDS = 40
#: The kubelet's defaults: lease renewed every 10 s; Node status re-posted every minute otherwise.
LEASE_RENEW_SECONDS = 10.0
STATUS_REFRESH_SECONDS = 60.0
KUBELET_VERSION = "v1.36.3-kubeasset-local"
_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


def node_object(name: str, port: int, now: datetime) -> JsonObject:
    """The Node as the local kubelet registers it (spec, labels) with a fresh status."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": node_labels(name)},
        "spec": {},
        "status": node_status(name, port, now),
    }


def node_labels(name: str) -> dict[str, str]:
    """The well-known labels a kubelet sets on its Node (what nodeSelectors usually match)."""
    arch = _ARCH.get(platform.machine(), platform.machine())
    return {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": "linux",
        "beta.kubernetes.io/arch": arch,
        "kubeasset.dev/local-node": "true",
    }


def node_status(name: str, port: int, now: datetime) -> JsonObject:
    resources = node_resources()
    stamp = format_time(now)

    def condition(kind: str, status: str, reason: str, message: str) -> JsonObject:
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": stamp,
            "lastTransitionTime": stamp,
        }

    arch = _ARCH.get(platform.machine(), platform.machine())
    return {
        "capacity": resources,
        "allocatable": resources,
        "conditions": [
            condition(
                "MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"
            ),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        "nodeInfo": {
            "machineID": _read("/etc/machine-id"),
            "systemUUID": _read("/sys/class/dmi/id/product_uuid"),
            "bootID": _read("/proc/sys/kernel/random/boot_id"),
            "kernelVersion": platform.release(),
            "osImage": _os_image(),
            "containerRuntimeVersion": "kubeasset-local://0.1.0",
            "kubeletVersion": KUBELET_VERSION,
            "operatingSystem": "linux",
            "architecture": arch,
        },
    }


def register(api: KubeClient, name: str, port: int) -> None:
    """Create the Node, or take over an existing one of the same name (a restarted kubelet)."""
    now = datetime.now(UTC)
    try:
        api.post("/api/v1/nodes", node_object(name, port, now))
    except KubeletError as error:
        if error.status != 409:
            raise
    post_status(api, name, port, previous=None)


def post_status(api: KubeClient, name: str, port: int, previous: JsonObject | None) -> None:
    """Post a fresh Node status, keeping condition transition times that did not change."""
    status = node_status(name, port, datetime.now(UTC))
    if previous is not None:
        before = {c["type"]: c for c in previous.get("conditions", [])}
        for condition in status["conditions"]:
            old = before.get(condition["type"])
            if old and old.get("status") == condition["status"]:
                condition["lastTransitionTime"] = old.get("lastTransitionTime", condition["lastTransitionTime"])
    api.merge_patch(f"/api/v1/nodes/{name}/status", {"status": status})


def renew_lease(api: KubeClient, name: str, node_uid: str) -> None:
    """Create or renew the node's Lease (what the node lifecycle controller reads as a heartbeat)."""
    path = f"/apis/coordination.k8s.io/v1/namespaces/{LEASE_NAMESPACE}/leases"
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    spec = {"holderIdentity": name, "leaseDurationSeconds": LEASE_DURATION_SECONDS, "renewTime": now}
    try:
        api.merge_patch(f"{path}/{name}", {"spec": spec})
    except KubeletError as error:
        if error.status != 404:
            raise
        owner = {"apiVersion": "v1", "kind": "Node", "name": name, "uid": node_uid}
        lease: dict[str, Any] = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": name, "namespace": LEASE_NAMESPACE, "ownerReferences": [owner]},
            "spec": spec,
        }
        api.post(path, lease)


def node_resources() -> dict[str, str]:
    """The capacity (and allocatable) this node reports: the machine's cores, memory and disk."""
    memory_kib = 0
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            memory_kib = int(line.split()[1])
    disk = os.statvfs("/")
    return {
        "cpu": str(os.cpu_count() or 1),
        "memory": f"{memory_kib}Ki",
        "ephemeral-storage": f"{disk.f_blocks * disk.f_frsize // 1024}Ki",
        "pods": "110",
    }


def _os_image() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return platform.platform()


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read().strip()
    except OSError:
        return ""
