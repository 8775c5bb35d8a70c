"""The Pod status a kubelet writes, as a pure function of the Pod and what the local runtime observed.

It follows the kubelet's own rules (pkg/kubelet/kubelet_pods.go getPhase and pkg/kubelet/status
generate.go): the phase from the container states and restartPolicy, the five conditions with their
reasons, container state/lastState/ready/started/restartCount, and condition transition times kept
while a condition's status does not change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

JsonObject = dict[str, Any]

#: The pod-level reason and message a kubelet writes when activeDeadlineSeconds passes.
DEADLINE_REASON = "DeadlineExceeded"
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"


@dataclass(frozen=True)
class ContainerRun:
    """One run (instance) of a container process; finished once ``exit_code`` is set."""

    container_id: str
    started_at: datetime
    finished_at: datetime | None = None
    exit_code: int | None = None
    #: None means the kubelet's default: Completed for exit code 0, Error otherwise.
    reason: str | None = None
    message: str | None = None
    signal: int | None = None

    @property
    def finished(self) -> bool:
        return self.exit_code is not None


@dataclass(frozen=True)
class Waiting:
    """Why the container is not running (yet or again): ContainerCreating, CreateContainerConfigError..."""

    reason: str
    message: str | None = None


@dataclass(frozen=True)
class PodRuntime:
    """What the local runtime knows about one Pod's (first) container."""

    start_time: datetime
    image_id: str
    host_ip: str = "127.0.0.1"
    pod_ip: str = "127.0.0.1"
    #: the newest run of the container, running or finished
    current: ContainerRun | None = None
    #: the run before ``current`` (the container's lastState), after a restart
    previous: ContainerRun | None = None
    restart_count: int = 0
    #: set while the container is not running: before the first start, on a config error, in back-off
    waiting: Waiting | None = None
    #: a pod-level failure the kubelet decided on (DeadlineExceeded); makes the Pod Failed
    pod_reason: str | None = None
    pod_message: str | None = None


def build_pod_status(pod: Mapping[str, Any], runtime: PodRuntime, now: datetime) -> JsonObject:
    """The ``status`` to write for ``pod`` (an API object as a dict) given the ``runtime`` observations.

    >>> status = build_pod_status(pod, PodRuntime(start_time=now, image_id="x"), now)  # doctest: +SKIP
    >>> status["phase"]  # doctest: +SKIP
    'Pending'
    """
    spec = pod.get("spec", {})
    container = spec["containers"][0]
    container_status = _container_status(container, runtime)
    phase = _phase(spec.get("restartPolicy", "Always"), container_status, runtime)
    previous_conditions = {c.get("type"): c for c in pod.get("status", {}).get("conditions") or []}
    ready = bool(container_status["ready"]) and phase == "Running"

    conditions = [
        _condition("PodReadyToStartContainers", phase not in ("Succeeded", "Failed")),
        _condition("Initialized", True),
        _ready_condition("Ready", ready, phase, container["name"]),
        _ready_condition("ContainersReady", ready, phase, container["name"]),
        _scheduled(previous_conditions.get("PodScheduled")),
    ]
    generation = pod.get("metadata", {}).get("generation")
    if generation is not None:
        # the kubelet's observedGeneration (PodObservedGenerationTracking, on by default since v1.34)
        conditions[:4] = [{**condition, "observedGeneration": generation} for condition in conditions[:4]]
    status: JsonObject = {
        "observedGeneration": generation,
        "phase": phase,
        "conditions": [_keep_transition_time(c, previous_conditions.get(c["type"]), now) for c in conditions],
        "hostIP": runtime.host_ip,
        "hostIPs": [{"ip": runtime.host_ip}],
        "podIP": runtime.pod_ip,
        "podIPs": [{"ip": runtime.pod_ip}],
        "startTime": format_time(runtime.start_time),
        "containerStatuses": [container_status],
    }
    if phase == "Failed" and runtime.pod_reason:
        status["reason"] = runtime.pod_reason
        status["message"] = runtime.pod_message
    else:
        # merge patch: null removes a reason/message an earlier status write may have set
        status["reason"] = None
        status["message"] = None
    return status


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with second precision, as metav1.Time serialises."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _container_status(container: Mapping[str, Any], runtime: PodRuntime) -> JsonObject:
    current = runtime.current
    last_state: JsonObject = {}
    if runtime.waiting is not None:
        state: JsonObject = {
            "waiting": _drop_none({"reason": runtime.waiting.reason, "message": runtime.waiting.message})
        }
        # a container waiting to restart shows the run that just ended as its last state
        if current is not None and current.finished:
            last_state = {"terminated": _terminated(current)}
    elif current is not None and current.finished:
        state = {"terminated": _terminated(current)}
    elif current is not None:
        state = {"running": {"startedAt": format_time(current.started_at)}}
    else:
        state = {"waiting": {"reason": "ContainerCreating"}}
    if not last_state and runtime.previous is not None and runtime.previous.finished:
        last_state = {"terminated": _terminated(runtime.previous)}
    running = "running" in state
    status: JsonObject = {
        "name": container["name"],
        "state": state,
        "lastState": last_state,
        # without a readiness probe a running container is ready (no probes are run locally)
        "ready": running,
        "started": running,
        "restartCount": runtime.restart_count,
        "image": container.get("image", ""),
        "imageID": runtime.image_id,
    }
    if current is not None:
        status["containerID"] = current.container_id
    return status


