"""Run Pods as the API server returns them in each state a kubelet (containerd, Kubernetes 1.29+) writes,
for the run Pod reconcile tests. Field values follow real objects (``kubectl get pod -o yaml``)."""

from __future__ import annotations

import copy
from typing import Any

CREATED = "2025-03-02T05:00:00Z"
STARTED = "2025-03-02T05:00:03Z"
FINISHED = "2025-03-02T05:00:15Z"
IMAGE = "registry.example.com/shop:1.4.2"
IMAGE_ID = "registry.example.com/shop@sha256:" + "ab" * 32
CONTAINER_ID = "containerd://" + "5f" * 32


def pod(
    status: dict[str, Any],
    *,
    deleting: bool = False,
    memory_limit: str | None = "256Mi",
    deadline: int | None = None,
    sidecar: bool = False,
) -> dict[str, Any]:
    """A run Pod named shop-run-1 with ``status``."""
    container: dict[str, Any] = {
        "name": "run",
        "image": IMAGE,
        "command": ["python", "-m", "kubeasset.runner", "execute"],
        "resources": {"limits": {"memory": memory_limit}} if memory_limit else {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    containers = [container]
    if sidecar:
        containers.append({"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.22.0"})
    metadata: dict[str, Any] = {
        "name": "shop-run-1",
        "namespace": "analytics",
        "uid": "0d7c5a6e-5b7a-4d1e-9a55-3c3f0e2b8c11",
        "resourceVersion": "48311",
        "creationTimestamp": CREATED,
        "labels": {"app.kubernetes.io/managed-by": "kubeasset", "kubeasset.dev/run": "shop-run-1"},
    }
    if deleting:
        metadata["deletionTimestamp"] = "2025-03-02T05:00:14Z"
        metadata["deletionGracePeriodSeconds"] = 30
    spec: dict[str, Any] = {"containers": containers, "restartPolicy": "Never", "nodeName": "node-2"}
    if deadline is not None:
        spec["activeDeadlineSeconds"] = deadline
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": copy.deepcopy(status)}


def _conditions(ready: bool, *, scheduled: bool = True) -> list[dict[str, Any]]:
    flag = "True" if ready else "False"
    conditions = [
        {
            "type": "PodReadyToStartContainers",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": "2025-03-02T05:00:02Z",
        },
        {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": "2025-03-02T05:00:01Z"},
        {
            "type": "Ready",
            "status": flag,
            "lastProbeTime": None,
            "lastTransitionTime": STARTED,
            **({} if ready else {"reason": "ContainersNotReady", "message": "containers with unready status: [run]"}),
        },
        {
            "type": "ContainersReady",
            "status": flag,
            "lastProbeTime": None,
            "lastTransitionTime": STARTED,
            **({} if ready else {"reason": "ContainersNotReady", "message": "containers with unready status: [run]"}),
        },
        {
            "type": "PodScheduled",
            "status": "True" if scheduled else "False",
            "lastProbeTime": None,
            "lastTransitionTime": "2025-03-02T05:00:01Z",
        },
    ]
    return conditions


def container_status(state: dict[str, Any], *, name: str = "run", image_id: str = IMAGE_ID) -> dict[str, Any]:
    running = "running" in state
    return {
        "name": name,
        "image": IMAGE,
        "imageID": image_id if "waiting" not in state else "",
        **({"containerID": CONTAINER_ID} if "waiting" not in state else {}),
        "lastState": {},
        "ready": running,
        "restartCount": 0,
        "started": running,
        "state": state,
    }


def node_status(phase: str, statuses: list[dict[str, Any]], *, ready: bool = False, **extra: Any) -> dict[str, Any]:
    return {
        "phase": phase,
        "conditions": _conditions(ready),
        "hostIP": "10.0.3.17",
        "hostIPs": [{"ip": "10.0.3.17"}],
        "podIP": "10.244.2.31",
        "podIPs": [{"ip": "10.244.2.31"}],
        "qosClass": "Burstable",
        "startTime": "2025-03-02T05:00:01Z",
        "containerStatuses": statuses,
        **extra,
    }


def waiting(reason: str, message: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"reason": reason}
    if message is not None:
        state["message"] = message
    return node_status("Pending", [container_status({"waiting": state})])


def terminated(
    exit_code: int,
    reason: str,
    *,
    message: str | None = None,
    phase: str | None = None,
    started: str | None = STARTED,
    finished: str = FINISHED,
) -> dict[str, Any]:
    state: dict[str, Any] = {
        "containerID": CONTAINER_ID,
        "exitCode": exit_code,
        "reason": reason,
        "startedAt": started,
        "finishedAt": finished,
    }
    if message is not None:
        state["message"] = message
    return node_status(
        phase or ("Succeeded" if exit_code == 0 else "Failed"), [container_status({"terminated": state})]
    )


UNSCHEDULABLE = {
    "phase": "Pending",
    "conditions": [
        {
            "type": "PodScheduled",
            "status": "False",
            "lastProbeTime": None,
            "lastTransitionTime": "2025-03-02T05:00:00Z",
            "reason": "Unschedulable",
            "message": "0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: "
            "3 No preemption victims found for incoming pod.",
        }
    ],
    "qosClass": "Burstable",
}
JUST_CREATED: dict[str, Any] = {"phase": "Pending", "qosClass": "Burstable"}
CONTAINER_CREATING = waiting("ContainerCreating")
ERR_IMAGE_PULL = waiting(
    "ErrImagePull",
    'failed to pull and unpack image "registry.example.com/shop:1.4.3": failed to resolve reference '
    '"registry.example.com/shop:1.4.3": registry.example.com/shop:1.4.3: not found',
)
IMAGE_PULL_BACKOFF = waiting("ImagePullBackOff", 'Back-off pulling image "registry.example.com/shop:1.4.3"')
INVALID_IMAGE_NAME = waiting(
    "InvalidImageName",
    'Failed to apply default image tag "registry.example.com/Shop:1.4.2": couldn\'t parse image name '
    '"registry.example.com/Shop:1.4.2": invalid reference format: repository name must be lowercase',
)
CONFIG_ERROR_SECRET = waiting("CreateContainerConfigError", 'secret "shop-db" not found')
CONFIG_ERROR_NON_ROOT = waiting(
    "CreateContainerConfigError",
    "container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root "
    '(pod: "shop-run-1_analytics(0d7c5a6e-5b7a-4d1e-9a55-3c3f0e2b8c11)", container: run)',
)
CREATE_CONTAINER_ERROR = waiting(
    "CreateContainerError", "failed to generate container spec: failed to apply OCI options: no such file or directory"
)
RUNNING = node_status("Running", [container_status({"running": {"startedAt": STARTED}})], ready=True)

SUMMARY_OK = (
    '{"v":1,"run":"shop-run-1","result":"Succeeded","exitCode":0,"counts":{"total":3,"materialized":3,'
    '"failed":0,"skipped":0,"canceled":0},"durationSeconds":11.5,"truncated":false,"states":"MMM","failed":[]}'
)
SUCCEEDED = terminated(0, "Completed", message=SUMMARY_OK)
SUMMARY_ASSET_FAILED = (
    '{"v":1,"run":"shop-run-1","result":"Failed","exitCode":1,"counts":{"total":3,"materialized":1,'
    '"failed":1,"skipped":1,"canceled":0},"durationSeconds":4.2,"truncated":false,"states":"MFS",'
    '"failed":[{"key":"orders","error":"ValueError: no rows"}]}'
)
ASSETS_FAILED = terminated(1, "Error", message=SUMMARY_ASSET_FAILED)
OOM_KILLED = terminated(137, "OOMKilled")
#: A runner crash: no summary was written, so the kubelet kept the tail of the log (FallbackToLogsOnError).
LOG_TAIL = (
    "2025-03-02 05:00:14 INFO kubeasset.runner: running orders\n"
    "Traceback (most recent call last):\n"
    '  File "/usr/local/lib/python3.12/site-packages/kubeasset/runner/main.py", line 40, in main\n'
    "    return run_execute(args)\n"
    "RuntimeError: executor state is inconsistent\n"
)
RUNNER_CRASHED = terminated(3, "Error", message=LOG_TAIL)
SEGFAULT = terminated(139, "Error", message="Fatal Python error: Segmentation fault\n")
START_ERROR = terminated(
    128,
    "StartError",
    message="failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create "
    'failed: unable to start container process: exec: "python": executable file not found in $PATH: unknown',
    started="1970-01-01T00:00:00Z",
)
EVICTED: dict[str, Any] = {
    **terminated(143, "OOMKilled"),  # what some runtimes report for the container of a drained Pod
    "reason": "Evicted",
    "message": "The node was low on resource: memory. Threshold quantity: 100Mi, available: 91572Ki. Container run "
    "was using 1894312Ki, which exceeds its request of 256Mi. ",
}
EVICTED["conditions"] = [
    *EVICTED["conditions"],
    {
        "type": "DisruptionTarget",
        "status": "True",
        "lastProbeTime": None,
        "lastTransitionTime": FINISHED,
        "reason": "TerminationByKubelet",
        "message": "The node was low on resource: memory.",
    },
]
#: The kubelet marks the Pod Failed and leaves the container "running" (kubernetes#98718).
DEADLINE_EXCEEDED: dict[str, Any] = {
    **RUNNING,
    "phase": "Failed",
    "reason": "DeadlineExceeded",
    "message": "Pod was active on the node longer than the specified deadline",
}
#: Rejected by the kubelet's admission (no container ever created).
OUT_OF_MEMORY: dict[str, Any] = {
    "phase": "Failed",
    "reason": "OutOfmemory",
    "message": "Pod was rejected: Node didn't have enough resource: memory, requested: 2147483648, used: "
    "7247757312, capacity: 8232062976",
    "startTime": "2025-03-02T05:00:01Z",
}
NODE_LOST: dict[str, Any] = {
    **RUNNING,
    "phase": "Unknown",
    "reason": "NodeLost",
    "message": "Node node-2 which was running pod shop-run-1 is unresponsive",
}
PHASE_UNKNOWN: dict[str, Any] = {**RUNNING, "phase": "Unknown"}
KILLED_ON_DELETE = terminated(
    143,
    "Error",
    message=(
        '{"v":1,"run":"shop-run-1","result":"Canceled","exitCode":143,"counts":{"total":3,"materialized":1,'
        '"failed":0,"skipped":0,"canceled":2},"durationSeconds":11.0,"truncated":false,"states":"MCC","failed":[]}'
    ),
)
DRAINED: dict[str, Any] = {
    **RUNNING,
    "conditions": [
        *RUNNING["conditions"],
        {
            "type": "DisruptionTarget",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": FINISHED,
            "reason": "EvictionByEvictionAPI",
            "message": "Eviction API: evicting",
        },
    ],
}
INIT_IMAGE_PULL: dict[str, Any] = {
    **waiting("PodInitializing"),
    "initContainerStatuses": [
        container_status(
            {"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "istio/proxyv2:9.9"'}},
            name="istio-init",
        )
    ],
}
#: The runner finished but an injected sidecar keeps the Pod Running.
SIDECAR_DONE: dict[str, Any] = node_status(
    "Running",
    [
        container_status({"running": {"startedAt": STARTED}}, name="istio-proxy"),
        container_status(
            {
                "terminated": {
                    "exitCode": 0,
                    "reason": "Completed",
                    "startedAt": STARTED,
                    "finishedAt": FINISHED,
                    "message": SUMMARY_OK,
                }
            }
        ),
    ],
)
