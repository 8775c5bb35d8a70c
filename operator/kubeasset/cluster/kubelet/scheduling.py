"""The scheduler's part the local kubelet plays for its one node: does a Pod fit (nodeSelector), the
Binding that assigns it, and the PodScheduled=False condition a scheduler writes when it does not fit."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kubeasset.cluster.kubelet.kube_client import JsonObject
from kubeasset.cluster.kubelet.status import format_time

UNSCHEDULABLE_MESSAGE = "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector."


def fits(pod: Mapping[str, Any], node_labels: Mapping[str, str]) -> bool:
    """Whether the Pod's nodeSelector matches the node (the node has no taints; affinity is not checked)."""
    selector: Mapping[str, str] = pod.get("spec", {}).get("nodeSelector") or {}
    return all(node_labels.get(key) == value for key, value in selector.items())


def binding(pod: Mapping[str, Any], node_name: str) -> JsonObject:
    """The pods/binding body; the uid makes it fail for a newer Pod of the same name."""
    metadata = pod["metadata"]
    return {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": metadata["name"], "uid": metadata["uid"]},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node_name},
    }


def unschedulable_status(pod: Mapping[str, Any], now: datetime) -> JsonObject | None:
    """The status patch saying the Pod does not fit, or None when the Pod already says so."""
    conditions = pod.get("status", {}).get("conditions") or []
    for condition in conditions:
        if condition.get("type") == "PodScheduled" and condition.get("reason") == "Unschedulable":
            return None
    scheduled = {
        "type": "PodScheduled",
        "status": "False",
        "reason": "Unschedulable",
        "message": UNSCHEDULABLE_MESSAGE,
        "lastProbeTime": None,
        "lastTransitionTime": format_time(now),
    }
    others = [condition for condition in conditions if condition.get("type") != "PodScheduled"]
    # the resourceVersion makes the write fail (409) if the Pod changed meanwhile, e.g. another node bound it
    version = pod["metadata"].get("resourceVersion")
    return {"metadata": {"resourceVersion": version}, "status": {"conditions": [*others, scheduled]}}
