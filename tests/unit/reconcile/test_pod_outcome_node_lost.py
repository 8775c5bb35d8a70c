"""classify_pod on a dead node: the Pod objects Kubernetes' node lifecycle and taint eviction controllers
leave behind when a node stops renewing its Lease (no kubelet is left to write a terminated state)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from kubeasset.reconcile.pod_outcome import NODE_LOST, PodOutcomeKind, classify_pod
from tests.unit.reconcile import run_pod_states as states

NOW = datetime(2025, 3, 2, 5, 1, tzinfo=UTC)
K = PodOutcomeKind
TAINT_MANAGER = {
    "type": "DisruptionTarget",
    "status": "True",
    "reason": "DeletionByTaintManager",
    "message": "Taint manager: deleting due to NoExecute taint",
    "lastProbeTime": None,
    "lastTransitionTime": "2025-03-02T05:00:50Z",
}


def marked_not_ready(pod: dict[str, Any]) -> dict[str, Any]:
    """What MarkPodsNotReady writes: the Ready condition copied with status False and nothing else changed
    (no reason), while the container still shows the state the dead kubelet last reported."""
    marked = copy.deepcopy(pod)
    for condition in marked["status"]["conditions"]:
        if condition["type"] == "Ready":
            condition["status"] = "False"
            condition["lastTransitionTime"] = "2025-03-02T05:00:40Z"
    return marked


def evicted(pod: dict[str, Any]) -> dict[str, Any]:
    """What the taint eviction controller then does: DisruptionTarget, and a graceful delete nobody confirms."""
    gone = copy.deepcopy(pod)
    gone["status"]["conditions"].append(dict(TAINT_MANAGER))
    gone["metadata"]["deletionTimestamp"] = "2025-03-02T05:01:20Z"
    gone["metadata"]["deletionGracePeriodSeconds"] = 30
    return gone


def classify(pod: dict[str, Any]) -> Any:
    return classify_pod(pod, now=NOW, start_timeout_seconds=600, container="run")


def test_a_pod_evicted_from_a_dead_node_is_lost_at_once_with_the_node_named() -> None:
    outcome = classify(evicted(marked_not_ready(states.pod(states.RUNNING))))
    assert (outcome.kind, outcome.reason, outcome.final) == (K.FAILED, NODE_LOST, True)
    assert "node node-2 stopped responding" in outcome.message
    assert "evicted" in outcome.message and "DeletionByTaintManager" in outcome.message
    assert not outcome.runner_completed  # its summary never came: the events seen so far are all there is


def test_a_running_pod_on_a_node_marked_not_ready_waits_for_the_node() -> None:
    outcome = classify(marked_not_ready(states.pod(states.RUNNING)))
    assert (outcome.kind, outcome.reason, outcome.final) == (K.UNKNOWN, "NodeNotReporting", False)
    assert "node-2, which stopped reporting" in outcome.message


def test_a_taint_eviction_on_a_live_node_waits_for_its_kubelet_to_stop_the_pod() -> None:
    # An administrator's NoExecute taint: the kubelet is alive (Ready still True) and will report the end.
    outcome = classify(evicted(states.pod(states.RUNNING)))
    assert (outcome.kind, outcome.final) == (K.TERMINATING, False)
    assert "DeletionByTaintManager" in outcome.message


def test_what_the_kubelet_reported_before_the_node_died_wins() -> None:
    # The container had ended (and was reported) before the node went: its own end is the story.
    outcome = classify(evicted(marked_not_ready(states.pod(states.SUCCEEDED))))
    assert (outcome.kind, outcome.final) == (K.SUCCEEDED, True)


def test_a_kubelets_own_not_ready_is_not_mistaken_for_a_dead_node() -> None:
    # ContainersNotReady (a kubelet's Ready=False always has a reason) on a Pod being deleted.
    not_ready = states.pod(states.node_status("Running", [states.container_status({"running": {}})], ready=False))
    outcome = classify(evicted(not_ready))
    assert outcome.kind == K.TERMINATING


def test_a_waiting_container_without_a_ready_reason_is_the_kubelets_report_not_a_dead_node() -> None:
    pulling = states.pod(states.ERR_IMAGE_PULL)
    for condition in pulling["status"]["conditions"]:
        condition.pop("reason", None)  # as a status written without reasons (e.g. by a test playing the kubelet)
    assert classify(pulling).reason == "ErrImagePull"