def _terminated(run: ContainerRun) -> JsonObject:
    assert run.exit_code is not None and run.finished_at is not None
    reason = run.reason or ("Completed" if run.exit_code == 0 else "Error")
    return _drop_none(
        {
            "exitCode": run.exit_code,
            "signal": run.signal,
            "reason": reason,
            "message": run.message or None,
            "startedAt": format_time(run.started_at),
            "finishedAt": format_time(run.finished_at),
            "containerID": run.container_id,
        }
    )


def _phase(restart_policy: str, container_status: Mapping[str, Any], runtime: PodRuntime) -> str:
    if runtime.pod_reason is not None:
        return "Failed"
    state = container_status["state"]
    if "running" in state:
        return "Running"
    if "terminated" in state:
        exit_code = state["terminated"]["exitCode"]
        if restart_policy == "Always":
            return "Running"
        if exit_code == 0:
            return "Succeeded"
        return "Failed" if restart_policy == "Never" else "Running"
    # waiting: after a run (restart back-off) the kubelet counts it as stopped, hence Running
    return "Running" if container_status["lastState"] else "Pending"


def _condition(kind: str, true: bool, reason: str | None = None, message: str | None = None) -> JsonObject:
    return _drop_none({"type": kind, "status": "True" if true else "False", "reason": reason, "message": message}) | {
        "lastProbeTime": None
    }


def _scheduled(previous: Mapping[str, Any] | None) -> JsonObject:
    """The binding's PodScheduled=True as written; the Pod runs here, so anything else is stale."""
    if previous is not None and previous.get("status") == "True":
        return dict(previous)
    return _condition("PodScheduled", True)


def _ready_condition(kind: str, ready: bool, phase: str, container_name: str) -> JsonObject:
    if ready:
        return _condition(kind, True)
    if phase == "Succeeded":
        return _condition(kind, False, "PodCompleted")
    if phase == "Failed":
        return _condition(kind, False, "PodFailed")
    return _condition(kind, False, "ContainersNotReady", f"containers with unready status: [{container_name}]")


def _keep_transition_time(condition: JsonObject, previous: Mapping[str, Any] | None, now: datetime) -> JsonObject:
    if previous is not None and previous.get("status") == condition["status"] and previous.get("lastTransitionTime"):
        return {**condition, "lastTransitionTime": previous["lastTransitionTime"]}
    return {**condition, "lastTransitionTime": format_time(now)}


def _drop_none(values: Mapping[str, Any]) -> JsonObject:
    return {key: value for key, value in values.items() if value is not None}
