"""The local kubelet schedules like a one-node scheduler: nodeSelector decides, and a Pod that does not
fit gets PodScheduled=False/Unschedulable once, guarded by its resourceVersion."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubeasset.cluster.kubelet.scheduling import UNSCHEDULABLE_MESSAGE, binding, fits, unschedulable_status

LABELS = {"kubernetes.io/hostname": "kubeasset-local", "kubernetes.io/os": "linux"}


def _pod(selector: dict[str, str] | None = None, conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": "p", "namespace": "ns", "uid": "u", "resourceVersion": "7"},
        "spec": {"nodeSelector": selector} if selector else {},
        "status": {"conditions": conditions or []},
    }


def test_node_selector_decides_whether_a_pod_fits() -> None:
    assert fits(_pod(), LABELS)
    assert fits(_pod({"kubernetes.io/os": "linux"}), LABELS)
    assert not fits(_pod({"kubernetes.io/hostname": "elsewhere"}), LABELS)
    assert not fits(_pod({"gpu": "true"}), LABELS)


def test_binding_targets_this_node_for_this_pod_only() -> None:
    body = binding(_pod(), "kubeasset-local")
    assert body["target"] == {"apiVersion": "v1", "kind": "Node", "name": "kubeasset-local"}
    assert body["metadata"] == {"name": "p", "uid": "u"}


def test_unschedulable_is_written_once_and_only_for_the_version_seen() -> None:
    patch = unschedulable_status(_pod({"gpu": "true"}), datetime(2026, 11, 24, tzinfo=UTC))
    assert patch is not None
    assert patch["metadata"] == {"resourceVersion": "7"}
    (condition,) = patch["status"]["conditions"]
    assert (condition["status"], condition["reason"], condition["message"]) == (
        "False",
        "Unschedulable",
        UNSCHEDULABLE_MESSAGE,
    )
    assert unschedulable_status(_pod({"gpu": "true"}, [condition]), datetime.now(UTC)) is None
