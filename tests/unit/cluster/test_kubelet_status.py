"""The local kubelet's Pod status follows the kubelet's rules: phase by restartPolicy, condition reasons,
container state/lastState, pod-level DeadlineExceeded, and transition times kept while nothing changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubeasset.cluster.kubelet.status import ContainerRun, PodRuntime, Waiting, build_pod_status

T0 = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
SCHEDULED = {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-24T11:59:59Z"}


def _pod(restart_policy: str = "Never", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u", "generation": 1},
        "spec": {"restartPolicy": restart_policy, "containers": [{"name": "main", "image": "img:1"}]},
        "status": {"conditions": [SCHEDULED], **status},
    }


def _run(exit_code: int | None = None, **fields: Any) -> ContainerRun:
    finished = T0 + timedelta(seconds=5) if exit_code is not None else None
    return ContainerRun("kubeasset-local://abc", T0 + timedelta(seconds=1), finished, exit_code, **fields)


def _runtime(**fields: Any) -> PodRuntime:
    return PodRuntime(start_time=T0, image_id="local://python", **fields)


def _conditions(status: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {c["type"]: (c["status"], c.get("reason")) for c in status["conditions"]}


def test_a_pod_not_started_yet_is_pending_with_container_creating() -> None:
    status = build_pod_status(_pod(), _runtime(waiting=Waiting("ContainerCreating")), T0)

    assert status["phase"] == "Pending"
    (container,) = status["containerStatuses"]
    assert container["state"] == {"waiting": {"reason": "ContainerCreating"}}
    assert "containerID" not in container
    assert _conditions(status)["Ready"] == ("False", "ContainersNotReady")
    assert status["conditions"][2]["message"] == "containers with unready status: [main]"
    assert status["startTime"] == "2026-11-24T12:00:00Z"


def test_a_running_container_makes_the_pod_running_and_ready() -> None:
    status = build_pod_status(_pod(), _runtime(current=_run()), T0)

    assert status["phase"] == "Running"
    container = status["containerStatuses"][0]
    assert container["state"] == {"running": {"startedAt": "2026-11-24T12:00:01Z"}}
    assert (container["ready"], container["started"], container["containerID"]) == (
        True,
        True,
        "kubeasset-local://abc",
    )
    assert _conditions(status) == {
        "PodReadyToStartContainers": ("True", None),
        "Initialized": ("True", None),
        "Ready": ("True", None),
        "ContainersReady": ("True", None),
        "PodScheduled": ("True", None),
    }
    assert status["hostIP"] == status["podIP"] == "127.0.0.1"
    assert status["observedGeneration"] == 1


@pytest.mark.parametrize(
    ("policy", "exit_code", "phase"),
    [
        ("Never", 0, "Succeeded"),
        ("Never", 3, "Failed"),
        ("OnFailure", 0, "Succeeded"),
        ("OnFailure", 3, "Running"),  # it will be restarted
        ("Always", 0, "Running"),
    ],
)
def test_phase_after_the_container_ends_depends_on_the_restart_policy(policy: str, exit_code: int, phase: str) -> None:
    status = build_pod_status(_pod(policy), _runtime(current=_run(exit_code)), T0)
    assert status["phase"] == phase


def test_terminated_state_carries_exit_code_reason_message_and_times() -> None:
    failed = build_pod_status(_pod(), _runtime(current=_run(3, message="3 assets failed")), T0)
    done = build_pod_status(_pod(), _runtime(current=_run(0)), T0)

    assert failed["containerStatuses"][0]["state"]["terminated"] == {
        "exitCode": 3,
        "reason": "Error",
        "message": "3 assets failed",
        "startedAt": "2026-11-24T12:00:01Z",
        "finishedAt": "2026-11-24T12:00:05Z",
        "containerID": "kubeasset-local://abc",
    }
    assert done["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    assert "message" not in done["containerStatuses"][0]["state"]["terminated"]
    assert _conditions(failed)["Ready"] == ("False", "PodFailed")
    assert _conditions(done)["Ready"] == ("False", "PodCompleted")
    assert _conditions(done)["PodReadyToStartContainers"] == ("False", None)
    assert done["reason"] is None and done["message"] is None  # merge patch: clears any earlier reason


def test_deadline_exceeded_fails_the_pod_with_the_kubelets_reason() -> None:
    runtime = _runtime(
        current=_run(143),
        pod_reason="DeadlineExceeded",
        pod_message="Pod was active on the node longer than the specified deadline",
    )
    status = build_pod_status(_pod("OnFailure"), runtime, T0)

    assert (status["phase"], status["reason"]) == ("Failed", "DeadlineExceeded")
    assert status["message"] == "Pod was active on the node longer than the specified deadline"


def test_a_container_waiting_to_restart_shows_its_last_run() -> None:
    runtime = _runtime(current=_run(1), restart_count=0, waiting=Waiting("CrashLoopBackOff", "back-off 10s"))
    status = build_pod_status(_pod("OnFailure"), runtime, T0)

    container = status["containerStatuses"][0]
    assert container["state"] == {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}}
    assert container["lastState"]["terminated"]["exitCode"] == 1
    assert status["phase"] == "Running"

    restarted = build_pod_status(_pod("OnFailure"), _runtime(current=_run(), previous=_run(1), restart_count=1), T0)
    assert restarted["containerStatuses"][0]["restartCount"] == 1
    assert restarted["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 1


def test_transition_times_change_only_with_the_condition_status() -> None:
    first = build_pod_status(_pod(), _runtime(current=_run()), T0)
    later = T0 + timedelta(minutes=1)
    same = build_pod_status(_pod(conditions=first["conditions"]), _runtime(current=_run()), later)
    ended = build_pod_status(_pod(conditions=first["conditions"]), _runtime(current=_run(0)), later)

    def times(status: dict[str, Any]) -> dict[str, str]:
        return {c["type"]: c["lastTransitionTime"] for c in status["conditions"]}

    assert times(same) == times(first)
    assert times(ended)["Ready"] == "2026-11-24T12:01:00Z"
    assert times(ended)["Initialized"] == times(first)["Initialized"]
    assert times(ended)["PodScheduled"] == "2026-11-24T11:59:59Z"  # the binding's, kept as written


def test_a_stale_unschedulable_condition_is_replaced_once_the_pod_runs_here() -> None:
    stale = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "lastTransitionTime": "x"}
    pod = _pod()
    pod["status"]["conditions"] = [stale]

    status = build_pod_status(pod, _runtime(current=_run()), T0)

    assert _conditions(status)["PodScheduled"] == ("True", None)
